/**
 * Runbooks in flight while the servers they depend on restart: the Temporal dev server (same SQLite
 * file), kube-apiserver (its state in kine), the Argo CD application controller, dynalite (its state on disk), and S3 (moto) unreachable
 * for a while behind a loopback proxy. Each run completes or stops with a clear, resumable reason;
 * nothing is lost (every table item by item); no step that would harm twice runs twice.
 *
 * Only the runbooks' observable behaviour is checked (results, audit, the Application, the claim,
 * the tables), so these tests hold whatever runs Argo CD and Crossplane.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRollback } from '../client/runbooks';
import type { RollbackDetails, RollbackInput } from '../common/rollback';
import type { RunbookResult } from '../common/runbook';
import type { DynamoDbRecoveryDetails } from '../common/dynamodb-backup';
import type { WorkflowHandle } from '@temporalio/client';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { instanceItems } from '../test-support/dynamodb';
import { readApp } from '../test-support/recovery';
import { expectSameItems, prepareRecovery, requiredEnv, s3ClientVia } from '../test-support/recovery-run';
import { startTcpFaultProxy } from '../test-support/tcp-fault-proxy';
import type { RecoveryRun } from '../test-support/recovery-run';
import { progressOf, retryingAfter, resultThroughRestarts, until } from '../test-support/runs';
import { seedForTest } from '../test-support/seed';
import { restartServer, serverRestartsAllowed, startServer, stopServer } from '../test-support/stack-servers';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { kube, dynamodb } = aws;
const tiny = { users: 5, matches: 3, feedback: 2 };
const workerOptions = { overrides: { approvals } };
/** What a client sees while a server is down. */
const UNREACHABLE = /ECONNREFUSED|ECONNRESET|socket hang up|EPIPE|connect|503|502/i;

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

function rollbackInput(instance: string): RollbackInput {
  return { instance, target: 'previous', reason: 'bad deploy', options: { requestedBy: { user: 'bob', via: 'test' } }, rolloutTimeoutMs: 180_000 };
}

describe.skipIf(!serverRestartsAllowed)('runbooks survive restarts of the servers they depend on', () => {
  it('rollback: the Temporal server down from the patch until the sync is over; the run completes, the Application patched once', async () => {
    const instance = uniqueInstance('flt-rb-temporal');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const appBefore = await readApp(kube, instance);
    const itemsBefore = await instanceItems(dynamodb, instance);
    const historyBefore = appBefore.status?.history?.length ?? 0;

    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRollback(client, taskQueue, rollbackInput(instance));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'alice');
      await until('the Application patched by this run', async () => Boolean((await readApp(kube, instance)).metadata.annotations?.['vcp-runbooks.io/change-id']));
      await restartServer('temporal', () =>
        until('the sync requested by the patch to be over', async () => {
          const app = await readApp(kube, instance);
          return app.status?.operationState?.phase === 'Succeeded' && (app.status.history?.length ?? 0) > historyBefore;
        }),
      );
      return resultThroughRestarts<RunbookResult<RollbackDetails>>(handle);
    }, workerOptions);

    expect(result.outcome, result.reason).toBe('succeeded');
    const appAfter = await readApp(kube, instance);
    // One patch, one sync: a second patch would have requested a second sync.
    expect(appAfter.status?.history).toHaveLength(historyBefore + 1);
    expect(result.audit.changes).toHaveLength(1);
    expect(result.details?.final).toMatchObject({ syncStatus: 'Synced', health: 'Healthy' });
    expectSameItems(await instanceItems(dynamodb, instance), itemsBefore);
  }, 300_000);

  it('rollback: kube-apiserver down when the approved patch is due; the run waits it out and patches once', async () => {
    const instance = uniqueInstance('flt-rb-kube');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const appBefore = await readApp(kube, instance);
    const itemsBefore = await instanceItems(dynamodb, instance);
    const historyBefore = appBefore.status?.history?.length ?? 0;

    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRollback(client, taskQueue, rollbackInput(instance));
      await awaitApprovalGate(handle);
      await stopServer('kube-apiserver');
      try {
        await approveAs(handle, 'alice');
        // A restart of a real control plane takes tens of seconds: the run keeps retrying meanwhile.
        const downSince = Date.now();
        await until('the patch step to retry against the stopped API server for 25 s', async () =>
          (await retryingAfter(handle, UNREACHABLE, 2)) && Date.now() - downSince > 25_000,
        );
      } finally {
        await startServer('kube-apiserver');
      }
      return resultThroughRestarts<RunbookResult<RollbackDetails>>(handle);
    }, workerOptions);

    expect(result.outcome, result.reason).toBe('succeeded');
    const appAfter = await readApp(kube, instance);
    expect(appAfter.status?.history).toHaveLength(historyBefore + 1);
    expect(result.audit.changes).toHaveLength(1);
    expectSameItems(await instanceItems(dynamodb, instance), itemsBefore);
  }, 300_000);

  it('rollback: the Argo CD application controller restarted after the patch, before it syncs; the run waits for the sync it requested and succeeds', async () => {
    const instance = uniqueInstance('flt-rb-argocd');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const historyBefore = (await readApp(kube, instance)).status?.history?.length ?? 0;
    const itemsBefore = await instanceItems(dynamodb, instance);

    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRollback(client, taskQueue, rollbackInput(instance));
      await awaitApprovalGate(handle);
      // Down before the approval, so the patch and the sync request meet a controller that is not there.
      await restartServer('argocd-application-controller', async () => {
        await approveAs(handle, 'alice');
        await until('the sync requested while the controller is down', async () => Boolean((await readApp(kube, instance)).operation));
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        // Nothing synced it meanwhile: the request waits in the Application for the controller.
        expect((await readApp(kube, instance)).status?.history).toHaveLength(historyBefore);
      });
      return resultThroughRestarts<RunbookResult<RollbackDetails>>(handle);
    }, workerOptions);

    expect(result.outcome, result.reason).toBe('succeeded');
    const appAfter = await readApp(kube, instance);
    // One sync: the request made while the controller was down ran once it was back, and nothing else.
    expect(appAfter.status?.history).toHaveLength(historyBefore + 1);
    expect(appAfter.status?.history?.at(-1)?.revision).toBe(result.details?.to);
    expect(result.audit.changes).toHaveLength(1);
    expect(result.details?.final).toMatchObject({ syncStatus: 'Synced', health: 'Healthy' });
    expectSameItems(await instanceItems(dynamodb, instance), itemsBefore);
  }, 300_000);

  it('rollback: S3 unreachable from the sync until 20 s after it; the audit record waits for it and the run succeeds', async () => {
    const instance = uniqueInstance('flt-rb-s3');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const historyBefore = (await readApp(kube, instance)).status?.history?.length ?? 0;
    const s3 = await startTcpFaultProxy({ target: requiredEnv('AWS_ENDPOINT_URL') });
    const workerS3 = s3ClientVia(s3);
    try {
      const result = await withWorker(async ({ client, taskQueue }) => {
        const handle = await startRollback(client, taskQueue, rollbackInput(instance));
        await awaitApprovalGate(handle);
        await approveAs(handle, 'alice');
        await until('the Application patched by this run', async () => Boolean((await readApp(kube, instance)).metadata.annotations?.['vcp-runbooks.io/change-id']));
        s3.cut();
        try {
          let syncedAt: number | undefined;
          // What follows the sync is the audit record in S3: it meets the outage.
          await until('the sync over and S3 unreachable 20 s after it', async () => {
            const app = await readApp(kube, instance);
            syncedAt ??= app.status?.operationState?.phase === 'Succeeded' && (app.status.history?.length ?? 0) > historyBefore ? Date.now() : undefined;
            return syncedAt !== undefined && Date.now() - syncedAt > 20_000;
          });
          expect(s3.stats.reset).toBeGreaterThan(0);
        } finally {
          s3.restore();
        }
        return resultThroughRestarts<RunbookResult<RollbackDetails>>(handle);
      }, { overrides: { approvals, s3: workerS3 } });
      expect(result.outcome, result.reason).toBe('succeeded');
      expect(result.audit.changes).toHaveLength(1);
      expect(result.auditLocation).toMatch(/^s3:\/\//);
      expect((await readApp(kube, instance)).status?.history).toHaveLength(historyBefore + 1);
    } finally {
      workerS3.destroy();
      await s3.close();
    }
  }, 300_000);

  it.each([
    ['temporal', 'the Temporal server restarted mid-export, during the claim deletion and mid-import; completes, nothing lost, nothing twice'],
    ['dynalite', 'dynalite restarted mid-export, during the claim deletion and mid-import; completes from its checkpoints, nothing lost, nothing twice'],
  ] as const)('recovery: %s: %s', async (server, _what) => {
    await recover(`flt-rc-${server}`, {}, async (run, handle) => {
      await until('the export under way', () => run.exportUnderWay());
      await restartServer(server);
      await until('the claim deleted', () => run.claimDeleted(), 300_000);
      await restartServer(server);
      await until('the import under way', () => run.importUnderWay(), 300_000);
      await restartServer(server);
      return resultThroughRestarts(handle);
    });
  }, 600_000);

  it('recovery: kube-apiserver down when the claim deletion is due; the run waits it out, deletes and recreates the claim once', async () => {
    await recover('flt-rc-kube', { confirmAfterBackup: true }, async (run, handle) => {
      // The run holds at its second approval (after the verified backup), right before the delete.
      const first = await progressOf(handle);
      await until('the confirmation gate after the verified backup', async () => {
        const now = await progressOf(handle);
        return now?.status === 'AwaitingApproval' && now.approval?.planDigest !== first?.approval?.planDigest;
      }, 300_000);
      await stopServer('kube-apiserver');
      try {
        await approveAs(handle, 'alice');
        const downSince = Date.now();
        await until('the claim deletion to retry against the stopped API server for 25 s', async () =>
          (await retryingAfter(handle, UNREACHABLE, 2)) && Date.now() - downSince > 25_000,
        );
      } finally {
        await startServer('kube-apiserver');
      }
      return resultThroughRestarts(handle);
    });
  }, 600_000);

  it('recovery: S3 unreachable mid-export and mid-import; the segments retry from their checkpoints, nothing lost, nothing twice', async () => {
    await recover('flt-rc-s3', { s3Proxy: true }, async (run, handle) => {
      const s3 = run.s3Proxy!;
      for (const [phase, underWay] of [['export', () => run.exportUnderWay()], ['import', () => run.importUnderWay()]] as const) {
        await until(`the ${phase} under way`, underWay, 300_000);
        s3.cut();
        try {
          const cutSince = Date.now();
          await until(`the ${phase} to retry against unreachable S3 for 10 s`, async () =>
            (await retryingAfter(handle, UNREACHABLE, 2)) && Date.now() - cutSince > 10_000,
          );
        } finally {
          s3.restore();
        }
      }
      expect(s3.stats.reset).toBeGreaterThan(0);
      return resultThroughRestarts(handle);
    });
  }, 600_000);
});

/**
 * Runs a recovery (approved by alice) through `faults`, which returns its result, and checks what
 * it left behind: every item, the writers and sync, one claim deleted and one recreated, each change
 * once in the audit.
 */
async function recover(
  prefix: string,
  options: { confirmAfterBackup?: boolean; s3Proxy?: boolean },
  faults: (run: RecoveryRun, handle: WorkflowHandle) => Promise<RunbookResult<DynamoDbRecoveryDetails>>,
): Promise<void> {
  const run = await prepareRecovery(prefix, { s3Proxy: options.s3Proxy });
  try {
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await run.start(client, taskQueue, { confirmAfterBackup: options.confirmAfterBackup });
      await awaitApprovalGate(handle);
      await approveAs(handle, 'alice');
      return faults(run, handle);
    }, run.workerOptions);
    await run.expectNothingLostNothingTwice(result);
  } finally {
    await run.close();
  }
}
