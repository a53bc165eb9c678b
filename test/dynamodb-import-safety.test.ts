/**
 * What `import-dynamodb` overwrites is what was approved, and it proves afterwards that nothing the
 * targets held was lost: targets are checked again after the approval, a target that held items is
 * verified item by item, and the manifest (SHA-256, bucket, instance) is the one the plan showed.
 * Real Temporal, dynalite, moto, API server and simulators.
 */
import { BatchWriteItemCommand, DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { startDynamoDbExport, startDynamoDbImport } from '../client/runbooks';
import { parseS3Url } from '../common/dynamodb-backup';
import type { DynamoDbImportInput } from '../common/dynamodb-backup';
import { ensureBackupBucket } from '../scripts/seed/aws';
import type { DynamoDbImportDetails, DynamoDbImportPlan } from '../common/dynamodb-backup';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { rewriteManifest } from '../test-support/backups';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import type { ItemsByCanonicalText } from '../test-support/dynamodb';
import { approveIfAsked, messages } from '../test-support/recovery';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, directStagingArea, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const requestedBy = { user: 'bob', via: 'test' as const };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

type Item = Record<string, AttributeValue>;

function importInput(instance: string, from: string, extra: Partial<DynamoDbImportInput> = {}): DynamoDbImportInput {
  return { instance, from, options: { requestedBy, reason: 'restore' }, ...extra };
}

async function exportOf(client: Client, taskQueue: string, instance: string, tables?: string[]): Promise<string> {
  const handle = await startDynamoDbExport(client, taskQueue, { instance, tables, options: { requestedBy } });
  return ((await handle.result())).details!.backup.url;
}

async function emptyUsers(table: string): Promise<void> {
  const keys = [...(await tableItems(dynamodb, table)).values()].map((item) => ({ DeleteRequest: { Key: { user_id: item.user_id! } } }));
  for (let i = 0; i < keys.length; i += 25) await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: keys.slice(i, i + 25) } }));
}

function newUser(id: string): Item {
  return { user_id: { S: id }, email: { S: `${id}@example.com` }, name: { S: `written later ${id}` } };
}

function expectContains(table: ItemsByCanonicalText, items: Iterable<Item>, what: string) {
  for (const item of items) expect([...table.values()], what).toContainEqual(item);
}

describe('DynamoDB import safety', { timeout: 240_000 }, () => {
  it('a target that fills up while the run waits for approval is refused after the approval; its items are untouched', async () => {
    const instance = uniqueInstance('ddb-imp-fill');
    await seedForTest(instance, { sizes: { users: 10, matches: 1, feedback: 1 } });
    const users = `users-${instance}`;
    const failure = await withWorker(async ({ client, taskQueue }) => {
      const url = await exportOf(client, taskQueue, instance, [users]);
      await emptyUsers(users);
      const handle = await startDynamoDbImport(client, taskQueue, importInput(instance, url, { tables: [users] }));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbImportPlan;
      expect(plan.tables).toEqual([{ tableName: users, targetTable: users, backupItems: 10, targetItemsBefore: 0, overwritesSameKeyItems: false }]);
      // The API writes while the approver reads the plan.
      for (const id of ['late-1', 'late-2', 'late-3']) await dynamodb.send(new PutItemCommand({ TableName: users, Item: newUser(id) }));
      await approveAs(handle, 'alice');
      return handle.result().then(() => undefined, (err: unknown) => err);
    }, { overrides: { approvals } });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(messages(failure)).toMatch(new RegExp(`${users} now holds 3 items, empty when the plan was approved: nothing imported`));
    const after = await tableItems(dynamodb, users);
    expect(after.size).toBe(3);
    expectContains(after, ['late-1', 'late-2', 'late-3'].map(newUser), 'items written while waiting');
  });

  it('--allow-non-empty: the plan says what each target holds and that same-key items are overwritten; afterwards every backup item is there, equal, and nothing else was lost', async () => {
    const instance = uniqueInstance('ddb-imp-merge');
    await seedForTest(instance, { sizes: { users: 10, matches: 1, feedback: 1 } });
    const users = `users-${instance}`;
    const { merged, lossy, backupItems, kept } = await withWorker(async ({ client, taskQueue }) => {
      const url = await exportOf(client, taskQueue, instance, [users]);
      const backupItems = [...(await tableItems(dynamodb, users)).values()];
      // Since the backup: two users deleted, two changed, four added.
      for (const item of backupItems.slice(0, 2)) await dynamodb.send(new DeleteItemCommand({ TableName: users, Key: { user_id: item.user_id! } }));
      for (const item of backupItems.slice(2, 4)) await dynamodb.send(new PutItemCommand({ TableName: users, Item: { ...item, name: { S: 'changed since' } } }));
      const kept = ['new-1', 'new-2', 'new-3', 'new-4'].map(newUser);
      for (const item of kept) await dynamodb.send(new PutItemCommand({ TableName: users, Item: item }));

      const handle = await startDynamoDbImport(client, taskQueue, importInput(instance, url, { tables: [users], allowNonEmptyTargets: true }));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbImportPlan;
      expect(plan.tables).toEqual([{ tableName: users, targetTable: users, backupItems: 10, targetItemsBefore: 12, overwritesSameKeyItems: true }]);
      await approveAs(handle, 'alice');
      const merged = (await handle.result());
      return { merged, backupItems, kept, lossy: await lossyImport(url, users, kept[0]!, backupItems[5]!) };
    }, { overrides: { approvals } });

    expect(merged.outcome, merged.reason).toBe('succeeded');
    expect(merged.details!.merged).toEqual([expect.objectContaining({ targetTable: users, backupItems: 10, itemsBefore: 12, itemsAfter: 14, missing: 0, differing: 0 })]);
    expect(merged.details!.verified).toEqual([]);

    // The same import, but an item the backup does not hold is lost and a restored one altered meanwhile: the verification says so.
    expect(lossy).toBeInstanceOf(WorkflowFailedError);
    expect(messages(lossy)).toMatch(new RegExp(`${users}: 13 items after, 14 before; 0 backup items missing, 1 differ`));
    const after = await tableItems(dynamodb, users);
    expectContains(after, kept.slice(1), 'items the backup does not hold');
    expectContains(after, backupItems.filter((_, i) => i !== 5), 'backup items');
  });

  it('a manifest of another instance is refused unless allowOtherInstance; allowed, it imports into this instance\'s tables by base name', async () => {
    const source = uniqueInstance('ddb-imp-src');
    const target = uniqueInstance('ddb-imp-dst');
    await seedForTest(source, { sizes: { users: 7, matches: 3, feedback: 2 } });
    await seedForTest(target, { sizes: { users: 0, matches: 0, feedback: 0 } });
    const sourceItems = await instanceItems(dynamodb, source);
    const { refused, imported } = await withWorker(async ({ client, taskQueue }) => {
      const url = await exportOf(client, taskQueue, source);
      const refused = await approveIfAsked<DynamoDbImportDetails>(await startDynamoDbImport(client, taskQueue, importInput(target, url)));
      const handle = await startDynamoDbImport(client, taskQueue, importInput(target, url, { allowOtherInstance: true }));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbImportPlan;
      expect(plan.manifest.instance).toBe(source);
      expect(plan.tables.map((t) => [t.tableName, t.targetTable, t.targetItemsBefore])).toEqual(['users', 'matches', 'feedback'].map((b) => [`${b}-${source}`, `${b}-${target}`, 0]));
      await approveAs(handle, 'alice');
      return { refused, imported: (await handle.result()) };
    }, { overrides: { approvals } });
    expect(refused.asked).toBe(false);
    expect(messages(refused.failure)).toMatch(new RegExp(`is a backup of instance ${source}, not ${target}: pass allowOtherInstance \\(CLI: --from-other-instance\\)`));
    expect(imported.outcome, imported.reason).toBe('succeeded');
    const after = await instanceItems(dynamodb, target);
    for (const base of Object.keys(sourceItems)) {
      expect(after[base]!.size, base).toBe(sourceItems[base]!.size);
      expectContains(after[base]!, sourceItems[base]!.values(), base);
    }
    // The source instance's tables were only read.
    expect((await instanceItems(dynamodb, source)).users!.size).toBe(7);
  });

  it('the plan names the source bucket and manifest SHA-256; another bucket is refused unless listed; a manifest changed after the approval is refused and nothing is written', async () => {
    const instance = uniqueInstance('ddb-imp-pin');
    await seedForTest(instance, { sizes: { users: 6, matches: 1, feedback: 1 } });
    const users = `users-${instance}`;
    const elsewhere = `vcp-elsewhere-${instance}`.slice(0, 63);
    await ensureBackupBucket(s3, elsewhere);
    const { refusedBucket, planned, swapped } = await withWorker(async ({ client, taskQueue }) => {
      const url = await exportOf(client, taskQueue, instance, [users]);
      await emptyUsers(users);
      const copy = await rewriteManifest(s3, url, () => undefined, elsewhere);
      const refusedBucket = await approveIfAsked<DynamoDbImportDetails>(await startDynamoDbImport(client, taskQueue, importInput(instance, copy)));
      const planned = await withWorker(async (listed) => {
        const handle = await startDynamoDbImport(listed.client, listed.taskQueue, importInput(instance, copy, { options: { requestedBy, dryRun: true } }));
        return (await handle.result());
      }, { overrides: { allowedSourceBuckets: [elsewhere] } });

      const handle = await startDynamoDbImport(client, taskQueue, importInput(instance, url));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbImportPlan;
      const { bucket, key } = parseS3Url(url);
      expect(plan).toMatchObject({ sourceBucket: bucket, manifest: { url, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, instance } });
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.concat([body, Buffer.from(' ')]) }));
      await approveAs(handle, 'alice');
      return { refusedBucket, planned, swapped: await handle.result().then(() => undefined, (err: unknown) => err) };
    }, { overrides: { approvals } });
    expect(refusedBucket.asked).toBe(false);
    expect(messages(refusedBucket.failure)).toMatch(new RegExp(`bucket ${elsewhere} is neither the backup bucket ${config.aws.backupBucket} nor listed in VCP_ALLOWED_SOURCE_BUCKETS`));
    expect(planned.outcome).toBe('planned');
    expect(planned.plan).toMatchObject({ sourceBucket: elsewhere, manifest: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown } });
    expect(swapped).toBeInstanceOf(WorkflowFailedError);
    expect(messages(swapped)).toMatch(/manifest s3:\/\/\S+ has SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
    expect((await tableItems(dynamodb, users)).size).toBe(0);
  });
});

/** The same import again, while an item the backup does not hold is deleted and a restored one altered just after the import writes. */
async function lossyImport(url: string, table: string, notInBackup: Item, inBackup: Item): Promise<unknown> {
  const real = createActivities({ ...aws, approvals, staging: directStagingArea(aws) });
  const importBackupSegment = async (args: Parameters<typeof real.importBackupSegment>[0]) => {
    const result = await real.importBackupSegment(args);
    await dynamodb.send(new DeleteItemCommand({ TableName: table, Key: { user_id: notInBackup.user_id! } }));
    await dynamodb.send(new PutItemCommand({ TableName: table, Item: { ...inBackup, name: { S: 'altered during the import' } } }));
    return result;
  };
  return withWorker(async ({ client, taskQueue }) => {
    const handle = await startDynamoDbImport(client, taskQueue, importInput(table.replace(/^users-/, ''), url, { tables: [table], allowNonEmptyTargets: true }));
    await awaitApprovalGate(handle);
    await approveAs(handle, 'alice');
    return handle.result().then(() => undefined, (err: unknown) => err);
  }, { overrides: { approvals }, extraActivities: { importBackupSegment } });
}
