/**
 * Items DynamoDB would reject never make an import retry: a backup item whose key attribute has
 * another type than its table defines is refused by the verify step, before any write, naming its
 * chunk and line; and a ValidationException from DynamoDB fails the import step on its first attempt
 * (it used to be retried until the attempts ran out: the failure was typed DynamoDBServiceException).
 * Real Temporal, dynalite, moto, API server and simulators.
 */
import { BatchWriteItemCommand, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { readChunk } from '../activities/aws/backup-chunks';
import { ItemDigest } from '../activities/aws/dynamodb-items';
import { startDynamoDbExport, startDynamoDbImport } from '../client/runbooks';
import { addDigests, parseS3Url } from '../common/dynamodb-backup';
import type { BackupManifest, DynamoDbImportDetails, DynamoDbImportInput } from '../common/dynamodb-backup';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals } from '../test-support/approvers';
import { rewriteManifest } from '../test-support/backups';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import { approveIfAsked, messages } from '../test-support/recovery';
import { expectSameItems } from '../test-support/recovery-run';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, directStagingArea, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const requestedBy = { user: 'bob', via: 'test' as const };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function importInput(instance: string, from: string, tables: string[]): DynamoDbImportInput {
  return { instance, from, tables, options: { requestedBy, reason: 'restore' } };
}

async function emptyUsers(table: string): Promise<void> {
  const keys = [...(await tableItems(dynamodb, table)).values()].map((item) => ({ DeleteRequest: { Key: { user_id: item.user_id! } } }));
  for (let i = 0; i < keys.length; i += 25) await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: keys.slice(i, i + 25) } }));
}

/**
 * A copy of the backup at `url` whose table `tableName` has, on line 3 of its first chunk, its key
 * attribute as a number: the chunk re-uploaded and the manifest's checksums and digests made to
 * match, so every integrity check of the backup passes. Returns the copy's URL and the chunk's key.
 */
async function withNumericKeyOnLine3(url: string, tableName: string): Promise<{ url: string; chunkKey: string }> {
  const { bucket, key } = parseS3Url(url);
  const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as BackupManifest;
  const table = manifest.tables.find((t) => t.tableName === tableName)!;
  const first = table.segments[0]!.chunks[0]!;
  const lines = gunzipSync(Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: first.key }))).Body!.transformToByteArray()))
    .toString('utf8')
    .split('\n');
  lines[2] = JSON.stringify({ ...(JSON.parse(lines[2]!) as object), user_id: { N: '3' } });
  const data = gzipSync(lines.join('\n'));
  const chunkKey = first.key.replace(/\.json\.gz$/, `-numeric-key-${randomBytes(3).toString('hex')}.json.gz`);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: chunkKey, Body: data }));
  Object.assign(first, { key: chunkKey, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
  // The digests over the items as they now are: only the key's type tells this backup is wrong.
  for (const segment of table.segments) {
    const digest = new ItemDigest();
    for (const chunk of segment.chunks) for (const item of await readChunk(s3, bucket, chunk)) digest.add(item);
    segment.digest = digest.digest;
  }
  table.digest = addDigests(...table.segments.map((s) => s.digest));
  return { url: await rewriteManifest(s3, url, (m) => Object.assign(m, { tables: manifest.tables })), chunkKey };
}

describe('DynamoDB import of items DynamoDB would reject', { timeout: 300_000 }, () => {
  it('a backup item whose key has another type than the table defines is refused before any write, naming its chunk and line, on the first attempt', async () => {
    const instance = uniqueInstance('ddb-imp-keytype');
    await seedForTest(instance, { sizes: { users: 30, matches: 1, feedback: 1 } });
    const users = `users-${instance}`;
    let importAttempts = 0;
    let verifyAttempts = 0;
    const real = createActivities({ ...aws, approvals, staging: directStagingArea(aws) });
    const { failure, before, chunkKey } = await withWorker(
      async ({ client, taskQueue }) => {
        const exported = await (await startDynamoDbExport(client, taskQueue, { instance, tables: [users], options: { requestedBy } })).result();
        const tampered = await withNumericKeyOnLine3(exported.details!.backup.url, users);
        await emptyUsers(users);
        const before = await instanceItems(dynamodb, instance);
        verifyAttempts = 0; // the export verified its own backup
        const ended = await approveIfAsked<DynamoDbImportDetails>(await startDynamoDbImport(client, taskQueue, importInput(instance, tampered.url, [users])));
        return { failure: ended.failure, before, chunkKey: tampered.chunkKey };
      },
      {
        overrides: { approvals },
        extraActivities: {
          verifyBackupTable: (args: Parameters<typeof real.verifyBackupTable>[0]) => {
            verifyAttempts++;
            return real.verifyBackupTable(args);
          },
          importBackupSegment: (args: Parameters<typeof real.importBackupSegment>[0]) => {
            importAttempts++;
            return real.importBackupSegment(args);
          },
        },
      },
    );
    expect(messages(failure)).toContain(`chunk ${chunkKey} line 3: user_id is of type N, the table defines it as S`);
    expect(verifyAttempts).toBe(1);
    expect(importAttempts).toBe(0);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a ValidationException from DynamoDB fails the import step on its first attempt, typed by its code', async () => {
    const instance = uniqueInstance('ddb-imp-valid');
    await seedForTest(instance, { sizes: { users: 5, matches: 1, feedback: 1 } });
    const users = `users-${instance}`;
    let calls = 0;
    const { failure, stillRunning } = await withWorker(
      async ({ client, taskQueue }) => {
        const exported = await (await startDynamoDbExport(client, taskQueue, { instance, tables: [users], options: { requestedBy } })).result();
        await emptyUsers(users);
        const handle = await startDynamoDbImport(client, taskQueue, importInput(instance, exported.details!.backup.url, [users]));
        // Retried, the step would take minutes (20 attempts, up to 30 s apart): 45 s tell one attempt from retries.
        const ended = await Promise.race([approveIfAsked(handle), new Promise<undefined>((resolve) => setTimeout(resolve, 45_000, undefined))]);
        if (!ended) await handle.terminate('the import step is being retried');
        return { failure: ended?.failure, stillRunning: !ended };
      },
      {
        overrides: { approvals },
        extraActivities: {
          // What DynamoDB says to an item whose key does not match the schema (dynalite's own answer).
          importBackupSegment: async () => {
            calls++;
            await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [users]: [{ PutRequest: { Item: { user_id: { N: '1' } } } }] } }));
            throw new Error('dynalite accepted an item whose key does not match the schema');
          },
        },
      },
    );
    expect(stillRunning).toBe(false);
    expect(calls).toBe(1);
    expect(messages(failure)).toMatch(/The provided key element does not match the schema/);
    expect(JSON.stringify(failure, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message } : v))).toContain('"type":"ValidationException"');
    // The base class AWS SDK v3 throws it as: Temporal would have typed the failure by this name.
    expect(DynamoDBServiceException.name).toBe('DynamoDBServiceException');
  });
});
