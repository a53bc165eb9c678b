/**
 * The standalone DynamoDB export and import runbooks, including the guide's own backup file format
 * (`aws dynamodb scan` output), on the real Temporal server, dynalite and moto.
 */
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalItem, itemToWire } from '../activities/aws/dynamodb-items';
import { startDynamoDbExport, startDynamoDbImport } from '../client/runbooks';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { seedForTest } from '../test-support/seed';
import { tableItems } from '../test-support/dynamodb';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import type { DynamoDbImportPlan } from '../common/dynamodb-backup';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const requestedBy = { user: 'bob', via: 'test' as const };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function feedbackItems(n: number): Record<string, AttributeValue>[] {
  return Array.from({ length: n }, (_, i) => ({
    feedback_id: { S: `fb-${String(i).padStart(4, '0')}` },
    rating: { N: i % 2 === 0 ? '12345678901234567890123456789012345678' : `${i}.5` },
    raw: { B: Uint8Array.from([i % 256, 0, 255]) },
    tags: { SS: ['coffee', `t${i % 3}`] },
    comment: { S: i % 5 === 0 ? '' : `comment ${i} 🚀` },
    nested: { M: { list: { L: [{ NULL: true }, { BOOL: i % 2 === 0 }, { NS: ['1', '2'] }] } } },
  }));
}

describe('DynamoDB export and import runbooks', { timeout: 240_000 }, () => {
  it('exports an instance without approval and imports the manifest into emptied tables: equal item by item', async () => {
    const instance = uniqueInstance('ddb-exp');
    await seedForTest(instance, { sizes: { users: 25, matches: 10, feedback: 5 } });
    const users = `users-${instance}`;
    const before = await tableItems(dynamodb, users);

    const exported = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbExport(client, taskQueue, { instance, export: { chunkMaxItems: 6 }, options: { requestedBy } });
      return (await handle.result());
    });
    expect(exported.outcome).toBe('succeeded');
    expect(exported.details!.backup.items).toBe(40);
    expect(exported.details!.tables.find((t) => t.tableName === users)?.items).toBe(25);

    // Same-key items already present: refused unless allowed, and nothing is written.
    const refusal = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbImport(client, taskQueue, { instance, from: exported.details!.backup.url, tables: [users], options: { requestedBy } });
      return handle.result().then(() => undefined, (err: unknown) => err);
    });
    expect(refusal).toBeInstanceOf(WorkflowFailedError);
    const chain: string[] = [];
    for (let e: unknown = refusal; e instanceof Error; e = e.cause) chain.push(e.message);
    expect(chain.join('\n')).toMatch(new RegExp(`${users} holds 25 items`));

    // Empty the table, then import the backup back.
    const keys = [...before.values()].map((item) => ({ DeleteRequest: { Key: { user_id: item.user_id! } } }));
    for (let i = 0; i < keys.length; i += 25) await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [users]: keys.slice(i, i + 25) } }));
    expect((await tableItems(dynamodb, users)).size).toBe(0);

    const imported = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbImport(client, taskQueue, { instance, from: exported.details!.backup.url, tables: [users], options: { requestedBy } });
      const gate = await awaitApprovalGate(handle);
      expect((gate.plan as DynamoDbImportPlan).tables).toEqual([{ tableName: users, targetTable: users, backupItems: 25, targetItemsBefore: 0, overwritesSameKeyItems: false }]);
      await approveAs(handle, 'alice');
      return (await handle.result());
    }, { overrides: { approvals } });
    expect(imported.outcome, imported.reason).toBe('succeeded');
    expect(imported.details!.verified).toEqual([expect.objectContaining({ tableName: users, backupItems: 25, restoredItems: 25 })]);
    const after = await tableItems(dynamodb, users);
    expect(after.size).toBe(before.size);
    for (const [key, item] of before) expect(after.get(key)).toEqual(item);
  });

  it('imports a file in the `aws dynamodb scan` output format, streamed, every value exact', async () => {
    const instance = uniqueInstance('ddb-scanfile');
    await seedForTest(instance, { sizes: { users: 3, matches: 2, feedback: 0 } });
    const feedback = `feedback-${instance}`;
    const items = feedbackItems(120);
    // What `aws dynamodb scan --table-name T > backup.json` prints: one document, indented by 4.
    const document = JSON.stringify({ Items: items.map(itemToWire), Count: items.length, ScannedCount: items.length, ConsumedCapacity: null }, null, 4);
    const key = `uploads/${instance}/feedback-backup.json`;
    await s3.send(new PutObjectCommand({ Bucket: config.aws.backupBucket, Key: key, Body: document }));

    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbImport(client, taskQueue, { instance, from: `s3://${config.aws.backupBucket}/${key}`, tables: [feedback], options: { requestedBy } });
      const gate = await awaitApprovalGate(handle);
      expect((gate.plan as DynamoDbImportPlan)).toMatchObject({ kind: 'scan-file', tables: [{ targetTable: feedback, backupItems: 120, targetItemsBefore: 0 }] });
      await approveAs(handle, 'alice');
      return (await handle.result());
    }, { overrides: { approvals } });
    expect(result.outcome, result.reason).toBe('succeeded');
    const after = await tableItems(dynamodb, feedback);
    expect(after.size).toBe(items.length);
    for (const item of items) expect(after.get(canonicalItem(item))).toEqual(item);
  });

  it('refuses a scan file without exactly one target table, before starting anything', async () => {
    const instance = uniqueInstance('ddb-bad-input');
    const failure = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbImport(client, taskQueue, { instance, from: `s3://${config.aws.backupBucket}/uploads/x.json`, options: { requestedBy } });
      return handle.result().then(() => undefined, (err: unknown) => err);
    });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(/exactly one table/);
  });
});
