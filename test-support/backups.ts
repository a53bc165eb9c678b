/**
 * Backups made by calling the backup activities directly (no workflow), for tests of the activities
 * that delete: a verified backup of the given tables, taken "by the current run" of the
 * MockActivityEnvironment, or one left unverified.
 */
import { activityInfo } from '@temporalio/activity';
import type { MockActivityEnvironment } from '@temporalio/testing';
import { createDynamoDbBackupActivities } from '../activities/aws/dynamodb-backup';
import type { DynamoDbBackupDeps } from '../activities/aws/dynamodb-backup';
import { addDigests, BACKUP_FORMAT } from '../common/dynamodb-backup';
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
