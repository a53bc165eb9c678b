/**
 * The rollback runbook on the real Temporal server, the real API server and the simulated Argo CD.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceBusyError, startRollback, startUnpin } from '../client/runbooks';
import { APPLICATION, ARGOCD_NAMESPACE, API_DEPLOYMENT } from '../common/platform';
import type { Application } from '../common/platform';
import type { RollbackDetails, RollbackInput, RollbackPlan } from '../common/rollback';
import { progressQuery } from '../common/runbook';
import type { RunbookResult } from '../common/runbook';
import { SIM } from '../platform-sim/argocd';
import { MERGE_PATCH } from '../activities/kubernetes/client';
import { SEEDED_REVISIONS } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, approversFileJson, awaitApprovalGate } from '../test-support/approvers';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

const aws = awsClients();
const { kube } = aws;
const [OLDEST, PREVIOUS, CURRENT] = SEEDED_REVISIONS;
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

async function deployedRevision(instance: string): Promise<string | undefined> {
  const d = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  return d.spec?.template.metadata?.annotations?.[SIM.revision];
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
    expect(await deployedRevision(instance)).toBe(PREVIOUS);
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
    expect(await deployedRevision(instance)).toBe(OLDEST);
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

    const after = await readApp(instance);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
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
    expect((await readApp(instance)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
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
      expect(after.metadata.resourceVersion).toBe(err.adopted.metadata.resourceVersion);
      expect(after.spec.source?.targetRevision).toBe('main');
    } finally {
      await kube.core.deleteNamespacedConfigMap({ namespace: ARGOCD_NAMESPACE, name: `parent-${instance}` });
    }
  });

  it('a target revision whose sync fails is reverted to the original revision, and the run fails with a report', async () => {
    const instance = uniqueInstance('rb-failing');
    await seedForTest(instance, { sizes: tiny, automatedSync: false, applicationAnnotations: { [SIM.failingRevisions]: PREVIOUS } });

    const err = await withWorker(
      async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))).catch((e: unknown) => e),
      workerOptions,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureMessages(err)).toMatch(new RegExp(`rollback of virtual-coffee-${instance} to ${PREVIOUS} failed \\(sync to ${PREVIOUS} failed: .*\\); reverted to main \\(${CURRENT}\\)`));
    const after = await readApp(instance);
    expect(after.spec.source?.targetRevision).toBe('main');
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: CURRENT });
    expect(after.metadata.annotations?.['vcp-runbooks.io/pinned-from']).toBeUndefined();
  });

  it('stale Synced/Healthy status does not end the wait: only a sync started after the patch does', async () => {
    const instance = uniqueInstance('rb-stale');
    // The sync starts 4 s after it is requested; until then the status still says Synced and Healthy.
    await seedForTest(instance, { sizes: tiny, automatedSync: false, applicationAnnotations: { [SIM.syncStartDelayMs]: '4000' } });
    const result = await withWorker(async ({ client, taskQueue }) => approvedRollback(await startRollback(client, taskQueue, input(instance, 'previous'))), workerOptions);
    expect(result.outcome).toBe('succeeded');
    expect(result.details!.timings.rolloutSeconds).toBeGreaterThanOrEqual(4);
    const after = await readApp(instance);
    expect(Date.parse(after.status!.operationState!.startedAt)).toBeGreaterThanOrEqual(Date.parse(result.details!.timings.patchedAt) + 3500);
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
    expect((await readApp(instance)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
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
    await seedForTest(instance, { sizes: tiny, automatedSync: false, applicationAnnotations: { [SIM.syncDurationMs]: '6000' } });
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
  });
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
    expect(await deployedRevision(instance)).toBe(CURRENT);
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
    expect((await readApp(instance)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});
