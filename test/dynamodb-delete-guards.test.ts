/**
 * The activities that delete DynamoDB data check the backup themselves, whoever schedules them (a
 * workflow that skipped a step, or a client polling the task queue with its own worker): called
 * directly with a missing, incomplete, unverified, altered or foreign backup they delete nothing.
 * Real API server, simulated Crossplane, dynalite and moto.
 */
import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbBackupActivities } from '../activities/aws/dynamodb-backup';
import { createDynamoDbClaimActivities } from '../activities/kubernetes/dynamodb-claim';
import { verificationKey } from '../common/dynamodb-backup';
import type { BackupRef } from '../common/dynamodb-backup';
import { instanceTableNames } from '../common/instance';
import { ensureBackupBucket, writeItems } from '../scripts/seed/aws';
import { waitFor } from '../platform-sim/seed';
import { backupByActivities } from '../test-support/backups';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import { addOwnedTable, readClaim } from '../test-support/recovery';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance } from '../test-support/stack';

const aws = awsClients();
const { kube, dynamodb, s3 } = aws;

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

/** The error an activity call ends with ('' when it succeeds). */
async function refusal(call: () => Promise<unknown>): Promise<string> {
  return call().then(
    () => '',
    (err: unknown) => `${err instanceof Error ? `${(err as { type?: string }).type ?? err.name}: ${err.message}` : String(err)}`,
  );
}

describe('the DynamoDB delete activities require a verified backup', { timeout: 120_000 }, () => {
  it('deleteDynamoDbClaim refuses without this run\'s verified backup of every table the live claim owns, and deletes with it', async () => {
    const instance = uniqueInstance('ddb-guard');
    await seedForTest(instance, { sizes: { users: 6, matches: 4, feedback: 3 } });
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);
    const recovery = createDynamoDbClaimActivities(aws);
    const tables = instanceTableNames(instance);
    const uid = (await readClaim(kube, instance))!.metadata.uid!;
    const before = await instanceItems(dynamodb, instance);
    const attempt = (backup: BackupRef | undefined) => refusal(() => run(() => recovery.deleteDynamoDbClaim({ instance, uid, backup: backup as BackupRef })));

    const complete = await backupByActivities(env, aws, instance, tables);
    const usersOnly = await backupByActivities(env, aws, instance, [`users-${instance}`]);
    const unverified = await backupByActivities(env, aws, instance, tables, { verify: false });
    const otherRun = await backupByActivities(new MockActivityEnvironment({ workflowExecution: { workflowId: 'destructive/elsewhere', runId: 'another-run' } }), aws, instance, tables);
    const oneRecordGone = await backupByActivities(env, aws, instance, tables);
    await s3.send(new DeleteObjectCommand({ Bucket: oneRecordGone.bucket, Key: verificationKey(oneRecordGone.manifestKey, `feedback-${instance}`) }));

    expect(await attempt(undefined)).toMatch(/^BackupNotVerified: refusing to delete claim .*: no verified backup given/);
    expect(await attempt({ bucket: complete.bucket, manifestKey: complete.manifestKey, manifestSha256: '' })).toMatch(/no verified backup given/);
    expect(await attempt(usersOnly)).toMatch(new RegExp(`the backup has no matches-${instance}, feedback-${instance}$`));
    expect(await attempt(unverified)).toMatch(new RegExp(`the backup of users-${instance}, matches-${instance}, feedback-${instance} was not verified by this run$`));
    expect(await attempt(oneRecordGone)).toMatch(new RegExp(`the backup of feedback-${instance} was not verified by this run$`));
    expect(await attempt({ ...complete, manifestSha256: '0'.repeat(64) })).toMatch(/manifest .* has SHA-256 [0-9a-f]{64}, expected 0{64}/);
    expect(await attempt(otherRun)).toMatch(/the backup was taken by run another-run, not by this run/);
    expect(await attempt({ ...complete, bucket: 'some-other-bucket' })).toMatch(/the backup is in some-other-bucket, not in the backup bucket/);

    // The claim now owns a fourth table the complete backup does not hold: still refused.
    const audit = await addOwnedTable(kube, dynamodb, instance, 'audit', 3);
    expect(await attempt(complete)).toMatch(new RegExp(`which owns .*${audit}: the backup has no ${audit}$`));

    // Nothing was deleted by any refused call.
    expect((await readClaim(kube, instance))?.metadata.uid).toBe(uid);
    const after = await instanceItems(dynamodb, instance);
    for (const base of Object.keys(before)) expect(after[base]!.size, base).toBe(before[base]!.size);
    expect((await tableItems(dynamodb, audit)).size).toBe(3);

    // With this run's verified backup of all four, the claim is deleted.
    const all = await backupByActivities(env, aws, instance, [...tables, audit]);
    expect(await run(() => recovery.deleteDynamoDbClaim({ instance, uid, backup: all }))).toEqual({ deleted: true });
  });

  it('deleteOrphanedTable refuses unless the table is in this run\'s verified backup, and deletes it when it is', async () => {
    const instance = uniqueInstance('ddb-guard-orphan');
    const tableName = `orphan-${instance}`;
    const other = `other-${instance}`;
    for (const name of [tableName, other]) {
      await dynamodb.send(new CreateTableCommand({ TableName: name, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] }));
      await waitFor(`${name} ACTIVE`, async () => (await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table?.TableStatus === 'ACTIVE');
      await writeItems(dynamodb, name, Array.from({ length: 5 }, (_, i) => ({ id: { S: `item-${i}` }, n: { N: String(i) } })));
    }
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);
    const backups = createDynamoDbBackupActivities(aws);
    const attempt = (backup: BackupRef | undefined) => refusal(() => run(() => backups.deleteOrphanedTable({ tableName, backup: backup as BackupRef })));

    const ofOther = await backupByActivities(env, aws, instance, [other]);
    const unverified = await backupByActivities(env, aws, instance, [tableName], { verify: false });
    expect(await attempt(undefined)).toMatch(new RegExp(`^BackupNotVerified: refusing to delete table ${tableName}: no verified backup given`));
    expect(await attempt(ofOther)).toMatch(new RegExp(`the backup has no ${tableName}$`));
    expect(await attempt(unverified)).toMatch(/was not verified by this run$/);
    expect((await tableItems(dynamodb, tableName)).size).toBe(5);

    const verified = await backupByActivities(env, aws, instance, [tableName]);
    expect(await run(() => backups.deleteOrphanedTable({ tableName, backup: verified }))).toEqual({ deleted: true });
    await waitFor(`${tableName} gone`, () => dynamodb.send(new DescribeTableCommand({ TableName: tableName })).then(() => false, (err: unknown) => err instanceof ResourceNotFoundException));
    await run(() => backups.deleteOrphanedTable({ tableName: other, backup: ofOther }));
  });
});
