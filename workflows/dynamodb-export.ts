/**
 * The guide's backup step (`aws dynamodb scan > users-backup.json`) done properly, on its own:
 * every table of an instance exported to S3 as verified chunks with a manifest. Read-only, so no
 * approval; writers keep running, so the backup is a consistent scan per segment, not a snapshot.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { backupPrefix, s3Url, validateRecoveryTables } from '../common/dynamodb-backup';
import type { DynamoDbExportDetails, DynamoDbExportInput } from '../common/dynamodb-backup';
import { RUNBOOKS } from '../common/definitions';
import { instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { exportTables, snapshotTables, verifyBackup } from './dynamodb/steps';

export async function dynamodbExport(input: DynamoDbExportInput): Promise<RunbookResult<DynamoDbExportDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const tables = validateInput(() => validateRecoveryTables(instance, input.tables, instanceTableNames(instance))) ?? instanceTableNames(instance);
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.dynamodbExport,
    title: 'DynamoDB export',
    instance,
    options: input.options,
    destructive: false,
    startInput: input,
    steps: [
      { name: 'discover', title: 'Describe and count the tables' },
      { name: 'export', title: 'Export every table to S3' },
      { name: 'verify-backup', title: 'Verify the backup (checksums, counts, keys)' },
    ],
  });
  return runbook.run(async () => {
    const { snapshots, bucket } = await runbook.step('discover', async () => {
      const bucket = await activity('checkBackupBucket', 'Check the backup bucket')();
      if (!bucket.exists) throw ApplicationFailure.create({ type: 'BackupBucketMissing', message: `backup bucket ${bucket.bucket} does not exist (or is not ours)`, nonRetryable: true });
      return { snapshots: await snapshotTables(tables), bucket: bucket.bucket };
    });
    const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
    if (missing.length > 0) throw ApplicationFailure.create({ type: 'TablesMissing', message: `tables ${missing.join(', ')} do not exist`, nonRetryable: true });
    const started = Date.now();
    const exported = await runbook.step('export', () =>
      exportTables({ runbook, snapshots, bucket, prefix: backupPrefix(instance, info.runId, new Date(info.startTime)), tuning: input.export, instance }),
    );
    const exportSeconds = (Date.now() - started) / 1000;
    const url = s3Url(exported.location.bucket, exported.location.manifestKey);
    runbook.note(`Backup: ${url}`);
    await runbook.step('verify-backup', () => verifyBackup(exported.location, tables, false));
    return {
      backup: { ...exported.location, url, items: exported.items, chunks: exported.chunks },
      tables: exported.manifest.tables.map((t) => ({ tableName: t.tableName, items: t.items, digest: t.digest })),
      exportSeconds,
      itemsPerSecond: exportSeconds > 0 ? Math.round(exported.items / exportSeconds) : 0,
    };
  });
}
