/**
 * `import-dynamodb` from a DynamoDB native export (ExportTableToPointInTime layout, built in moto S3
 * from a seeded table by test-support/native-export.ts), on the real Temporal server, dynalite and moto:
 * restored item for item with every attribute type; the source bucket must be allowed; a tampered
 * data file is refused before any write, and every table of the instance is left as it was.
 */
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDbImport } from '../client/runbooks';
import type { DynamoDbImportDetails, DynamoDbImportInput, DynamoDbImportPlan } from '../common/dynamodb-backup';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import { buildNativeExport, everyTypeItems, putNativeExport } from '../test-support/native-export';
import { approveIfAsked, messages } from '../test-support/recovery';
import { expectSameItems } from '../test-support/recovery-run';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const requestedBy = { user: 'bob', via: 'test' as const };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function importInput(instance: string, from: string, table: string): DynamoDbImportInput {
  return { instance, from, tables: [table], options: { requestedBy, reason: 'restore from the native export' } };
}

/** Manifests staged under this instance's import prefix: a refused source must leave none to import. */
async function stagedManifests(instance: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: `dynamodb-imports/${instance}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('/manifest.json'));
}

describe('DynamoDB native export as an import source', { timeout: 240_000 }, () => {
  it('imports a native export of a seeded table into one table, item for item with every attribute type; the plan names the export; its bucket must be allowed', async () => {
    const instance = uniqueInstance('ddb-native');
    await seedForTest(instance, { sizes: { users: 3, matches: 2, feedback: 0 } });
    const feedback = `feedback-${instance}`;
    // The source: a table holding every attribute type, read back as DynamoDB returns it.
    const written = everyTypeItems(130);
    for (let i = 0; i < written.length; i += 25) {
      await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [feedback]: written.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    const source = await tableItems(dynamodb, feedback);
    expect(source.size).toBe(130);
    const exportsBucket = `vcp-exports-${instance}`.slice(0, 63);
    await ensureBackupBucket(s3, exportsBucket);
    const native = buildNativeExport({ bucket: exportsBucket, prefix: 'ddb-exports/2026-12', tableName: `feedback-prod`, items: [...source.values()], files: 4 });
    await putNativeExport(s3, native);
    // Emptied, as a table is before a restore; the other tables keep their items.
    const deletes = [...source.values()].map((item) => ({ DeleteRequest: { Key: { feedback_id: item.feedback_id! } } }));
    for (let i = 0; i < deletes.length; i += 25) await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [feedback]: deletes.slice(i, i + 25) } }));
    const others = await instanceItems(dynamodb, instance);
    expect(others.feedback!.size).toBe(0);

    const { refused, result, plan } = await withWorker(async ({ client, taskQueue }) => {
      // Not the backup bucket and not listed: refused before anything is read.
      const refused = await withWorker(async (unlisted) =>
        approveIfAsked<DynamoDbImportDetails>(await startDynamoDbImport(unlisted.client, unlisted.taskQueue, importInput(instance, native.url, feedback))),
      );
      const handle = await startDynamoDbImport(client, taskQueue, importInput(instance, native.url, feedback));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbImportPlan;
      await approveAs(handle, 'alice');
      return { refused, result: await handle.result(), plan };
    }, { overrides: { approvals, allowedSourceBuckets: [exportsBucket] } });

    expect(refused.asked).toBe(false);
    expect(messages(refused.failure)).toMatch(new RegExp(`bucket ${exportsBucket} is neither the backup bucket ${config.aws.backupBucket} nor listed in VCP_ALLOWED_SOURCE_BUCKETS`));
    expect(plan).toMatchObject({
      kind: 'native-export',
      sourceBucket: exportsBucket,
      tables: [{ targetTable: feedback, backupItems: 130, targetItemsBefore: 0 }],
      nativeExport: {
        url: native.url,
        exportArn: expect.stringContaining(`/export/${native.exportId}`) as unknown,
        tableName: 'feedback-prod',
        itemCount: 130,
        files: 4,
        summarySha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
        filesManifestSha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      },
    });
    expect(result.outcome, result.reason).toBe('succeeded');
    expect(result.details!.verified).toEqual([expect.objectContaining({ tableName: feedback, backupItems: 130, restoredItems: 130 })]);
    // Every table of the instance: feedback holds exactly the source's items, the others are as they were.
    expectSameItems(await instanceItems(dynamodb, instance), { ...others, feedback: source });
  });

  it('a tampered data file (a line removed, or one byte changed), or items whose key does not fit the target, are refused before any write; every table of the instance is unchanged', async () => {
    const instance = uniqueInstance('ddb-native-bad');
    await seedForTest(instance, { sizes: { users: 4, matches: 3, feedback: 0 } });
    const feedback = `feedback-${instance}`;
    const before = await instanceItems(dynamodb, instance);
    const build = () => {
      const native = buildNativeExport({ bucket: config.aws.backupBucket, prefix: `native/${instance}`, tableName: feedback, items: everyTypeItems(60), files: 3 });
      return { native, victim: native.dataKeys[1]! };
    };
    // One line removed from the second data file and recompressed; the manifests unchanged.
    const lineRemoved = build();
    const lines = gunzipSync(lineRemoved.native.objects.get(lineRemoved.victim)!).toString('utf8').split('\n');
    lineRemoved.native.objects.set(lineRemoved.victim, gzipSync(lines.slice(1).join('\n')));
    // One byte of the second data file's compressed bytes changed.
    const byteChanged = build();
    const bytes = Buffer.from(byteChanged.native.objects.get(byteChanged.victim)!);
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x20, at);
    byteChanged.native.objects.set(byteChanged.victim, bytes);
    // Whole and consistent, but its items' key is a number where the target's is a string: DynamoDB would reject them mid-import.
    const wrongKey = buildNativeExport({
      bucket: config.aws.backupBucket,
      prefix: `native/${instance}`,
      tableName: feedback,
      items: everyTypeItems(30).map((item, i) => ({ ...item, feedback_id: { N: String(i) } })),
    });
    await putNativeExport(s3, lineRemoved.native);
    await putNativeExport(s3, byteChanged.native);
    await putNativeExport(s3, wrongKey);

    const failures = await withWorker(async ({ client, taskQueue }) => {
      const out: { asked: boolean; failure?: unknown }[] = [];
      for (const native of [lineRemoved.native, byteChanged.native, wrongKey]) {
        out.push(await approveIfAsked<DynamoDbImportDetails>(await startDynamoDbImport(client, taskQueue, importInput(instance, native.url, feedback))));
      }
      return out;
    }, { overrides: { approvals } });

    expect(failures.map((f) => f.asked)).toEqual([false, false, false]);
    expect(messages(failures[0]!.failure)).toMatch(new RegExp(`data file ${lineRemoved.victim.replace(/[.]/g, '\\.')} has MD5 \\S+, manifest-files.json says \\S+: altered or incomplete`));
    expect(messages(failures[1]!.failure)).toMatch(new RegExp(`data file ${byteChanged.victim.replace(/[.]/g, '\\.')} (has MD5 \\S+, manifest-files.json says|is not a whole gzip file)`));
    expect(messages(failures[2]!.failure)).toMatch(/item 1: feedback_id is of type N, the table defines it as S/);
    expect(await stagedManifests(instance)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });
});
