/**
 * Issue 13's data loss: deleting the claim deletes every table it owns, so the recovery backs up,
 * restores and verifies every one of them, whatever `tables` says, and refuses when what it owns
 * changes after the approval. Real Temporal, dynalite, moto, API server, Crossplane and its Table provider.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDbRecovery } from '../client/runbooks';
import type { DynamoDbRecoveryDetails, DynamoDbRecoveryInput, DynamoDbRecoveryPlan } from '../common/dynamodb-backup';
import { progressQuery } from '../common/runbook';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import type { ItemsByCanonicalText } from '../test-support/dynamodb';
import { compositionWithExtraTable } from '../test-support/crossplane';
import { addOwnedTable, approveIfAsked, instanceState, messages } from '../test-support/recovery';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { kube, dynamodb, s3 } = aws;

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, extra: Partial<DynamoDbRecoveryInput> = {}): DynamoDbRecoveryInput {
  return { instance, options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'restore' }, export: { chunkMaxItems: 7 }, claimTimeoutMs: 120_000, ...extra };
}

async function putAuditItems(tableName: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { audit_id: { S: `audit-${String(i).padStart(4, '0')}` }, event: { S: `login ${i}` }, at: { N: String(1_700_000_000 + i) } } }));
  }
}

function expectSameItems(what: string, after: ItemsByCanonicalText, before: ItemsByCanonicalText) {
  expect(after.size, `${what} item count`).toBe(before.size);
  for (const [key, item] of before) expect(after.get(key), `${what} item ${key.slice(0, 60)}`).toEqual(item);
}

describe('DynamoDB recovery covers every table the claim owns', { timeout: 240_000 }, () => {
  it('the issue: `--tables users`, approved, is refused before anything changes, and matches and feedback keep every item', async () => {
    const instance = uniqueInstance('ddb-subset');
    await seedForTest(instance, { sizes: { users: 20, matches: 25, feedback: 15 } });
    const before = await instanceItems(dynamodb, instance);
    const stateBefore = await instanceState(kube, instance);

    const ended = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { tables: [`users-${instance}`] }));
      return approveIfAsked<DynamoDbRecoveryDetails>(handle);
    }, { overrides: { approvals } });

    const after = await instanceItems(dynamodb, instance);
    for (const base of ['users', 'matches', 'feedback']) expectSameItems(`${base}-${instance}`, after[base]!, before[base]!);
    expect(ended.result?.outcome).toBeUndefined();
    expect(ended.asked).toBe(false);
    expect(ended.failure).toBeInstanceOf(WorkflowFailedError);
    expect(messages(ended.failure)).toMatch(new RegExp(`leaves out matches-${instance}, feedback-${instance}: omit tables to recover every owned table`));
    expect(await instanceState(kube, instance)).toEqual(stateBefore);
  });

  it('a fourth Table the composite owns is in the plan with its item count, backed up, deleted with the claim, restored and verified item by item', async () => {
    const instance = uniqueInstance('ddb-fourth');
    // The Composition makes a fourth Table, for the recreated claim's composite too.
    const compositionName = await compositionWithExtraTable(kube, 'audit');
    await seedForTest(instance, { sizes: { users: 12, matches: 5, feedback: 4 }, compositionName });
    const audit = `audit-${instance}`;
    await putAuditItems(audit, 9);
    const before: Record<string, ItemsByCanonicalText> = { ...(await instanceItems(dynamodb, instance)), audit: await tableItems(dynamodb, audit) };
    const claimBefore = (await instanceState(kube, instance)).claimUid;
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbRecoveryPlan;
      expect(plan.tables.map((t) => [t.tableName, t.items, t.deletedBy, t.restored])).toEqual([
        [`users-${instance}`, 12, 'claim', true],
        [`matches-${instance}`, 5, 'claim', true],
        [`feedback-${instance}`, 4, 'claim', true],
        [audit, 9, 'claim', true],
      ]);
      expect(plan.totalItems).toBe(30);
      await approveAs(handle, 'alice');
      return await handle.result();
    }, { overrides: { approvals } });
    expect(result.outcome, result.reason).toBe('succeeded');
    expect(result.details!.tables.map((t) => [t.tableName, t.backupItems, t.restoredItems, t.backupDigest === t.restoredDigest])).toEqual([
      [`users-${instance}`, 12, 12, true],
      [`matches-${instance}`, 5, 5, true],
      [`feedback-${instance}`, 4, 4, true],
      [audit, 9, 9, true],
    ]);
    expect((await instanceState(kube, instance)).claimUid).not.toBe(claimBefore);
    const after: Record<string, ItemsByCanonicalText> = { ...(await instanceItems(dynamodb, instance)), audit: await tableItems(dynamodb, audit) };
    for (const base of Object.keys(before)) expectSameItems(base, after[base]!, before[base]!);
  });

  it('a Table added to the composite after the approval: the delete is refused (the plan no longer holds), nothing is deleted, writers and sync restored', async () => {
    const instance = uniqueInstance('ddb-added');
    await seedForTest(instance, { sizes: { users: 8, matches: 3, feedback: 2 } });
    const before = await instanceItems(dynamodb, instance);
    const stateBefore = await instanceState(kube, instance);
    let audit = '';
    const failure = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { confirmAfterBackup: true }));
      const first = await awaitApprovalGate(handle);
      expect((first.plan as DynamoDbRecoveryPlan).tables).toHaveLength(3);
      await approveAs(handle, 'alice');
      // Between the approval and the delete (held at the confirmation gate), the composite gains a Table.
      for (;;) {
        const p = await handle.query(progressQuery);
        if (p.status === 'AwaitingApproval' && p.approval?.planDigest !== first.approval?.planDigest) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      audit = await addOwnedTable(kube, dynamodb, instance, 'audit', 4);
      await approveAs(handle, 'carol');
      return handle.result().then(() => undefined, (err: unknown) => err);
    }, { overrides: { approvals } });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(messages(failure)).toMatch(/claim .* and the tables it owns changed after the plan was approved/);
    expect(messages(failure)).not.toMatch(/CLAIM WAS DELETED/);
    expect(await instanceState(kube, instance)).toEqual(stateBefore);
    const after = await instanceItems(dynamodb, instance);
    for (const base of Object.keys(before)) expectSameItems(base, after[base]!, before[base]!);
    expect((await tableItems(dynamodb, audit)).size).toBe(4);
  });
});
