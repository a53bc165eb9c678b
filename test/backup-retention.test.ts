/**
 * The backup catalog and retention on the real stack (Temporal, dynalite, moto): real exports of a
 * test instance, listed with their verified / drill / point-in-time columns (CLI too), pruned by
 * count, the newest verified and a backup a running import uses protected, every deletion in the
 * audit record, the delete activity re-applying the rules itself, and the instance's tables unchanged
 * item by item. Ages: the policy's age rule is tested under a simulated clock in the unit tests
 * (test/unit/backup-catalog.test.ts); here keepDays is a second, so every real backup is "old"
 * without an override of the clock that a caller could misuse.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackupCatalog, startBackupRetention, startDynamoDbExport, startDynamoDbImport } from '../client/runbooks';
import type { BackupCatalog } from '../common/backup-catalog';
import { DRILL_FORMAT, drillRecordKey, parseS3Url, verificationKey } from '../common/dynamodb-backup';
import type { DrillRecord, DynamoDbExportDetails } from '../common/dynamodb-backup';
import type { AuditRecord } from '../common/runbook';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { instanceItems } from '../test-support/dynamodb';
import { expectSameItems } from '../test-support/recovery-run';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import { rogueAttemptsSignal } from '../test-support/workflows/rogue';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const bucket = config.aws.backupBucket;
const requestedBy = { user: 'bob', via: 'test' as const };
const ONE_SECOND_IN_DAYS = 1 / 86_400;

beforeAll(() => ensureBackupBucket(s3, bucket));
afterAll(() => aws.close());

async function exportBackup(client: Client, taskQueue: string, instance: string): Promise<DynamoDbExportDetails['backup']> {
  const result = await (await startDynamoDbExport(client, taskQueue, { instance, export: { chunkMaxItems: 4 }, options: { requestedBy } })).result();
  expect(result.outcome, result.reason).toBe('succeeded');
  return result.details!.backup;
}

async function catalogOf(client: Client, taskQueue: string, instance: string): Promise<BackupCatalog> {
  return (await startBackupCatalog(client, taskQueue, instance)).result();
}

async function prune(client: Client, taskQueue: string, instance: string, policy: { keep?: number; keepDays?: number; dryRun?: boolean }) {
  const result = await (await startBackupRetention(client, taskQueue, { instance, ...policy, options: { requestedBy } })).result();
  expect(result.outcome, result.reason).toBe('succeeded');
  return { details: result.details!, auditLocation: result.auditLocation };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function auditRecord(location: string | undefined): Promise<AuditRecord> {
  const { key } = parseS3Url(location!);
  return JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as AuditRecord;
}

const idOf = (backup: { prefix: string }) => backup.prefix.split('/').pop()!;

async function cliJson<T>(args: string[], taskQueue: string): Promise<{ code: number; stdout: string; json?: T }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
      env: { ...process.env, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1' },
    });
    return { code: 0, stdout, json: args.includes('json') ? (JSON.parse(stdout) as T) : undefined };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: `${e.stdout}${e.stderr}` };
  }
}

describe('backup catalog and retention', { timeout: 600_000 }, () => {
  it('lists backups with verified, drill and point-in-time columns; prunes by count, never the newest verified or one a running import uses; tables unchanged', async () => {
    const instance = uniqueInstance('bk-ret');
    await seedForTest(instance, { sizes: { users: 6, matches: 3, feedback: 2 } });
    const before = await instanceItems(dynamodb, instance);
    const users = `users-${instance}`;

    await withWorker(async ({ client, taskQueue }) => {
      // Five real exports, oldest first.
      const b1 = await exportBackup(client, taskQueue, instance);
      const b2 = await exportBackup(client, taskQueue, instance);
      const b3 = await exportBackup(client, taskQueue, instance);
      const b4 = await exportBackup(client, taskQueue, instance);
      const b5 = await exportBackup(client, taskQueue, instance);
      // The newest one's verification never finished: its records are gone.
      for (const table of Object.keys(before)) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: verificationKey(b5.manifestKey, `${table}-${instance}`) }));
      // A drill passed on b2 (what backupDrill writes beside the manifest).
      const drill: DrillRecord = {
        format: DRILL_FORMAT,
        manifestKey: b2.manifestKey,
        manifestSha256: b2.manifestSha256,
        passed: true,
        tables: [],
        startedAt: new Date(Date.now() - 1000).toISOString(),
        finishedAt: new Date().toISOString(),
        drilledBy: { workflowId: 'backup-drill/test', runId: 'drill-run' },
      };
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: drillRecordKey(b2.manifestKey, new Date(drill.finishedAt), 'drill-run'), Body: JSON.stringify(drill) }));
      // An export that crashed long ago: chunks, no manifest.
      const crashed = `dynamodb-backups/${instance}/20200101T000000Z-crashed-run`;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${crashed}/${users}/segment-0000-of-0001/chunk-000000.ndjson.gz`, Body: Buffer.from('partial') }));

      // The catalog, newest first.
      const catalog = await catalogOf(client, taskQueue, instance);
      expect(catalog.entries.map((e) => e.id)).toEqual([b5, b4, b3, b2, b1].map((b) => idOf(b)).concat('20200101T000000Z-crashed-run'));
      const entry = (b: { prefix: string }) => catalog.entries.find((e) => e.id === idOf(b))!;
      expect(entry(b4)).toMatchObject({ state: 'complete', verified: true, items: 11, tables: expect.arrayContaining([{ tableName: users, items: 6, bytes: expect.any(Number) as unknown }]) as unknown, pointInTime: false, method: 'scan', url: b4.url });
      expect(entry(b5)).toMatchObject({ verified: false, unverifiedTables: expect.arrayContaining([users]) as unknown });
      expect(entry(b2).drill).toMatchObject({ passed: true, at: drill.finishedAt });
      expect(catalog.entries.at(-1)).toMatchObject({ state: 'incomplete', verified: false, createdAt: '2020-01-01T00:00:00.000Z' });

      // The CLI shows the same, as JSON and as a table with the columns.
      const listed = await cliJson<BackupCatalog>(['-o', 'json', 'backups', 'list', instance], taskQueue);
      expect(listed.code, listed.stdout).toBe(0);
      expect(listed.json!.entries.map((e) => e.id)).toEqual(catalog.entries.map((e) => e.id));
      const table = await cliJson(['backups', 'list', instance], taskQueue);
      expect(table.stdout).toMatch(/^ID\s+CREATED\s+TABLES\s+ITEMS\s+BYTES\s+VERIFIED\s+DRILL\s+POINT-IN-TIME/);
      expect(table.stdout).toMatch(new RegExp(`${idOf(b2)}\\s.*\\s11\\s.*\\syes\\s+passed \\S+\\s+no \\(Scan\\)`));
      expect(table.stdout).toMatch(new RegExp(`${idOf(b5)}\\s.*\\sNO\\s+-\\s+no \\(Scan\\)`));
      expect(table.stdout).toMatch(/20200101T000000Z-crashed-run\s.*incomplete/);

      // A dry run deletes nothing and says what would go: keep 3 leaves b1 and the crashed export.
      const dry = await prune(client, taskQueue, instance, { keep: 3, dryRun: true });
      expect(dry.details.expired.map((e) => e.id)).toEqual([idOf(b1), '20200101T000000Z-crashed-run']);
      expect(dry.details.deleted).toEqual([]);
      expect(await keysUnder(`${b1.prefix}/`)).not.toEqual([]);

      // keep 3: b4, b3, b2 (newest verified) and b5 (newer than the newest verified) stay; b1 and the crashed export go, each in the audit.
      const kept3 = await prune(client, taskQueue, instance, { keep: 3 });
      expect(kept3.details.deleted.map((d) => d.id)).toEqual([idOf(b1), '20200101T000000Z-crashed-run']);
      expect(kept3.details.deleted[0]).toMatchObject({ url: b1.url, items: 11, verified: true, why: expect.stringMatching(/not one of the 3 newest verified/) as unknown });
      expect(kept3.details.deleted[0]!.objects).toBeGreaterThan(5);
      expect(await keysUnder(`${b1.prefix}/`)).toEqual([]);
      expect(await keysUnder(`${crashed}/`)).toEqual([]);
      const audit = await auditRecord(kept3.auditLocation);
      expect(audit.changes.map((c) => c.object)).toEqual([b1.url, `s3://${bucket}/${crashed}/`]);
      expect(audit.changes[0]).toMatchObject({ action: expect.stringMatching(/^delete backup/) as unknown, before: { objects: kept3.details.deleted[0]!.objects, items: 11, verified: true } });

      // An import from b2 waits at its approval gate (holding the instance's destructive lock): retention still runs, and keeps b2.
      const importRun = await startDynamoDbImport(client, taskQueue, { instance, from: b2.url, tables: [users], allowNonEmptyTargets: true, options: { requestedBy } });
      await awaitApprovalGate(importRun);
      const kept1 = await prune(client, taskQueue, instance, { keep: 1 });
      expect(kept1.details.deleted.map((d) => d.id)).toEqual([idOf(b3)]);
      expect(kept1.details.kept.find((k) => k.id === idOf(b2))).toMatchObject({ kept: ['in-use'], usedBy: [expect.objectContaining({ workflowType: 'dynamodbImport', workflowId: importRun.workflowId }) as unknown] });
      expect(await keysUnder(`${b2.prefix}/`)).not.toEqual([]);

      // Age alone (a second): b4 is the newest verified, so it stays whatever the policy says; b2 is still in use.
      const byAge = await prune(client, taskQueue, instance, { keepDays: ONE_SECOND_IN_DAYS });
      expect(byAge.details.deleted).toEqual([]);
      expect(byAge.details.kept.find((k) => k.id === idOf(b4))?.kept).toEqual(['newest-verified']);
      expect(byAge.details.kept.find((k) => k.id === idOf(b5))?.kept).toEqual(['newer-than-newest-verified']);

      // The import is rejected: b2 is no longer in use and goes on the next run.
      await approveAs(importRun, 'alice', 'reject', 'test over');
      expect((await importRun.result()).outcome).toBe('rejected');
      const after = await prune(client, taskQueue, instance, { keepDays: ONE_SECOND_IN_DAYS });
      expect(after.details.deleted.map((d) => d.id)).toEqual([idOf(b2)]);
      expect((await catalogOf(client, taskQueue, instance)).entries.map((e) => e.id)).toEqual([idOf(b5), idOf(b4)]);
    }, { overrides: { approvals } });

    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('the delete activity applies the rules itself: a retention-typed run asking for the newest verified backup deletes nothing; another workflow type is refused', async () => {
    const instance = uniqueInstance('bk-toctou');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 } });
    const before = await instanceItems(dynamodb, instance);
    const backups = await withWorker(async ({ client, taskQueue }) => [await exportBackup(client, taskQueue, instance), await exportBackup(client, taskQueue, instance)]);
    const [older, newest] = backups as [DynamoDbExportDetails['backup'], DynamoDbExportDetails['backup']];

    const outcomes = await withWorker(async ({ client, taskQueue }) => {
      const run = async (workflowType: string, selected: string[]) => {
        const handle = await client.workflow.start(workflowType, { taskQueue, workflowId: `rogue-retention/${instance}/${workflowType}`, args: [{ instance, options: { requestedBy } }] });
        await handle.signal(rogueAttemptsSignal, [{ label: workflowType, activity: 'deleteExpiredBackups', input: { instance, policy: { keep: 1 }, selected } }]);
        return ((await handle.result()) as { outcome: string }[])[0]!.outcome;
      };
      return {
        // As if the selection had been made when the newest was not yet verified: the activity checks again now.
        retention: await run('backupRetention', [idOf(newest)]),
        recovery: await run('dynamodbRecovery', [idOf(older)]),
      };
    }, { workflows: 'rogue' });
    expect(outcomes.retention).toBe('changed');
    expect(outcomes.recovery).toMatch(/only backupRetention deletes backups, not dynamodbRecovery/);
    expect(await keysUnder(`${newest.prefix}/manifest.json`)).toEqual([newest.manifestKey]);
    expect(await keysUnder(`${older.prefix}/manifest.json`)).toEqual([older.manifestKey]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('refuses a policy without keep or keepDays, keep 0, and a start naming no requester, each with a clear error', async () => {
    const instance = uniqueInstance('bk-bad');
    const failures = await withWorker(async ({ client, taskQueue }) => {
      const failure = async (input: Record<string, unknown>) => {
        const handle = await client.workflow.start('backupRetention', { taskQueue, workflowId: `backup-retention/${instance}/${Object.keys(input).join('-')}`, args: [{ instance, ...input }] });
        return handle.result().then(
          () => 'succeeded',
          (err: unknown) => (err instanceof WorkflowFailedError ? String(err.cause?.message) : String(err)),
        );
      };
      return [await failure({ options: { requestedBy } }), await failure({ keep: 0, options: { requestedBy } }), await failure({ keep: 2 })];
    });
    expect(failures[0]).toMatch(/needs --keep N .* or --keep-days D/);
    expect(failures[1]).toMatch(/keep must be a whole number from 1/);
    expect(failures[2]).toMatch(/options.requestedBy is required/);
  });
});
