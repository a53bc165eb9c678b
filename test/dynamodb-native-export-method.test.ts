/**
 * `export-dynamodb --method native|auto`: DynamoDB's native export as the backup method, on the real
 * Temporal server, dynalite and moto, the worker's DynamoDB endpoint being the native-export test
 * endpoint in front of dynalite (test-support/dynamodb-native-export-endpoint.ts). A native backup is
 * one point in time across tables, verified, listed point-in-time, drilled and imported back item for
 * item (every attribute type), and deleted whole by retention; a lost start response does not start a
 * second export; a table without PITR, an endpoint without the export API (the stack's own) and a failed export each end the run
 * before any manifest is written; `auto` falls back to scan with the reason.
 */
import {
  BatchWriteItemCommand,
  DescribeExportCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ExportTableToPointInTimeCommand,
  UpdateContinuousBackupsCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { deleteBackups, describeBackupSchedule, scheduleBackups } from '../client/backup-schedules';
import { catalogLines } from '../client/commands/backups-list';
import { startBackupCatalog, startBackupDrill, startBackupRetention, startDynamoDbExport, startDynamoDbImport } from '../client/runbooks';
import { parseS3Url } from '../common/dynamodb-backup';
import type { BackupManifest, DynamoDbExportDetails, DynamoDbExportInput } from '../common/dynamodb-backup';
import { backupScheduleId } from '../common/backup-schedule';
import type { ScheduledBackupDetails } from '../common/backup-schedule';
import type { RunbookResult } from '../common/runbook';
import { instanceTableNames } from '../common/instance';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approveAs, awaitApprovalGate, keys } from '../test-support/approvers';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import { startNativeExportEndpoint } from '../test-support/dynamodb-native-export-endpoint';
import type { NativeExportEndpoint, NativeExportEndpointOptions } from '../test-support/dynamodb-native-export-endpoint';
import { everyTypeItems } from '../test-support/native-export';
import { messages } from '../test-support/recovery';
import { expectSameItems } from '../test-support/recovery-run';
import { seedForTest } from '../test-support/seed';
import { until } from '../test-support/runs';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const bucket = config.aws.backupBucket;
const requestedBy = { user: 'bob', via: 'test' as const };
const dynaliteUrl = process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '';

beforeAll(() => ensureBackupBucket(s3, bucket));
afterAll(() => aws.close());

let endpoint: NativeExportEndpoint | undefined;
afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

/** The endpoint, and a client of it such as the worker gets (one attempt per call: retries are Temporal's). */
async function nativeEndpoint(options: Partial<NativeExportEndpointOptions> = {}): Promise<{ endpoint: NativeExportEndpoint; client: DynamoDBClient }> {
  endpoint = await startNativeExportEndpoint({ target: dynaliteUrl, dynamodb, s3, completeAfterMs: 1500, ...options });
  return { endpoint, client: new DynamoDBClient({ region: config.aws.region, endpoint: endpoint.url, maxAttempts: 1 }) };
}

/** Users and matches from the seed, and a feedback table holding every attribute type. */
async function seededInstance(prefix: string): Promise<string> {
  const instance = uniqueInstance(prefix);
  await seedForTest(instance, { sizes: { users: 40, matches: 15, feedback: 0 } });
  const items = everyTypeItems(45);
  for (let i = 0; i < items.length; i += 25) {
    await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [`feedback-${instance}`]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
  }
  return instance;
}

async function enablePitr(client: DynamoDBClient, tables: string[]): Promise<void> {
  for (const TableName of tables) {
    await client.send(new UpdateContinuousBackupsCommand({ TableName, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }));
  }
}

function exportInput(instance: string, method: DynamoDbExportInput['method']): DynamoDbExportInput {
  return { instance, method, export: { chunkMaxItems: 8 }, options: { requestedBy } };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

const manifestsOf = async (instance: string) => (await keysUnder(`dynamodb-backups/${instance}/`)).filter((k) => k.endsWith('/manifest.json'));

async function readManifest(url: string): Promise<BackupManifest> {
  const { key } = parseS3Url(url);
  return JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as BackupManifest;
}

/** Deletes every item of the instance's tables, as before a restore. */
async function emptyTables(instance: string): Promise<void> {
  for (const tableName of instanceTableNames(instance)) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const keyNames = Table!.KeySchema!.map((k) => k.AttributeName!);
    const keys = [...(await tableItems(dynamodb, tableName)).values()].map((item) => Object.fromEntries(keyNames.map((k) => [k, item[k]!])) as Record<string, AttributeValue>);
    for (let i = 0; i < keys.length; i += 25) {
      await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })) } }));
    }
  }
}

describe('export-dynamodb --method native|auto', { timeout: 600_000 }, () => {
  it('native: one ExportTime for every table, a lost start response starts no second export, verified, listed point-in-time, drilled and imported back item for item, deleted whole by retention', async () => {
    const instance = await seededInstance('ddb-pitr');
    const tables = instanceTableNames(instance);
    const { endpoint, client: viaEndpoint } = await nativeEndpoint({ loseFirstExportResponses: 1 });
    await enablePitr(viaEndpoint, tables);
    const before = await instanceItems(dynamodb, instance);

    await withWorker(async ({ client, taskQueue }) => {
      const result = await (await startDynamoDbExport(client, taskQueue, exportInput(instance, 'native'))).result();
      expect(result.outcome, result.reason).toBe('succeeded');
      const details = result.details!;
      const exportTime = details.pointInTime!.exportTime;
      expect(details.method).toEqual({ method: 'native', requested: 'native' });

      // One export per table, all at the same ExportTime; the start whose response was lost was re-sent with its ClientToken.
      expect(endpoint.stats).toMatchObject({ exportRequests: tables.length + 1, exportsStarted: tables.length });
      const started = endpoint.exports();
      expect(started.map((e) => e.ExportStatus)).toEqual(tables.map(() => 'COMPLETED'));
      expect(new Set(started.map((e) => Math.round(Number(e.ExportTime) * 1000)))).toEqual(new Set([Date.parse(exportTime)]));
      const manifest = await readManifest(details.backup.url);
      expect(manifest.exportMethod).toEqual({ method: 'native', requested: 'native' });
      expect(manifest.pointInTime).toEqual({ exportTime, tables: expect.arrayContaining(started.map((e) => ({ tableName: String(e.TableArn).split('/').pop(), exportArn: e.ExportArn }))) as unknown });
      expect(manifest.pointInTime!.tables).toHaveLength(tables.length);
      // The exports' own files lie inside the backup's folder.
      for (const table of tables) expect((await keysUnder(`${details.backup.prefix}/native/${table}/AWSDynamoDB/`)).some((k) => k.endsWith('/manifest-summary.json'))).toBe(true);
      for (const [base, items] of Object.entries(before)) expect(details.tables.find((t) => t.tableName === `${base}-${instance}`)?.items, base).toBe(items.size);

      const catalog = await (await startBackupCatalog(client, taskQueue, instance)).result();
      expect(catalog.entries).toEqual([expect.objectContaining({ url: details.backup.url, verified: true, method: 'native-export', pointInTime: true, consistency: `point-in-time at ${exportTime}` })]);
      expect(catalogLines(catalog)[1]).toContain(`yes (${exportTime})`);

      const drill = await (await startBackupDrill(client, taskQueue, { instance, backup: details.backup.url, options: { requestedBy } })).result();
      expect(drill.outcome, drill.reason).toBe('succeeded');

      await emptyTables(instance);
      const importing = await startDynamoDbImport(client, taskQueue, { instance, from: details.backup.url, options: { requestedBy, reason: 'restore the native backup' } });
      await awaitApprovalGate(importing);
      await approveAs(importing, 'alice');
      const imported = await importing.result();
      expect(imported.outcome, imported.reason).toBe('succeeded');
      expectSameItems(await instanceItems(dynamodb, instance), before);

      // A newer backup, then keep 1: the native one goes with everything under its folder.
      const newer = await (await startDynamoDbExport(client, taskQueue, exportInput(instance, 'scan'))).result();
      expect(newer.outcome, newer.reason).toBe('succeeded');
      const pruned = await (await startBackupRetention(client, taskQueue, { instance, keep: 1, options: { requestedBy } })).result();
      expect(pruned.outcome, pruned.reason).toBe('succeeded');
      expect(pruned.details!.deleted.map((d) => d.prefix)).toEqual([details.backup.prefix]);
      expect(await keysUnder(`${details.backup.prefix}/`)).toEqual([]);
    }, { overrides: { dynamodb: viaEndpoint } });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a table without PITR: native is refused before any export starts and writes no manifest; auto backs up by scan and records why', async () => {
    const instance = await seededInstance('ddb-pitr-off');
    const [users, matches, feedback] = instanceTableNames(instance);
    const { endpoint, client: viaEndpoint } = await nativeEndpoint();
    await enablePitr(viaEndpoint, [users!, matches!]);
    const before = await instanceItems(dynamodb, instance);

    await withWorker(async ({ client, taskQueue }) => {
      const refused = await (await startDynamoDbExport(client, taskQueue, exportInput(instance, 'native'))).result().then(
        (r) => ({ r, failure: undefined }),
        (failure: unknown) => ({ r: undefined, failure }),
      );
      expect(refused.r?.outcome).not.toBe('succeeded');
      expect(messages(refused.failure) || refused.r?.reason).toContain(
        `point-in-time recovery is not enabled on ${feedback}: a native export reads the PITR log. Enable it with \`aws dynamodb update-continuous-backups --table-name ${feedback} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true\`, or use --method scan`,
      );
      expect(endpoint.stats.exportRequests).toBe(0);
      expect(await manifestsOf(instance)).toEqual([]);

      const auto = await (await startDynamoDbExport(client, taskQueue, exportInput(instance, 'auto'))).result();
      expect(auto.outcome, auto.reason).toBe('succeeded');
      const reason = expect.stringContaining(`native export not possible: point-in-time recovery is not enabled on ${feedback}`) as unknown;
      expect(auto.details!.method).toEqual({ method: 'scan', requested: 'auto', reason });
      expect(auto.details!.pointInTime).toBeUndefined();
      expect((await readManifest(auto.details!.backup.url)).exportMethod).toEqual({ method: 'scan', requested: 'auto', reason });
      expect(endpoint.stats.exportRequests).toBe(0);
      const catalog = await (await startBackupCatalog(client, taskQueue, instance)).result();
      expect(catalog.entries).toEqual([expect.objectContaining({ verified: true, method: 'scan', pointInTime: false })]);
      expect(catalogLines(catalog)[1]).toContain('no (Scan)');
    }, { overrides: { dynamodb: viaEndpoint } });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('an endpoint without the export API (the stack\'s: dynalite behind its emulator, which serves PITR settings only): native is refused with what to do, and writes no manifest', async () => {
    const instance = await seededInstance('ddb-pitr-none');
    const before = await instanceItems(dynamodb, instance);
    const failure = await withWorker(async ({ client, taskQueue }) =>
      (await startDynamoDbExport(client, taskQueue, exportInput(instance, 'native'))).result().then((r) => r.reason, (err: unknown) => messages(err)),
    );
    // Refused by the check before any export was asked for, not by a failing ExportTableToPointInTime.
    expect(failure).toContain('--method native refused: this DynamoDB endpoint does not support ExportTableToPointInTime; use --method scan (it does not implement DescribeExport)');
    expect(await manifestsOf(instance)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('an export the endpoint fails: the run fails with its FailureCode and FailureMessage, and no manifest is written', async () => {
    const instance = await seededInstance('ddb-pitr-fail');
    const tables = instanceTableNames(instance);
    const { endpoint, client: viaEndpoint } = await nativeEndpoint({ failTables: { [tables[1]!]: { code: 'S3NoSuchBucket', message: 'The specified bucket does not exist (injected)' } } });
    await enablePitr(viaEndpoint, tables);
    const before = await instanceItems(dynamodb, instance);
    const failure = await withWorker(async ({ client, taskQueue }) =>
      (await startDynamoDbExport(client, taskQueue, exportInput(instance, 'native'))).result().then((r) => r.reason, (err: unknown) => messages(err)),
    { overrides: { dynamodb: viaEndpoint } });
    expect(failure).toMatch(new RegExp(`DynamoDB export \\S+table/${tables[1]}/export/\\S+ FAILED: S3NoSuchBucket: The specified bucket does not exist \\(injected\\)`));
    expect(endpoint.stats.exportsStarted).toBeGreaterThanOrEqual(1);
    expect(await manifestsOf(instance)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a schedule with --method native stores it in its action input, and its runs back up natively, verified', async () => {
    const instance = await seededInstance('ddb-pitr-sched');
    const { client: viaEndpoint } = await nativeEndpoint();
    await enablePitr(viaEndpoint, instanceTableNames(instance));
    onTestFinished(async () => {
      const { client, close } = await temporalClient();
      await deleteBackups(client, instance).catch(() => undefined);
      await close();
    });
    await withWorker(async ({ client, taskQueue }) => {
      await scheduleBackups(client, taskQueue, { instance, everyMs: 10_000, method: 'native', requestedBy }, keys.bob.privateKey);
      expect(await describeBackupSchedule(client, instance)).toMatchObject({ method: 'native' });
      const firstRun = async () => (await client.schedule.getHandle(backupScheduleId(instance)).describe()).info.recentActions[0]?.action.workflow;
      await until('a scheduled run finished', async () => {
        const run = await firstRun();
        return run !== undefined && (await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).describe()).status.name !== 'RUNNING';
      }, 120_000, 500);
      const run = (await firstRun())!;
      const result = (await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result()) as RunbookResult<ScheduledBackupDetails>;
      expect(result.outcome, result.reason).toBe('succeeded');
      const exported = (await client.workflow.getHandle(result.details!.export.workflowId).result()) as RunbookResult<DynamoDbExportDetails>;
      expect(exported.details!.method).toEqual({ method: 'native', requested: 'native' });
      expect((await readManifest(exported.details!.backup.url)).pointInTime?.tables).toHaveLength(3);
    }, { overrides: { dynamodb: viaEndpoint } });
  });

  it('the test endpoint refuses what the API Reference says ExportTableToPointInTime refuses, and honours ClientToken', async () => {
    const instance = uniqueInstance('ddb-pitr-api');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 } });
    const [users] = instanceTableNames(instance);
    const { endpoint, client } = await nativeEndpoint();
    const { Table } = await client.send(new DescribeTableCommand({ TableName: users }));
    const request = (extra: Partial<ConstructorParameters<typeof ExportTableToPointInTimeCommand>[0]> = {}) =>
      client.send(new ExportTableToPointInTimeCommand({ TableArn: Table!.TableArn!, S3Bucket: bucket, S3Prefix: `native-api/${instance}`, ClientToken: 'token-1', ...extra })).then(
        (out) => out.ExportDescription!,
        (err: Error) => err.name,
      );
    expect(await request()).toBe('PointInTimeRecoveryUnavailableException');
    const enabledAt = Date.now();
    await enablePitr(client, [users!]);
    expect(await request({ ExportTime: new Date(Date.now() + 60_000) })).toBe('InvalidExportTimeException');
    expect(await request({ ExportTime: new Date(enabledAt - 60_000) })).toBe('InvalidExportTimeException');
    const exportTime = new Date(Date.now() - 1);
    const first = await request({ ExportTime: exportTime });
    expect(first).toMatchObject({ ExportStatus: 'IN_PROGRESS', ExportFormat: 'DYNAMODB_JSON', ExportType: 'FULL_EXPORT' });
    expect((await request({ ExportTime: exportTime })) as object).toMatchObject({ ExportArn: (first as { ExportArn: string }).ExportArn });
    expect(await request({ ExportTime: exportTime, S3Prefix: `native-api/${instance}/other` })).toBe('IdempotentParameterMismatchException');
    expect(endpoint.stats.exportsStarted).toBe(1);
    await expect(client.send(new DescribeExportCommand({ ExportArn: `${Table!.TableArn!}/export/00000000000000-00000000` }))).rejects.toMatchObject({ name: 'ExportNotFoundException' });
    await until('the export completed', async () => (await client.send(new DescribeExportCommand({ ExportArn: (first as { ExportArn: string }).ExportArn }))).ExportDescription?.ExportStatus === 'COMPLETED', 30_000, 200);
  });
});
