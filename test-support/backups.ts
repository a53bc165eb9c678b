/**
 * Backups made by calling the backup activities directly (no workflow), for tests of the activities
 * that delete: a verified backup of the given tables, taken "by the current run" of the
 * MockActivityEnvironment, or one left unverified.
 */
import { DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo } from '@temporalio/activity';
import type { MockActivityEnvironment } from '@temporalio/testing';
import { createDynamoDbBackupActivities } from '../activities/aws/dynamodb-backup';
import type { DynamoDbBackupDeps } from '../activities/aws/dynamodb-backup';
import { getOrUndefined } from '../activities/kubernetes/client';
import type { KubeClients } from '../activities/kubernetes/client';
import { addDigests, BACKUP_FORMAT, parseS3Url, s3Url } from '../common/dynamodb-backup';
import { instanceTableNames } from '../common/instance';
import { DYNAMODB_CLAIM } from '../common/platform';
import type { DynamoDbClaim } from '../common/platform';
import { waitFor } from '../platform-sim/seed';
import type { BackupLocation, BackupManifest } from '../common/dynamodb-backup';
import { randomBytes } from 'node:crypto';

export async function backupByActivities(
  env: MockActivityEnvironment,
  deps: DynamoDbBackupDeps,
  instance: string,
  tableNames: string[],
  options: { verify?: boolean } = {},
): Promise<BackupLocation> {
  const activities = createDynamoDbBackupActivities(deps);
  const inEnv = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);
  const run = await inEnv(() => Promise.resolve(activityInfo().workflowExecution!));
  const prefix = `dynamodb-backups/${instance}/test-${randomBytes(4).toString('hex')}`;
  const snapshots = await inEnv(() => activities.snapshotTables(tableNames));
  const tables = [];
  for (const snapshot of snapshots) {
    const segment = await inEnv(() => activities.exportTableSegment({ tableName: snapshot.tableName, segment: 0, totalSegments: 1, prefix }));
    tables.push({ tableName: snapshot.tableName, definition: snapshot.definition!, items: segment.items, digest: addDigests(segment.digest), segments: [segment] });
  }
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    instance,
    createdAt: new Date().toISOString(),
    createdBy: { workflowId: run.workflowId, runId: run.runId },
    bucket: deps.backupBucket,
    prefix,
    tables,
  };
  const location = await inEnv(() => activities.writeBackupManifest(manifest));
  if (options.verify ?? true) {
    for (const tableName of tableNames) await inEnv(() => activities.verifyBackupTable({ location, tableName, compareWithLiveTable: false }));
  }
  return location;
}

/** A changed copy of a manifest (the chunks stay where they are), under a new key; returns its s3:// URL. */
export async function rewriteManifest(s3: S3Client, url: string, change: (manifest: BackupManifest) => void, bucket?: string): Promise<string> {
  const { bucket: from, key } = parseS3Url(url);
  const body = await s3.send(new GetObjectCommand({ Bucket: from, Key: key }));
  const manifest = JSON.parse(await body.Body!.transformToString()) as BackupManifest;
  change(manifest);
  const newKey = `${key.slice(0, key.lastIndexOf('/'))}/variant-${randomBytes(4).toString('hex')}/manifest.json`;
  await s3.send(new PutObjectCommand({ Bucket: bucket ?? from, Key: newKey, Body: JSON.stringify(manifest, null, 1) }));
  return s3Url(bucket ?? from, newKey);
}

/** The claim as a recovery captures it into its manifest (no resourceRef). */
export async function capturedClaim(kube: KubeClients, instance: string): Promise<NonNullable<BackupManifest['claim']>> {
  const claim = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
  const { resourceRef: _ref, ...spec } = claim.spec;
  return { name: claim.metadata.name, spec, labels: claim.metadata.labels ?? {} };
}

/** Deletes the instance's claim and waits until its tables are gone (as after a recovery's delete). */
export async function deleteClaimAndWait(kube: KubeClients, dynamodb: DynamoDBClient, instance: string): Promise<void> {
  await kube.custom.deleteNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` });
  for (const tableName of instanceTableNames(instance)) {
    await waitFor(`${tableName} deleted`, () => dynamodb.send(new DescribeTableCommand({ TableName: tableName })).then(() => false, (err: unknown) => err instanceof ResourceNotFoundException));
  }
  await waitFor(`claim of ${instance} gone`, async () => !(await getOrUndefined(kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` }))));
}
