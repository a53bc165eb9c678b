/**
 * The approval gate cannot be loosened or bypassed (issue 13), on the real Temporal server and, for
 * the Argo CD patch, the real API server: overrides that loosen are refused at the start, the
 * requester is authenticated, a key taken off the keyring stops counting, statements cannot be
 * long-lived, and a destructive activity scheduled without a valid approval refuses to act.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApproval, decide, waitForApprovalGate } from '../client/approvals';
import { createArgoCdActivities } from '../activities/kubernetes/argocd';
import { generateApproverKey, signApproval } from '../common/approval';
import type { ApprovalPolicyOverrides } from '../common/approval';
import { parseApprovalConfig } from '../common/approval-config';
import { planDigest } from '../common/canonical';
import { argoApplicationName } from '../common/instance';
import { API_DEPLOYMENT, DYNAMODB_CLAIM } from '../common/platform';
import type { DynamoDbClaim } from '../common/platform';
import { instanceItems } from '../test-support/dynamodb';
import { approveUpdate, progressQuery } from '../common/runbook';
import { destructiveWorkflowId } from '../common/workflows';
import type { ApprovalConfig, ApprovalEvidence, RunbookResult } from '../common/runbook';
import { seededRevisions } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import type { RequesterKeys } from '../client/signing';
import { requesterKeysOf } from '../test-support/approvers';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import type { approvalDrill } from '../test-support/workflows/approval-drill';
import { createDrillActivities } from '../test-support/workflows/drill-activities';
import type { DrillSystem } from '../test-support/workflows/drill-activities';
import { rogueAttemptsSignal } from '../test-support/workflows/rogue';
import type { RogueAttempt } from '../test-support/workflows/rogue';

const alice = generateApproverKey();
const carol = generateApproverKey();
const bob = generateApproverKey();
const mallory = generateApproverKey();
const identities = { alice, carol, bob, mallory };

const approversFile = {
  approvers: [
    { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
    { user: 'carol', groups: ['sre'], publicKey: carol.publicKey },
    { user: 'bob', groups: ['developers'], publicKey: bob.publicKey },
  ],
  policies: { default: { timeoutMs: 120_000, remindBeforeTimeoutMs: [], approvers: { users: [], groups: ['sre'] } } },
};

const aws = awsClients();
const systems = new Map<string, DrillSystem>();
beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

/** Worker options whose keyring a test can change while runs wait, as an edited approvers file would. */
function drillWorker(keyring: { current: ApprovalConfig } = { current: parseApprovalConfig(approversFile) }, requesterKeys: RequesterKeys = requesterKeysOf(identities)) {
  return {
    workflows: 'drills' as const,
    extraActivities: createDrillActivities(systems),
    overrides: { approvals: () => keyring.current },
    requesterKeys,
  };
}

async function startDrill(client: Client, taskQueue: string, requester = 'bob', policy?: ApprovalPolicyOverrides) {
  const instance = uniqueInstance('trust');
  const handle: WorkflowHandle<typeof approvalDrill> = await client.workflow.start<typeof approvalDrill>('approvalDrill', {
    taskQueue,
    workflowId: destructiveWorkflowId(instance),
    args: [{ instance, options: { requestedBy: { user: requester, via: 'test' }, approvalPolicy: policy } }],
  });
  return { instance, handle, system: () => systems.get(instance) };
}

async function failureOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join(' <- ');
}

describe('start-time overrides only tighten', () => {
  it('refuses loosening overrides at the start, with the reason, before the run reads or changes anything', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      for (const [policy, reason] of [
        [{ onTimeout: 'approve', timeoutMs: 1 }, /onTimeout cannot become "approve".*timeoutMs must be an integer from 1000/],
        [{ approvers: { users: ['mallory'] } }, /mallory is not allowed to approve by the configured policy/],
        [{ minApprovals: 0 }, /minApprovals must be an integer from the configured 1/],
        [{ fourEyes: false, allowUnsigned: true }, /fourEyes cannot be turned off.*allowUnsigned cannot be turned on/],
      ] as [ApprovalPolicyOverrides, RegExp][]) {
        const { handle, system } = await startDrill(client, taskQueue, 'bob', policy);
        const failure = await failureOf(handle.result());
        expect(failure).toMatch(reason);
        // Nothing was read, paused or changed: the refusal came first.
        expect(system()).toBeUndefined();
      }
    }, drillWorker());
  });
});

describe('the requester is authenticated', () => {
  it('refuses a start by a name with no key (--as ghost) and a name signed with someone else\'s key', async () => {
    // bob's key signs whatever name the start request carries, as a forger's client would.
    const forger = { get: () => bob.privateKey };
    await withWorker(async ({ client, taskQueue }) => {
      const ghost = await startDrill(client, taskQueue, 'ghost');
      expect(await failureOf(ghost.handle.result())).toMatch(/ghost has no key on the keyring/);
      const posing = await startDrill(client, taskQueue, 'alice');
      expect(await failureOf(posing.handle.result())).toMatch(/does not verify against alice's key/);
      expect(ghost.system()).toBeUndefined();
      expect(posing.system()).toBeUndefined();
    }, drillWorker(undefined, forger));
  });

  it('compares keys for four-eyes: the requester\'s key cannot approve under another name', async () => {
    // carol's key is listed as "carol" when the run starts; then the file renames it "carol-admin".
    const keyring = { current: parseApprovalConfig(approversFile) };
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue, 'carol');
      await waitForApprovalGate(handle);
      keyring.current = parseApprovalConfig({
        ...approversFile,
        approvers: [...approversFile.approvers.filter((a) => a.user !== 'carol'), { user: 'carol-admin', groups: ['sre'], publicKey: carol.publicKey }],
      });
      const refused = await failureOf(decide(handle, { approver: 'carol-admin', privateKey: carol.privateKey, decision: 'approve' }));
      expect(refused).toMatch(/four-eyes policy: carol-admin requested this run \(as carol, with the same key\)/);
      expect(system()?.changes).toEqual([]);
      await handle.cancel();
    }, drillWorker(keyring));
  });
});

describe('the keyring is read again while runs wait', () => {
  it('an approval whose key was removed stops counting, and a removed approver is refused', async () => {
    const keyring = { current: parseApprovalConfig(approversFile) };
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue, 'bob', { minApprovals: 2 });
      await waitForApprovalGate(handle);
      expect((await decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' })).state).toBe('waiting');
      // alice leaves the team: her key is taken off the keyring while the run waits.
      keyring.current = parseApprovalConfig({ ...approversFile, approvers: approversFile.approvers.filter((a) => a.user !== 'alice') });
      const afterCarol = await decide(handle, { approver: 'carol', privateKey: carol.privateKey, decision: 'approve' });
      expect(afterCarol.state).toBe('waiting');
      expect(afterCarol.approvals).toEqual([
        expect.objectContaining({ approver: 'alice', withdrawn: 'the key was removed from the keyring or replaced' }),
        expect.objectContaining({ approver: 'carol' }),
      ]);
      expect(afterCarol.approvals[1]?.withdrawn).toBeUndefined();
      // carol is removed too: her signature no longer counts for anything.
      keyring.current = parseApprovalConfig({ ...approversFile, approvers: approversFile.approvers.filter((a) => a.user === 'bob') });
      expect(await failureOf(decide(handle, { approver: 'carol', privateKey: carol.privateKey, decision: 'approve' }))).toMatch(/carol/);
      const snapshot = await handle.query(progressQuery);
      expect(snapshot.status).toBe('AwaitingApproval');
      expect(system()?.changes).toEqual([]);
      await handle.cancel();
      const result = (await handle.result()) as RunbookResult<unknown>;
      expect(result.outcome).toBe('cancelled');
      expect(system()?.changes).toEqual([]);
    }, drillWorker(keyring));
  });

  it('refuses a statement that stays valid for longer than an hour', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const { handle } = await startDrill(client, taskQueue);
      const digest = (await waitForApprovalGate(handle)).approval!.planDigest;
      const { runId } = await handle.describe();
      const standing = signApproval(buildApproval(handle.workflowId, runId, digest, { approver: 'alice', decision: 'approve', validForMs: 24 * 60 * 60 * 1000 }), alice.privateKey);
      expect(await failureOf(handle.executeUpdate(approveUpdate, { args: [standing] }))).toMatch(/too far ahead: a statement may be valid for at most 60 minutes/);
      await handle.cancel();
    }, drillWorker());
  });
});

describe('destructive activities check the approval themselves', () => {
  const [, PREVIOUS, CURRENT] = seededRevisions();

  /** Starts the hostile `rollback` (requested by alice), hands it the attempts, returns what each did. */
  async function rogueRun(client: Client, taskQueue: string, instance: string, attemptsFor: (runId: string) => RogueAttempt[], workflowType = 'rollback') {
    const handle = await client.workflow.start(workflowType, {
      taskQueue,
      workflowId: destructiveWorkflowId(instance),
      args: [{ instance, options: { requestedBy: { user: 'alice', via: 'test' } } }],
    });
    const { runId } = await handle.describe();
    await handle.signal(rogueAttemptsSignal, attemptsFor(runId));
    return (await handle.result()) as { label: string; outcome: string }[];
  }

  it('refuses the Argo CD patch without an approval, with a forged, self-made, other-run or other-plan approval; accepts exactly the approved change', async () => {
    const instance = uniqueInstance('rogue');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 } });
    const argocd = createArgoCdActivities({ kube: aws.kube });
    const before = await argocd.inspectApplication(instance);
    const application = argoApplicationName(instance);
    const plan = { application, from: { desiredRevision: before.desiredRevision, syncedRevision: CURRENT }, to: { revision: PREVIOUS } };
    const change = (label: string, toRevision: string, approval?: ApprovalEvidence): RogueAttempt => ({
      label,
      activity: 'setDesiredRevision',
      input: { instance, changeId: `rogue-${label}`, expectedDesiredRevision: before.desiredRevision, toRevision, requestSyncOf: toRevision, prune: false, initiatedBy: 'rogue', reason: 'rogue', approval },
    });
    const approval = (runId: string, who: keyof typeof identities, key: Uint8Array, approvedPlan: unknown = plan, forRun = runId): ApprovalEvidence => ({
      runbook: 'rollback',
      plan: approvedPlan,
      approvals: [signApproval(buildApproval(destructiveWorkflowId(instance), forRun, planDigest(approvedPlan), { approver: who, decision: 'approve' }), key)],
    });

    await withWorker(async ({ client, taskQueue }) => {
      const refused = await rogueRun(client, taskQueue, instance, (runId) => [
        change('none', PREVIOUS),
        change('forged', PREVIOUS, approval(runId, 'carol', mallory.privateKey)),
        change('self-approved', PREVIOUS, approval(runId, 'alice', alice.privateKey)),
        change('requester-only', PREVIOUS, approval(runId, 'bob', bob.privateKey)),
        change('other-run', PREVIOUS, approval(runId, 'carol', carol.privateKey, plan, 'another-run')),
        change('other-plan', seededRevisions()[0], approval(runId, 'carol', carol.privateKey)),
        change('plan-edited', seededRevisions()[0], { ...approval(runId, 'carol', carol.privateKey), plan: { ...plan, to: { revision: seededRevisions()[0] } } }),
      ]);
      const expected: Record<string, RegExp> = {
        none: /needs the approval it acts on; none was given/,
        forged: /carol's signature does not verify against the current keyring/,
        'self-approved': /alice requested this run \(four-eyes\)/,
        'requester-only': /bob may not approve rollback/,
        'other-run': /carol's approval is for another run/,
        'other-plan': /the approved plan moves between .* not to/,
        'plan-edited': /carol's approval is for plan sha256:.*, not the plan given/,
      };
      expect(refused.map((r) => r.label)).toEqual(Object.keys(expected));
      for (const { label, outcome } of refused) expect(outcome, label).toMatch(expected[label]!);
      const untouched = await argocd.inspectApplication(instance);
      expect(untouched.desiredRevision).toBe(before.desiredRevision);

      // The same activity with a real approval of this run's plan does act: the guard refuses only what was not approved.
      const accepted = await rogueRun(client, taskQueue, instance, (runId) => [change('approved', PREVIOUS, approval(runId, 'carol', carol.privateKey))]);
      expect(accepted).toEqual([{ label: 'approved', outcome: 'changed' }]);
      expect((await argocd.inspectApplication(instance)).desiredRevision).toBe(PREVIOUS);
    }, { workflows: 'rogue', overrides: { approvals: parseApprovalConfig(approversFile) }, requesterKeys: requesterKeysOf(identities) });
  });

  it('refuses to delete the claim, delete a table, write items, stop the writers or pause sync for a recovery without its approval', async () => {
    const instance = uniqueInstance('rogue-ddb');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 } });
    const claim = (await aws.kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
    const before = await instanceItems(aws.dynamodb, instance);
    const backup = { bucket: config.aws.backupBucket, prefix: 'x', manifestKey: 'x/manifest.json', manifestSha256: '0'.repeat(64) };
    await withWorker(async ({ client, taskQueue }) => {
      const results = await rogueRun(
        client,
        taskQueue,
        instance,
        () => [
          { label: 'deleteDynamoDbClaim', activity: 'deleteDynamoDbClaim', input: { instance, uid: claim.metadata.uid, backup } },
          { label: 'deleteOrphanedTable', activity: 'deleteOrphanedTable', input: { tableName: `users-${instance}`, backup } },
          { label: 'importBackupSegment', activity: 'importBackupSegment', input: { location: backup, tableName: `users-${instance}`, targetTable: `users-${instance}`, segment: 0 } },
          { label: 'quiesceWriters', activity: 'quiesceWriters', input: { instance, changedBy: 'rogue' } },
          { label: 'pauseAutomatedSync', activity: 'pauseAutomatedSync', input: { instance, changedBy: 'rogue' } },
        ],
        'dynamodbRecovery',
      );
      for (const { label, outcome } of results) expect(outcome, label).toMatch(/needs the approval it acts on; none was given/);
    }, { workflows: 'rogue', overrides: { approvals: parseApprovalConfig(approversFile) }, requesterKeys: requesterKeysOf(identities) });
    // Nothing changed: the claim is the same one, every table holds every item, the writers run.
    const after = (await aws.kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
    expect(after.metadata.uid).toBe(claim.metadata.uid);
    expect(after.metadata.deletionTimestamp).toBeUndefined();
    const items = await instanceItems(aws.dynamodb, instance);
    for (const [table, beforeItems] of Object.entries(before)) {
      const afterItems = items[table]!;
      expect(afterItems.size, table).toBe(beforeItems.size);
      for (const [key, item] of beforeItems) expect(afterItems.get(key), `${table} ${key}`).toEqual(item);
    }
    const api = await aws.kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
    expect(api.spec?.replicas).toBeGreaterThan(0);
  });
});
