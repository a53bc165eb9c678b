/**
 * Runbooks in flight while the servers they depend on restart: the Temporal dev server (same SQLite
 * file), kube-apiserver (its state in kine), dynalite (its state on disk), and S3 (moto) unreachable
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
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { instanceItems } from '../test-support/dynamodb';
import type { ItemsByCanonicalText } from '../test-support/dynamodb';
import { readApp } from '../test-support/recovery';
import { retryingAfter, resultThroughRestarts, until } from '../test-support/runs';
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

function expectSameItems(after: Record<string, ItemsByCanonicalText>, before: Record<string, ItemsByCanonicalText>): void {
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  for (const table of Object.keys(before)) {
    expect(after[table]!.size, `${table} item count`).toBe(before[table]!.size);
    for (const [key, item] of before[table]!) expect(after[table]!.get(key), `${table} item ${key.slice(0, 60)}`).toEqual(item);
  }
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
});
