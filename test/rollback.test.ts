/**
 * The rollback and unpin runbooks on the real Temporal server, the real API server and the real
 * Argo CD application controller, against the platform repository's commits (platform-sim/platform-repo.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceBusyError, startRollback, startUnpin } from '../client/runbooks';
import { SYNC_CHANGE_INFO } from '../common/argocd';
import { APPLICATION, ARGOCD_NAMESPACE, API_DEPLOYMENT, MATCHING_CRONJOB, REFRESH_ANNOTATION } from '../common/platform';
import type { Application } from '../common/platform';
import type { RollbackDetails, RollbackInput, RollbackPlan } from '../common/rollback';
import { progressQuery } from '../common/runbook';
import type { RunbookResult } from '../common/runbook';
import { getOrUndefined, MERGE_PATCH } from '../activities/kubernetes/client';
import { platformRepo, VERSION_ANNOTATION } from '../platform-sim/platform-repo';
import { waitFor } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, approversFileJson, awaitApprovalGate } from '../test-support/approvers';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

const aws = awsClients();
const { kube } = aws;
const repo = platformRepo();
const [OLDEST, PREVIOUS, CURRENT] = repo.releases as [string, string, string];
const { fixtures } = repo;
const tiny = { users: 2, matches: 1, feedback: 1 };
const workerOptions = { overrides: { approvals } };

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, target: string, extra: Partial<RollbackInput> = {}): RollbackInput {
  return { instance, target, reason: 'bad deploy: 5xx on /api/v1/matches', options: { requestedBy: { user: 'bob', via: 'test' } }, rolloutTimeoutMs: 60_000, ...extra };
}

async function readApp(instance: string): Promise<Application> {
  return (await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` })) as Application;
}

/** The release the API pods run (a pod-template annotation of the manifests). */
async function deployedVersion(instance: string): Promise<string | undefined> {
  const d = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  return d.spec?.template.metadata?.annotations?.[VERSION_ANNOTATION];
}

/** What a runbook could change on the Application (the controller keeps writing its status). */
function runbookView(app: Application) {
  return { spec: app.spec, operation: app.operation, annotations: app.metadata.annotations, ownerReferences: app.metadata.ownerReferences };
}

async function patchApp(instance: string, body: object): Promise<void> {
  await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}`, body }, MERGE_PATCH);
}

/** The change ID the last operation carries: the runbook's own sync carries its run's. */
function operationChangeId(app: Application): string | undefined {
  return app.status?.operationState?.operation.info?.find((i) => i.name === SYNC_CHANGE_INFO)?.value;
}

function failureMessages(err: unknown): string {
  let out = '';
  for (let e: unknown = err; e instanceof Error; e = e.cause) out += `${e.name}: ${e.message}\n`;
  return out;
}

async function approvedRollback(handle: WorkflowHandle): Promise<RunbookResult<RollbackDetails>> {
  await awaitApprovalGate(handle);
  await approveAs(handle, 'alice', 'approve', 'roll it back');
  return (await handle.result()) as RunbookResult<RollbackDetails>;
}

describe('rollback runbook', () => {
  it('rolls back to "previous" with automated sync on: Synced and Healthy at the target, history grows, audit names the verified approver', async () => {
    const instance = uniqueInstance('rb-auto');
    await seedForTest(instance, { sizes: tiny });
    const before = await readApp(instance);

    const result = await withWorker(async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))), workerOptions);

    expect(result.outcome).toBe('succeeded');
    expect(result.details).toMatchObject({ to: PREVIOUS, from: { desiredRevision: 'main', syncedRevision: CURRENT }, final: { syncStatus: 'Synced', health: 'Healthy', syncedRevision: PREVIOUS } });
    const after = await readApp(instance);
    expect(after.spec.source?.targetRevision).toBe(PREVIOUS);
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: PREVIOUS });
    expect(after.status?.health?.status).toBe('Healthy');
    expect(after.status?.history).toHaveLength(before.status!.history!.length + 1);
    expect(after.metadata.annotations?.['vcp-runbooks.io/pinned-from']).toBe('main');
    expect(await deployedVersion(instance)).toBe('1.1.0');
    expect(result.audit.approvals).toEqual([expect.objectContaining({ approver: 'alice', signatureVerified: true })]);
    expect(result.audit.changes).toEqual([expect.objectContaining({ before: 'main', after: PREVIOUS })]);
  });

  it('rolls back to an explicit revision with automated sync off by requesting the sync itself', async () => {
    const instance = uniqueInstance('rb-manual');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });

    const result = await withWorker(
      async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, OLDEST.slice(0, 12)))),
      workerOptions,
    );

    expect(result.outcome).toBe('succeeded');
    const after = await readApp(instance);
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: OLDEST });
    expect(after.status?.operationState?.operation.initiatedBy).toMatchObject({ username: 'vcp-runbooks:bob' });
    expect(after.status?.history?.at(-1)?.revision).toBe(OLDEST);
    expect(await deployedVersion(instance)).toBe('1.0.0');
  });

  it('refuses an unknown revision and a bad instance name with a clear non-retryable error, patching nothing', async () => {
    const instance = uniqueInstance('rb-bad-input');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const before = await readApp(instance);

    await withWorker(async ({ client, taskQueue }) => {
      const unknown = await startRollback(client, taskQueue, input(instance, 'deadbeefdeadbeef'));
      const err: unknown = await unknown.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(failureMessages(err)).toMatch(/revision deadbeefdeadbeef is not in virtual-coffee-.*'s deployment history \(known: /);
      await expect(startRollback(client, taskQueue, input('Not_A_Name', 'previous'))).rejects.toThrow(/not a DNS-1123 label/);
    }, workerOptions);

    expect(runbookView(await readApp(instance))).toEqual(runbookView(before));
  });

  it('a rejected approval patches nothing', async () => {
    const instance = uniqueInstance('rb-reject');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const before = await readApp(instance);
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRollback(client, taskQueue, input(instance, 'previous'));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'carol', 'reject', 'fix forward instead');
      return (await handle.result());
    }, workerOptions);
    expect(result.outcome).toBe('rejected');
    expect(runbookView(await readApp(instance))).toEqual(runbookView(before));
  });

  it('an Application adopted by a parent after the approval is not patched: what was approved no longer holds', async () => {
    const instance = uniqueInstance('rb-adopted');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    // A parent in the Application's namespace (an ApplicationSet's place; the kind does not matter to the check).
    const parent = await kube.core.createNamespacedConfigMap({ namespace: ARGOCD_NAMESPACE, body: { metadata: { name: `parent-${instance}` } } });
    try {
      const err = await withWorker(async ({ client, taskQueue }) => {
        const handle = await startRollback(client, taskQueue, input(instance, 'previous'));
        await awaitApprovalGate(handle);
        await kube.custom.patchNamespacedCustomObject(
          {
            ...APPLICATION,
            namespace: ARGOCD_NAMESPACE,
            name: `virtual-coffee-${instance}`,
            body: { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: parent.metadata!.name!, uid: parent.metadata!.uid! }] } },
          },
          MERGE_PATCH,
        );
        const adopted = await readApp(instance);
        await approveAs(handle, 'alice', 'approve', 'roll it back');
        const failure: unknown = await handle.result().then(() => undefined, (e: unknown) => e);
        return { failure, adopted };
      }, workerOptions);
      expect(failureMessages(err.failure)).toMatch(/PlanNoLongerHolds|changed after the plan was approved/);
      const after = await readApp(instance);
      expect(runbookView(after)).toEqual(runbookView(err.adopted));
      expect(after.spec.source?.targetRevision).toBe('main');
    } finally {
      await kube.core.deleteNamespacedConfigMap({ namespace: ARGOCD_NAMESPACE, name: `parent-${instance}` });
    }
  });

  it('a target revision whose sync fails is reverted to the original revision at once, and the run fails with Argo CD\'s reason', async () => {
    const instance = uniqueInstance('rb-failing');
    // The API Deployment's selector differs in that commit: the API server refuses to apply it over the running one.
    await seedForTest(instance, { sizes: tiny, automatedSync: false, earlierRevisions: [OLDEST, fixtures.immutableSelector] });

    const err = await withWorker(
      async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))).catch((e: unknown) => e),
      workerOptions,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    // The revert's sync often starts in the second the failed one started: it is recognized by its change ID, not its startedAt.
    expect(failureMessages(err)).toMatch(
      new RegExp(`rollback of virtual-coffee-${instance} to ${fixtures.immutableSelector} failed \\(sync to ${fixtures.immutableSelector} failed: .*field is immutable.*\\); reverted to main \\(${CURRENT}\\)`),
    );
    const after = await readApp(instance);
    expect(after.spec.source?.targetRevision).toBe('main');
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: CURRENT });
    expect(after.status?.history?.at(-1)?.revision).toBe(CURRENT);
    expect(operationChangeId(after)).toMatch(/\/revert$/);
    expect(after.metadata.annotations?.['vcp-runbooks.io/pinned-from']).toBeUndefined();
    expect(await deployedVersion(instance)).toBe('1.2.0');
  });

  it('a revision with the same manifests as what runs is synced by the rollback itself (Argo CD starts no sync for it), not timed out', async () => {
    const instance = uniqueInstance('rb-same');
    await seedForTest(instance, { sizes: tiny, earlierRevisions: [OLDEST, fixtures.sameAsHead] });
    const before = await readApp(instance);
    const result = await withWorker(async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))), workerOptions);
    expect(result.outcome).toBe('succeeded');
    expect(result.details).toMatchObject({ to: fixtures.sameAsHead, final: { syncStatus: 'Synced', health: 'Healthy', syncedRevision: fixtures.sameAsHead } });
    const after = await readApp(instance);
    expect(after.status?.history).toHaveLength(before.status!.history!.length + 1);
    expect(after.status?.history?.at(-1)?.revision).toBe(fixtures.sameAsHead);
    expect(operationChangeId(after)).toMatch(/\/rollback$/);
    expect(after.status?.operationState?.operation.initiatedBy).toMatchObject({ username: 'vcp-runbooks:bob' });
  });

  it('a revision with fewer resources: without automated prune the sync leaves the extra resource, reported, instead of timing out', async () => {
    const instance = uniqueInstance('rb-fewer');
    await seedForTest(instance, { sizes: tiny, automatedSync: false, earlierRevisions: [OLDEST, fixtures.withoutCronJob] });
    const result = await withWorker(async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))), workerOptions);
    expect(result.outcome).toBe('succeeded');
    expect(result.details?.final).toEqual({ syncStatus: 'OutOfSync', health: 'Healthy', syncedRevision: fixtures.withoutCronJob, leftToPrune: [`CronJob ${MATCHING_CRONJOB}`] });
    expect(await getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }))).toBeDefined();
  });

  it('a revision with fewer resources: with automated prune the rollback\'s sync prunes, as the sync policy says', async () => {
    const instance = uniqueInstance('rb-prune');
    await seedForTest(instance, { sizes: tiny, earlierRevisions: [OLDEST, fixtures.withoutCronJob] });
    const result = await withWorker(async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))), workerOptions);
    expect(result.outcome).toBe('succeeded');
    expect(result.details?.final).toEqual({ syncStatus: 'Synced', health: 'Healthy', syncedRevision: fixtures.withoutCronJob });
    expect((await readApp(instance)).status?.operationState?.operation.sync?.prune).toBe(true);
    await waitFor('the CronJob pruned', async () => (await getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }))) === undefined);
  });

  it('a ComparisonError (manifests that do not generate) ends the wait with Argo CD\'s reason, and the run reverts', async () => {
    const instance = uniqueInstance('rb-comparison');
    await seedForTest(instance, { sizes: tiny, earlierRevisions: [OLDEST, fixtures.unparsable] });
    const err = await withWorker(
      async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))).catch((e: unknown) => e),
      workerOptions,
    );
    expect(failureMessages(err)).toMatch(new RegExp(`rollback of virtual-coffee-${instance} to ${fixtures.unparsable} failed \\(sync to ${fixtures.unparsable} errored: .*ComparisonError.*\\); reverted to main`));
    expect(failureMessages(err)).not.toMatch(/did not finish within/);
    const after = await readApp(instance);
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: CURRENT });
  });

  it('pods that never become ready end the wait as Degraded once the Deployment exceeds its progress deadline, and the run reverts', async () => {
    const instance = uniqueInstance('rb-degraded');
    await seedForTest(instance, { sizes: tiny, automatedSync: false, earlierRevisions: [OLDEST, fixtures.neverReady] });
    const err = await withWorker(
      async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))).catch((e: unknown) => e),
      workerOptions,
    );
    expect(failureMessages(err)).toMatch(
      new RegExp(`rollback of virtual-coffee-${instance} to ${fixtures.neverReady} failed \\(virtual-coffee-${instance} is \\w+ at ${fixtures.neverReady}: Deployment ${API_DEPLOYMENT}: ProgressDeadlineExceeded \\(ReplicaSet .* has timed out progressing\\.\\)\\); reverted to main`),
    );
    expect((await readApp(instance)).status?.health?.status).toBe('Healthy');
    expect(await deployedVersion(instance)).toBe('1.2.0');
  });

  it('an operation in progress (a failing sync that retries) is waited out, not overwritten: the rollback\'s own sync runs after it', async () => {
    const instance = uniqueInstance('rb-busy');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    // Someone syncs a revision that cannot apply, with retries: the operation stays Running for about 10 s.
    await patchApp(instance, {
      operation: { sync: { revision: fixtures.immutableSelector }, initiatedBy: { username: 'someone-else' }, retry: { limit: 2, backoff: { duration: '5s', factor: 1 } } },
    });
    // Argo CD's first attempt waits for the repo server's manifests, slow when the cores are saturated.
    await waitFor('the other sync to retry', async () => ((await readApp(instance)).status?.operationState?.retryCount ?? 0) >= 1, 90_000);
    const result = await withWorker(async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))), workerOptions);
    expect(result.outcome).toBe('succeeded');
    const after = await readApp(instance);
    expect(operationChangeId(after)).toMatch(/\/rollback$/);
    expect(after.status?.history?.at(-1)?.revision).toBe(PREVIOUS);
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: PREVIOUS });
  }, 240_000);

  it('"previous" is planned from what ran (the history), not from status.sync.revision, which follows a branch head that never synced', async () => {
    const instance = uniqueInstance('rb-current');
    const branch = `test/${instance}`;
    const git = (...args: string[]) => execFileSync('git', ['--git-dir', repo.gitDir, ...args]);
    git('update-ref', `refs/heads/${branch}`, CURRENT);
    try {
      await seedForTest(instance, { sizes: tiny, automatedSync: false, branch });
      // A commit is pushed to the branch; with automated sync off it is not deployed.
      git('update-ref', `refs/heads/${branch}`, fixtures.withoutCronJob);
      await patchApp(instance, { metadata: { annotations: { [REFRESH_ANNOTATION]: 'normal' } } });
      await waitFor('Argo CD to resolve the new head', async () => (await readApp(instance)).status?.sync?.revision === fixtures.withoutCronJob);

      const result = await withWorker(async ({ client, taskQueue }) => {
        const handle = await startRollback(client, taskQueue, input(instance, 'previous', { options: { requestedBy: { user: 'bob', via: 'test' }, dryRun: true } }));
        return (await handle.result());
      }, workerOptions);
      const plan = result.plan as RollbackPlan;
      expect(plan.from).toEqual({ desiredRevision: branch, syncedRevision: CURRENT });
      expect(plan.to.revision).toBe(PREVIOUS);
    } finally {
      git('update-ref', '-d', `refs/heads/${branch}`);
    }
  });

  it('a dry run returns the plan and changes nothing', async () => {
    const instance = uniqueInstance('rb-dry');
    await seedForTest(instance, { sizes: tiny });
    const before = await readApp(instance);
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRollback(client, taskQueue, input(instance, 'previous', { options: { requestedBy: { user: 'bob', via: 'test' }, dryRun: true } }));
      return (await handle.result());
    }, workerOptions);
    expect(result.outcome).toBe('planned');
    const plan = result.plan as RollbackPlan;
    expect(plan.to.revision).toBe(PREVIOUS);
    expect(plan.from).toEqual({ desiredRevision: 'main', syncedRevision: CURRENT });
    expect(plan.pinning).toMatch(/stops following main/);
    expect(runbookView(await readApp(instance))).toEqual(runbookView(before));
  });

  it('a second destructive runbook for the same instance is refused with the running ID', async () => {
    const instance = uniqueInstance('rb-lock');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await withWorker(async ({ client, taskQueue }) => {
      const first = await startRollback(client, taskQueue, input(instance, 'previous'));
      await awaitApprovalGate(first);
      const second = startRollback(client, taskQueue, input(instance, OLDEST));
      await expect(second).rejects.toBeInstanceOf(InstanceBusyError);
      await expect(second).rejects.toThrow(new RegExp(`instance ${instance} is held by rollback run destructive/${instance}`));
      await first.cancel();
      await first.result();
    }, workerOptions);
  });
});

describe('rollback survives its worker', () => {
  let worker: ChildProcess | undefined;
  const taskQueue = `rollback-crash-${Date.now()}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'vcp-approvers-'));
  const approversFile = path.join(dir, 'approvers.json');
  writeFileSync(approversFile, JSON.stringify(approversFileJson));

  function startWorkerProcess(): ChildProcess {
    // `node --import tsx`, not the tsx CLI: the CLI runs the worker in a child that SIGKILL would miss.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'worker', 'main.ts')], {
      env: { ...process.env, VCP_TASK_QUEUE: taskQueue, VCP_APPROVERS_FILE: approversFile, VCP_METRICS_ADDRESS: '' },
      stdio: 'ignore',
    });
    return child;
  }
  afterAll(() => {
    worker?.kill('SIGKILL');
  });

  it('a worker killed (SIGKILL) during the wait is replaced and the run completes correctly', async () => {
    const instance = uniqueInstance('rb-crash');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const { client, close } = await temporalClient();
    try {
      worker = startWorkerProcess();
      const handle = await startRollback(client, taskQueue, input(instance, 'previous'));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'alice');
      for (let i = 0; i < 200; i++) {
        const snapshot = await handle.query(progressQuery);
        if (snapshot.steps.find((s) => s.name === 'wait')?.state === 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      worker.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      worker = startWorkerProcess();
      const result = (await handle.result());
      expect(result.outcome).toBe('succeeded');
      expect(result.details?.final).toEqual({ syncStatus: 'Synced', health: 'Healthy', syncedRevision: PREVIOUS });
      expect((await readApp(instance)).status?.history?.filter((h) => h.revision === PREVIOUS)).toHaveLength(2);
    } finally {
      await close();
    }
    // Two worker processes start here, each compiling and bundling the workflows: minutes on a busy machine.
  }, 240_000);
});

describe('unpin runbook', () => {
  it('returns a pinned Application to its branch and syncs the branch head', async () => {
    const instance = uniqueInstance('rb-unpin');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await withWorker(async ({ client, taskQueue }) => {
      const rolledBack = await approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous')));
      expect(rolledBack.outcome).toBe('succeeded');

      const handle = await startUnpin(client, taskQueue, { instance, reason: 'fix is out', options: { requestedBy: { user: 'bob', via: 'test' } }, rolloutTimeoutMs: 60_000 });
      await awaitApprovalGate(handle);
      await approveAs(handle, 'carol');
      const result = (await handle.result()) as RunbookResult<{ from: string; to: string; syncedRevision: string }>;
      expect(result.outcome).toBe('succeeded');
      expect(result.details).toMatchObject({ from: PREVIOUS, to: 'main', syncedRevision: CURRENT });
    }, workerOptions);
    const after = await readApp(instance);
    expect(after.spec.source?.targetRevision).toBe('main');
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: CURRENT });
    expect(after.metadata.annotations?.['vcp-runbooks.io/pinned-from']).toBeUndefined();
    expect(await deployedVersion(instance)).toBe('1.2.0');
  });

  it('refuses to unpin an Application that follows a branch, changing nothing', async () => {
    const instance = uniqueInstance('rb-unpin-no');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const before = await readApp(instance);
    const err: unknown = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startUnpin(client, taskQueue, { instance, branch: 'main', reason: 'nothing to do', options: { requestedBy: { user: 'bob', via: 'test' } } });
      return (handle.result() as Promise<unknown>).catch((e: unknown) => e);
    }, workerOptions);
    expect(failureMessages(err)).toMatch(/is not pinned: it follows main/);
    expect(runbookView(await readApp(instance))).toEqual(runbookView(before));
  });
});
