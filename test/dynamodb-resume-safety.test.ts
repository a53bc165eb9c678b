/**
 * `resumeFrom` imports a backup over whatever the tables hold, so it runs only where they hold
 * nothing but part of that very backup, and what it imports is what was approved: the manifest's
 * SHA-256, bucket, instance and the claim spec to recreate. Real Temporal, dynalite, moto, API
 * server and simulators.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDbExport, startDynamoDbRecovery } from '../client/runbooks';
import { parseS3Url } from '../common/dynamodb-backup';
import type { DynamoDbRecoveryDetails, DynamoDbRecoveryInput, DynamoDbRecoveryPlan } from '../common/dynamodb-backup';
import { instanceTableNames } from '../common/instance';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { capturedClaim, deleteClaimAndWait, rewriteManifest } from '../test-support/backups';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import type { ItemsByCanonicalText } from '../test-support/dynamodb';
import { approveIfAsked, instanceState, messages, readClaim } from '../test-support/recovery';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { kube, dynamodb, s3 } = aws;
const sizes = { users: 9, matches: 4, feedback: 3 };
// Where a test deletes the claim itself (as a recovery that failed after the delete leaves it),
// automated sync is off, as that recovery would have left it: self-heal would re-create the claim.
const claimDeletedLater = { sizes, automatedSync: false };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, extra: Partial<DynamoDbRecoveryInput> = {}): DynamoDbRecoveryInput {
  return { instance, options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'finish the recovery' }, claimTimeoutMs: 120_000, ...extra };
}

function expectSameItems(after: Record<string, ItemsByCanonicalText>, before: Record<string, ItemsByCanonicalText>) {
  for (const base of Object.keys(before)) {
    expect(after[base]!.size, `${base} item count`).toBe(before[base]!.size);
    for (const [key, item] of before[base]!) expect(after[base]!.get(key), `${base} item ${key.slice(0, 60)}`).toEqual(item);
  }
}

async function exportOf(client: Client, taskQueue: string, instance: string, tables?: string[]): Promise<string> {
  const handle = await startDynamoDbExport(client, taskQueue, { instance, tables, options: { requestedBy: { user: 'bob', via: 'test' } } });
  return ((await handle.result())).details!.backup.url;
}

/** A backup as a recovery leaves it: with the claim it was taken of and the tables that claim owned. */
async function recoveryBackupOf(client: Client, taskQueue: string, instance: string, tables?: string[]): Promise<string> {
  const claim = await capturedClaim(kube, instance);
  return rewriteManifest(s3, await exportOf(client, taskQueue, instance, tables), (m) => {
    m.claim = claim;
    m.ownedTables = tables ?? instanceTableNames(instance);
  });
}

describe('resuming a DynamoDB recovery', { timeout: 240_000 }, () => {
  it('on a healthy instance whose claim was never deleted: refused before anything changes; items written since the backup keep their values', async () => {
    const instance = uniqueInstance('ddb-resume-live');
    await seedForTest(instance, { sizes });
    const ended = await withWorker(async ({ client, taskQueue }) => {
      const url = await exportOf(client, taskQueue, instance);
      // The instance lives on after the backup: one user changes.
      const [someUser] = [...(await tableItems(dynamodb, `users-${instance}`)).values()];
      await dynamodb.send(new PutItemCommand({ TableName: `users-${instance}`, Item: { ...someUser!, name: { S: 'changed after the backup' } } }));
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { resumeFrom: url }));
      return approveIfAsked<DynamoDbRecoveryDetails>(handle);
    }, { overrides: { approvals } });
    expect(ended.asked).toBe(false);
    expect(ended.failure).toBeInstanceOf(WorkflowFailedError);
    expect(messages(ended.failure)).toMatch(/resume refused, nothing changed: claim \S+ \(uid \S+\) exists and was not recreated by a recovery from s3:\/\/\S+ \(SHA-256 [0-9a-f]{64}\): resuming would import old items over live data/);
    const users = [...(await tableItems(dynamodb, `users-${instance}`)).values()];
    expect(users.filter((u) => u.name?.S === 'changed after the backup')).toHaveLength(1);
  });

  it('with a backup that lacks a table the recreated claim creates: refused with the reason, the claim is not recreated', async () => {
    const instance = uniqueInstance('ddb-resume-lacks');
    await seedForTest(instance, claimDeletedLater);
    const ended = await withWorker(async ({ client, taskQueue }) => {
      const url = await recoveryBackupOf(client, taskQueue, instance, [`users-${instance}`]);
      await deleteClaimAndWait(kube, dynamodb, instance);
      return approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance, { resumeFrom: url })));
    }, { overrides: { approvals } });
    expect(ended.asked).toBe(false);
    expect(messages(ended.failure)).toMatch(new RegExp(`has no backup of matches-${instance}, feedback-${instance}, which the recreated claim owns: they would be left empty`));
    expect(await readClaim(kube, instance)).toBeUndefined();
  });

  it('into a claim whose restore from that backup already finished: refused (its tables have been live since)', async () => {
    const instance = uniqueInstance('ddb-resume-done');
    await seedForTest(instance, { sizes });
    const ended = await withWorker(async ({ client, taskQueue }) => {
      const recovery = await startDynamoDbRecovery(client, taskQueue, input(instance));
      await awaitApprovalGate(recovery);
      await approveAs(recovery, 'alice');
      const done = (await recovery.result());
      expect(done.outcome, done.reason).toBe('succeeded');
      // The claim was recreated from that backup and says so; the restore finished.
      expect((await readClaim(kube, instance))?.metadata.annotations?.['vcp-runbooks.io/restored-from']).toBe(done.details!.backup.url);
      return approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance, { resumeFrom: done.details!.backup.url })));
    }, { overrides: { approvals } });
    expect(ended.asked).toBe(false);
    expect(messages(ended.failure)).toMatch(/the restore from s3:\/\/\S+ into claim \S+ \(uid \S+\) already finished and its tables have been live since/);
  });

  it('the plan names the manifest SHA-256, bucket and claim spec; a manifest changed after the approval is refused and nothing is recreated', async () => {
    const instance = uniqueInstance('ddb-resume-swap');
    await seedForTest(instance, claimDeletedLater);
    const state = await instanceState(kube, instance);
    const failure = await withWorker(async ({ client, taskQueue }) => {
      const url = await recoveryBackupOf(client, taskQueue, instance);
      const claim = await capturedClaim(kube, instance);
      await deleteClaimAndWait(kube, dynamodb, instance);
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { resumeFrom: url }));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbRecoveryPlan;
      const { bucket, key } = parseS3Url(url);
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
      expect(plan.source).toMatchObject({ url, bucket, manifestKey: key, manifestSha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, instance });
      expect(plan.claim).toMatchObject({ action: 'recreate', spec: claim.spec, labels: claim.labels, uid: '' });
      expect(plan.tables.map((t) => [t.tableName, t.exists, t.deletedBy, t.backupItems])).toEqual([
        [`users-${instance}`, false, 'none', sizes.users],
        [`matches-${instance}`, false, 'none', sizes.matches],
        [`feedback-${instance}`, false, 'none', sizes.feedback],
      ]);
      // Someone replaces the manifest while the run waits for approval.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.concat([body, Buffer.from('\n')]) }));
      await approveAs(handle, 'alice');
      return handle.result().then(() => undefined, (err: unknown) => err);
    }, { overrides: { approvals } });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(messages(failure)).toMatch(/manifest s3:\/\/\S+ has SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
    expect(messages(failure)).not.toMatch(/CLAIM WAS DELETED/);
    expect(await readClaim(kube, instance)).toBeUndefined();
    expect((await instanceState(kube, instance)).writers).toEqual(state.writers);
  });

  it('from another instance\'s backup: refused unless allowOtherInstance; allowed, it recreates this instance\'s claim and restores the tables by base name', async () => {
    const source = uniqueInstance('ddb-resume-src');
    const target = uniqueInstance('ddb-resume-dst');
    await seedForTest(source, { sizes });
    await seedForTest(target, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const sourceItems = await instanceItems(dynamodb, source);
    const { refused, result } = await withWorker(async ({ client, taskQueue }) => {
      const url = await recoveryBackupOf(client, taskQueue, source);
      await deleteClaimAndWait(kube, dynamodb, target);
      const refused = await approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(target, { resumeFrom: url })));
      const handle = await startDynamoDbRecovery(client, taskQueue, input(target, { resumeFrom: url, allowOtherInstance: true }));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbRecoveryPlan;
      expect(plan.source?.instance).toBe(source);
      expect(plan.source?.tables.map((t) => [t.tableName, t.targetTable])).toEqual(['users', 'matches', 'feedback'].map((b) => [`${b}-${source}`, `${b}-${target}`]));
      expect((plan.claim.spec.parameters as { instance: string }).instance).toBe(target);
      await approveAs(handle, 'alice');
      return { refused, result: (await handle.result()) };
    }, { overrides: { approvals } });
    expect(refused.asked).toBe(false);
    expect(messages(refused.failure)).toMatch(new RegExp(`is a backup of instance ${source}, not ${target}: pass allowOtherInstance`));
    expect(result.outcome, result.reason).toBe('succeeded');
    expectSameItems(await instanceItems(dynamodb, target), sourceItems);
    expect((await readClaim(kube, target))?.spec.parameters.instance).toBe(target);
  });

  it('from a bucket that is neither the backup bucket nor listed in VCP_ALLOWED_SOURCE_BUCKETS: refused before anything changes', async () => {
    const instance = uniqueInstance('ddb-resume-bucket');
    await seedForTest(instance, claimDeletedLater);
    const elsewhere = `vcp-elsewhere-${instance}`.slice(0, 63);
    await ensureBackupBucket(s3, elsewhere);
    const ended = await withWorker(async ({ client, taskQueue }) => {
      const url = await rewriteManifest(s3, await recoveryBackupOf(client, taskQueue, instance), () => undefined, elsewhere);
      await deleteClaimAndWait(kube, dynamodb, instance);
      return approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance, { resumeFrom: url })));
    }, { overrides: { approvals } });
    expect(ended.asked).toBe(false);
    expect(messages(ended.failure)).toMatch(new RegExp(`bucket ${elsewhere} is neither the backup bucket ${config.aws.backupBucket} nor listed in VCP_ALLOWED_SOURCE_BUCKETS`));
    expect(await readClaim(kube, instance)).toBeUndefined();
  });
});
