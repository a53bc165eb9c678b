/**
 * The DynamoDB recovery under faults: a worker process killed mid-export and mid-import, and
 * throttling plus partial BatchWriteItem results injected on the DynamoDB path. Real Temporal,
 * dynalite, moto, API server and simulators; the faults come from a loopback proxy.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countItemsByScan } from '../activities/aws/dynamodb';
import { startDynamoDbRecovery } from '../client/runbooks';
import type { BackupManifest, DynamoDbRecoveryInput } from '../common/dynamodb-backup';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, approversFileJson, awaitApprovalGate } from '../test-support/approvers';
import { startDynamoDbFaultProxy } from '../test-support/dynamodb-fault-proxy';
import type { DynamoDbFaultProxy } from '../test-support/dynamodb-fault-proxy';
import { seedForTest } from '../test-support/seed';
import { instanceItems } from '../test-support/dynamodb';
import type { ItemsByCanonicalText } from '../test-support/dynamodb';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const dynamodbEndpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '';

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, extra: Partial<DynamoDbRecoveryInput> = {}): DynamoDbRecoveryInput {
  return { instance, options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'restore' }, claimTimeoutMs: 120_000, ...extra };
}

function expectEqualTables(after: Record<string, ItemsByCanonicalText>, before: Record<string, ItemsByCanonicalText>) {
  for (const base of Object.keys(before)) {
    expect(after[base]!.size, `${base} item count`).toBe(before[base]!.size);
    for (const [key, item] of before[base]!) expect(after[base]!.get(key), `${base} item ${key.slice(0, 60)}`).toEqual(item);
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('DynamoDB recovery under faults', () => {
  let proxy: DynamoDbFaultProxy | undefined;
  let worker: ChildProcess | undefined;
  afterEach(async () => {
    worker?.kill('SIGKILL');
    await proxy?.close();
  });

  it('a worker killed (SIGKILL) mid-export and mid-import: the run completes from its checkpoints, item by item equal', async () => {
    const instance = uniqueInstance('ddb-kill');
    const size = 1200;
    await seedForTest(instance, { sizes: { users: size, matches: 20, feedback: 10 } });
    const before = await instanceItems(dynamodb, instance);
    const users = `users-${instance}`;
    // Latency on the data path stretches export and import to seconds, so the kills land mid-way.
    proxy = await startDynamoDbFaultProxy({ target: dynamodbEndpoint, delayMs: 250, operations: ['Scan', 'BatchWriteItem'] });
    const approversFile = path.join(mkdtempSync(path.join(tmpdir(), 'vcp-approvers-')), 'approvers.json');
    writeFileSync(approversFile, JSON.stringify(approversFileJson));
    const { client, close } = await temporalClient();
    const taskQueue = `test-kill-${instance}`;
    const startWorker = () =>
      // `node --import tsx`, not the tsx CLI: the CLI runs the worker in a child that SIGKILL would miss.
      spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'worker', 'main.ts')], {
        env: { ...process.env, VCP_TASK_QUEUE: taskQueue, VCP_APPROVERS_FILE: approversFile, VCP_METRICS_ADDRESS: '', AWS_ENDPOINT_URL_DYNAMODB: proxy!.url },
        stdio: 'ignore',
      });
    try {
      worker = startWorker();
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { export: { chunkMaxItems: 50, segments: 1 } }));
      await awaitApprovalGate(handle, 60_000);
      await approveAs(handle, 'alice');

      // Mid-export: several chunks of users committed (and heartbeated), most still to come.
      const chunkPrefix = `dynamodb-backups/${instance}/`;
      const usersChunks = async () => {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: chunkPrefix }));
        return (listed.Contents ?? []).filter((o) => o.Key!.includes(`/${users}/`)).length;
      };
      await until('8 committed chunks of users', async () => (await usersChunks()) >= 8);
      worker.kill('SIGKILL');
      expect(await usersChunks()).toBeLessThan(size / 50);
      await new Promise((r) => setTimeout(r, 1000));
      worker = startWorker();

      // Mid-import: the recreated table holds part of the data.
      await until('the import to be under way', async () => {
        // A missing table (between the delete and the recreation) counts as -1.
        const n = await countItemsByScan(dynamodb, users, () => undefined).catch(() => -1);
        return n >= 400 && n < size;
      }, 180_000);
      worker.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1000));
      worker = startWorker();

      const result = (await handle.result());
      expect(result.outcome, result.reason).toBe('succeeded');
      expectEqualTables(await instanceItems(dynamodb, instance), before);

      const details = result.details!;
      const manifestBody = await s3.send(new GetObjectCommand({ Bucket: details.backup.bucket, Key: details.backup.manifestKey }));
      const manifest = JSON.parse(await manifestBody.Body!.transformToString()) as BackupManifest;
      const exported = manifest.tables.find((t) => t.tableName === users)!.segments[0]!;
      // The export resumed from its checkpoint: it re-read some items, never the whole table.
      expect(exported.attempts).toBeGreaterThanOrEqual(2);
      expect(exported.resumedFromItems).toBeGreaterThan(0);
      expect(exported.itemsReadByLastAttempt).toBeGreaterThan(0);
      expect(exported.itemsReadByLastAttempt).toBeLessThan(size);
      expect(exported.items).toBe(size);
      const imported = details.imported.find((t) => t.tableName === users)!.segments[0]!;
      expect(imported.attempts).toBeGreaterThanOrEqual(2);
      expect(imported.resumedFromItems).toBeGreaterThan(0);
      expect(imported.itemsWrittenByLastAttempt).toBeGreaterThan(0);
      expect(imported.itemsWrittenByLastAttempt).toBeLessThan(size);
    } finally {
      await close();
    }
    // Two heartbeat timeouts (20 s each) pass before the killed attempts are retried.
  }, 300_000);

  it('throttling and partial BatchWriteItem results on the DynamoDB path: completes, nothing lost', async () => {
    const instance = uniqueInstance('ddb-throttle');
    await seedForTest(instance, { sizes: { users: 300, matches: 60, feedback: 40 } });
    const before = await instanceItems(dynamodb, instance);
    proxy = await startDynamoDbFaultProxy({ target: dynamodbEndpoint, throttleEveryNth: 3, unprocessedFraction: 0.3 });
    // Few SDK retries, so the runbook's own backoff does the waiting.
    const throttled = new DynamoDBClient({ region: config.aws.region, endpoint: proxy.url, maxAttempts: 1 });
    try {
      const result = await withWorker(async ({ client, taskQueue }) => {
        const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { export: { chunkMaxItems: 40 } }));
        await awaitApprovalGate(handle);
        await approveAs(handle, 'alice');
        return (await handle.result());
      }, { overrides: { approvals, dynamodb: throttled } });
      expect(result.outcome, result.reason).toBe('succeeded');
      expect(proxy.stats.throttled).toBeGreaterThan(10);
      expect(proxy.stats.unprocessedItems).toBeGreaterThan(100);
      expect(result.details!.imported.reduce((n, t) => n + t.retriedItems, 0)).toBeGreaterThan(100);
      expectEqualTables(await instanceItems(dynamodb, instance), before);
    } finally {
      throttled.destroy();
    }
  }, 240_000);
});
