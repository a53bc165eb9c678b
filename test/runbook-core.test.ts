import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApproval, decide, waitForApprovalGate } from '../client/approvals';
import { startRunbook } from '../client/runbooks';
import { generateApproverKey, signApproval } from '../common/approval';
import type { ApprovalPolicyOverrides } from '../common/approval';
import { parseApprovalConfig } from '../common/approval-config';
import { RUNBOOK_INSTANCE, RUNBOOK_STATUS } from '../common/definitions';
import { approveUpdate, progressQuery } from '../common/runbook';
import { defineWorkflow, destructiveWorkflowId, planWorkflowId } from '../common/workflows';
import type { RunbookResult } from '../common/runbook';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import { requesterKeysOf } from '../test-support/approvers';
import type { approvalDrill, ApprovalDrillInput } from '../test-support/workflows/approval-drill';
import { createDrillActivities } from '../test-support/workflows/drill-activities';
import type { DrillSystem } from '../test-support/workflows/drill-activities';

const alice = generateApproverKey();
const carol = generateApproverKey();
const bob = generateApproverKey();
const mallory = generateApproverKey();

const approvals = parseApprovalConfig({
  approvers: [
    { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
    { user: 'carol', groups: ['sre'], publicKey: carol.publicKey },
    { user: 'bob', groups: ['developers'], publicKey: bob.publicKey },
  ],
  policies: { default: { timeoutMs: 120_000, remindBeforeTimeoutMs: [], approvers: { users: [], groups: ['sre'] } } },
});

const systems = new Map<string, DrillSystem>();
const aws = awsClients();
const workerOptions = { workflows: 'drills' as const, extraActivities: createDrillActivities(systems), overrides: { approvals }, requesterKeys: requesterKeysOf({ alice, carol, bob }) };

type DrillHandle = WorkflowHandle<typeof approvalDrill>;
type DrillResult = RunbookResult<{ inputs: Record<string, string> }>;

interface StartOptions {
  requester?: string;
  policy?: ApprovalPolicyOverrides;
  dryRun?: boolean;
}

async function startDrill(client: Client, taskQueue: string, options: StartOptions = {}) {
  const instance = uniqueInstance('drill');
  const handle: DrillHandle = await client.workflow.start<typeof approvalDrill>('approvalDrill', {
    taskQueue,
    workflowId: options.dryRun ? planWorkflowId('approval-drill', instance, instance) : destructiveWorkflowId(instance),
    args: [
      {
        instance,
        options: { requestedBy: { user: options.requester ?? 'bob', via: 'test' }, dryRun: options.dryRun, approvalPolicy: options.policy },
      },
    ],
  });
  return { instance, handle, system: () => systems.get(instance) };
}


/** The refusal message of a rejected Update (the validator's reason), or a failure if it was accepted. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => {
      throw new Error('the approval was accepted but should have been refused');
    },
    (e: unknown) => e,
  );
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join(' <- ');
}

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

describe('approval gate (real Temporal server)', () => {
  it('an approval signed by an allowed approver lets the destructive step run once, and the audit names the verified signer', async () => {
    const { result, system } = await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue);
      await waitForApprovalGate(handle);
      const progress = await decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve', comment: 'LGTM' });
      expect(progress.state).toBe('approved');
      return { result: await handle.result(), system: system() };
    }, workerOptions);

    expect(result.outcome).toBe('succeeded');
    expect(system?.changes).toHaveLength(1);
    expect(system?.calls).toEqual(['read', 'pause', 'read', 'change', 'resume']);
    expect(result.audit.approvals).toEqual([
      expect.objectContaining({ approver: 'alice', groups: ['sre'], decision: 'approve', comment: 'LGTM', signatureVerified: true }),
    ]);
    const { signedAt, signature, ...requestedBy } = result.audit.requestedBy;
    expect(requestedBy).toEqual({ user: 'bob', via: 'test' });
    expect(Date.parse(signedAt ?? '')).toBeLessThanOrEqual(Date.now());
    expect(signature).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    // The audit names the requester as verified against the keyring, by key.
    expect(result.audit.requester).toMatchObject({ user: 'bob', authenticated: true, publicKey: bob.publicKey });
    expect(result.audit.changes).toEqual([expect.objectContaining({ object: `drill/${result.audit.instance}`, action: 'replace', before: 'v1' })]);

    // The audit record outlives the workflow: it is in S3, equal to the result's.
    const location = new URL(result.auditLocation!);
    const stored = await aws.s3.send(new GetObjectCommand({ Bucket: location.host, Key: location.pathname.slice(1) }));
    expect(JSON.parse(await stored.Body!.transformToString())).toEqual(result.audit);
    expect(stored.ServerSideEncryption).toBe('AES256');
  });

  it('a signed rejection ends the run without the destructive step and restores the paused sync', async () => {
    const { result, system } = await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue);
      await waitForApprovalGate(handle);
      expect(system()?.syncPaused).toBe(true);
      await decide(handle, { approver: 'carol', privateKey: carol.privateKey, decision: 'reject', comment: 'not during the launch' });
      return { result: await handle.result(), system: system() };
    }, workerOptions);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe('rejected by carol: not during the launch');
    expect(system?.changes).toEqual([]);
    expect(system?.syncPaused).toBe(false);
  });

  it('a timeout rejects by default, and an approval arriving after it is refused', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue, { policy: { timeoutMs: 2_000 } });
      const digest = (await waitForApprovalGate(handle)).approval!.planDigest;
      const { runId } = await handle.describe();
      const result: DrillResult = await handle.result();
      expect(result.outcome).toBe('timed-out');
      expect(result.reason).toMatch(/no decision within 2s; the policy rejects on timeout/);
      expect(system()?.changes).toEqual([]);
      expect(system()?.syncPaused).toBe(false);

      const late = signApproval(buildApproval(handle.workflowId, runId, digest, { approver: 'alice', decision: 'approve' }), alice.privateKey);
      expect(await refusal(handle.executeUpdate(approveUpdate, { args: [late] }))).toMatch(/complet|not waiting|closed/i);
    }, workerOptions);
  });

  it('a quorum of two needs two distinct approvers; the same approver twice is refused', async () => {
    const result = await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue, { policy: { minApprovals: 2 } });
      await waitForApprovalGate(handle);
      const first = await decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' });
      expect(first.state).toBe('waiting');
      expect(await refusal(decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' }))).toMatch(
        /alice has already decided/,
      );
      expect(system()?.changes).toEqual([]);
      const second = await decide(handle, { approver: 'carol', privateKey: carol.privateKey, decision: 'approve' });
      expect(second.state).toBe('approved');
      return handle.result();
    }, workerOptions);
    expect(result.outcome).toBe('succeeded');
    expect(result.audit.approvals.map((a) => a.approver)).toEqual(['alice', 'carol']);
  });

  it('refuses self-approval, unknown keys, forged signatures, unsigned approvals, other plans and other runs', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue, { requester: 'alice' });
      const digest = (await waitForApprovalGate(handle)).approval!.planDigest;
      const { runId } = await handle.describe();
      const statement = (approver: string, overrides: { planDigest?: string; runId?: string; workflowId?: string } = {}) =>
        buildApproval(overrides.workflowId ?? handle.workflowId, overrides.runId ?? runId, overrides.planDigest ?? digest, {
          approver,
          decision: 'approve',
        });
      const send = (approval: ReturnType<typeof statement>) => handle.executeUpdate(approveUpdate, { args: [approval] });

      expect(await refusal(send(signApproval(statement('alice'), alice.privateKey)))).toMatch(/four-eyes policy: alice requested this run/);
      expect(await refusal(send(signApproval(statement('mallory'), mallory.privateKey)))).toMatch(/mallory has no key on the approvers keyring/);
      expect(await refusal(send(signApproval(statement('carol'), mallory.privateKey)))).toMatch(/signature does not verify against carol's key/);
      expect(await refusal(send(statement('carol')))).toMatch(/unsigned approvals are not accepted/);
      expect(await refusal(send(signApproval(statement('bob'), bob.privateKey)))).toMatch(/bob may not approve this run \(allowed: group sre\)/);
      expect(await refusal(send(signApproval(statement('carol', { planDigest: 'sha256:other' }), carol.privateKey)))).toMatch(
        /for plan sha256:other, but the plan awaiting approval is sha256:/,
      );
      expect(await refusal(send(signApproval(statement('carol', { runId: 'another-run' }), carol.privateKey)))).toMatch(
        /this approval is for run .*\/another-run/,
      );
      // A statement altered after signing (here: approve turned into a different comment) no longer verifies.
      const tampered = { ...signApproval(statement('carol'), carol.privateKey), comment: 'edited' };
      expect(await refusal(send(tampered))).toMatch(/signature does not verify/);

      const snapshot = await handle.query(progressQuery);
      expect(snapshot.status).toBe('AwaitingApproval');
      expect(snapshot.approval?.approvals).toEqual([]);
      expect(system()?.changes).toEqual([]);
      await handle.cancel();
      await handle.result();
    }, workerOptions);
  });

  it('approval inputs are validated, given to the destructive step and bound into the approved digest', async () => {
    const policy: ApprovalPolicyOverrides = {
      inputs: [{ name: 'revision', description: 'revision to roll back to', required: true, allowedValues: ['abc123', 'def456'] }],
    };
    const result = await withWorker(async ({ client, taskQueue }) => {
      const { handle } = await startDrill(client, taskQueue, { policy });
      await waitForApprovalGate(handle);
      const approve = (inputs: Record<string, string>) =>
        decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve', inputs });
      expect(await refusal(approve({}))).toMatch(/input revision is required/);
      expect(await refusal(approve({ revision: 'zzz999' }))).toMatch(/is not one of abc123, def456/);
      expect(await refusal(approve({ revision: 'abc123', extra: 'x' }))).toMatch(/unknown input extra/);
      const progress = await approve({ revision: 'def456' });
      expect(progress.approvedDigest).toMatch(/^sha256:/);
      expect(progress.approvedDigest).not.toBe(progress.planDigest);
      return handle.result();
    }, workerOptions);
    expect(result.details).toEqual({ inputs: { revision: 'def456' } });
    const system = systems.get(result.audit.instance);
    expect(system?.changes).toEqual([{ inputs: { revision: 'def456' } }]);
  });

  it('cancellation while waiting ends the run as cancelled, restores sync, and changes nothing', async () => {
    const { result, system } = await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue);
      await waitForApprovalGate(handle);
      await handle.cancel();
      return { result: await handle.result(), system: system() };
    }, workerOptions);
    expect(result.outcome).toBe('cancelled');
    expect(system?.changes).toEqual([]);
    expect(system?.calls).toEqual(['read', 'pause', 'resume']);
  });

  it('a plan that changed after approval stops the destructive step', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, instance } = await startDrill(client, taskQueue);
      await waitForApprovalGate(handle);
      systems.get(instance)!.state = 'v2-changed-by-someone-else';
      await decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' });
      await expect(handle.result()).rejects.toThrow();
      const failure = await handle.result().catch((err: unknown) => err);
      let messages = '';
      for (let e: unknown = failure; e instanceof Error; e = e.cause) messages += `${e.message}\n`;
      expect(messages).toMatch(/drill state changed after the plan was approved/);
      expect(systems.get(instance)?.changes).toEqual([]);
      expect(systems.get(instance)?.syncPaused).toBe(false);
    }, workerOptions);
  });

  it('a dry run returns the plan and its digest without pausing or changing anything', async () => {
    const { result, system } = await withWorker(async ({ client, taskQueue }) => {
      const { handle, system } = await startDrill(client, taskQueue, { dryRun: true });
      return { result: await handle.result(), system: system() };
    }, workerOptions);
    expect(result.outcome).toBe('planned');
    expect(result.plan).toEqual({ instance: result.audit.instance, change: 'replace v1' });
    expect(result.planDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(system?.calls).toEqual(['read']);
  });
});

describe('progress and visibility', () => {
  it('search attributes, current details and the progress query show a run waiting on a human', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, instance } = await startDrill(client, taskQueue);
      await waitForApprovalGate(handle);
      const description = await handle.describe();
      expect(description.typedSearchAttributes.get(RUNBOOK_STATUS)).toBe('AwaitingApproval');
      expect(description.typedSearchAttributes.get(RUNBOOK_INSTANCE)).toBe(instance);

      const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toMatch(/\*\*Approval drill\*\* of `.*`: \*\*AwaitingApproval\*\*/);
      expect(metadata.currentDetails).toMatch(/Step 3 of 4: Approval/);

      // Visibility is eventually consistent: poll the list query an operator would run.
      const query = `RunbookStatus = "AwaitingApproval" AND RunbookInstance = "${instance}"`;
      let found: string[] = [];
      for (let i = 0; i < 100 && found.length === 0; i++) {
        found = [];
        for await (const wf of client.workflow.list({ query })) found.push(wf.workflowId);
        if (found.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(found).toEqual([handle.workflowId]);

      const snapshot = await handle.query(progressQuery);
      expect(snapshot.steps.map((s) => [s.name, s.state])).toEqual([
        ['plan', 'done'],
        ['pause', 'done'],
        ['approve', 'running'],
        ['change', 'pending'],
      ]);
      await handle.cancel();
      await handle.result();
    }, workerOptions);
  });
});

describe('one destructive runbook per instance', () => {
  it('a second destructive start for the same instance is refused, naming the run that holds it', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const { handle, instance } = await startDrill(client, taskQueue);
      await waitForApprovalGate(handle);
      const drill = defineWorkflow<ApprovalDrillInput, DrillResult>()({ workflowType: 'approvalDrill', runbook: 'approval-drill', ids: 'destructive', summary: () => 'drill' });
      const second = startRunbook(client, drill, { instance, options: { requestedBy: { user: 'carol', via: 'test' } } }, { taskQueue });
      await expect(second).rejects.toThrow(
        new RegExp(`instance ${instance} is held by approval-drill run ${handle.workflowId} \\(run .*\\), AwaitingApproval`),
      );
      await expect(second).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
      await handle.cancel();
      await handle.result();
    }, workerOptions);
  });
});

describe('notifications', () => {
  it('posts approval requests, reminders and the outcome to a Slack-compatible webhook', async () => {
    const received: { event: string; text: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as { event: string; text: string });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const result = await withWorker(
        async ({ client, taskQueue }) => {
          const { handle } = await startDrill(client, taskQueue, { policy: { timeoutMs: 3_000, remindBeforeTimeoutMs: [1_500] } });
          return handle.result();
        },
        { ...workerOptions, overrides: { approvals, notifyWebhookUrl: url } },
      );
      expect(result.outcome).toBe('timed-out');
      expect(received.map((m) => m.event)).toEqual(['approval-requested', 'approval-reminder', 'ended']);
      expect(received[0]?.text).toMatch(/is waiting for approval of plan sha256:/);
      expect(received[2]?.text).toMatch(/ended: timed-out/);
    } finally {
      server.close();
    }
  });
});
