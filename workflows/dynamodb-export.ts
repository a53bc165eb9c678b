/**
 * The guide's backup step (`aws dynamodb scan > users-backup.json`) done properly, on its own:
 * every table of an instance exported to S3 as verified chunks with a manifest. Read-only, so no
 * approval; writers keep running, so a Scan backup is a consistent scan per segment, not a snapshot.
 * `method: 'native'` (or `auto` when every table has PITR) takes it with DynamoDB's own export at one
 * point in time for all tables instead (workflows/dynamodb/native-export-steps.ts); it is refused,
 * before anything is exported, where a table lacks PITR or the endpoint lacks the API.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { backupPrefix, s3Url, validateRecoveryTables } from '../common/dynamodb-backup';
import type { DynamoDbExportDetails, DynamoDbExportInput, TableSnapshot } from '../common/dynamodb-backup';
import { chooseExportMethod, validateExportMethod } from '../common/dynamodb-export-method';
import type { ChosenMethod } from '../common/dynamodb-export-method';
import { RUNBOOKS } from '../common/definitions';
import { instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { checkNativeExportSupport, exportTablesNatively } from './dynamodb/native-export-steps';
import { exportTables, snapshotTables, verifyBackup } from './dynamodb/steps';

export async function dynamodbExport(input: DynamoDbExportInput): Promise<RunbookResult<DynamoDbExportDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const tables = validateInput(() => validateRecoveryTables(instance, input.tables, instanceTableNames(instance))) ?? instanceTableNames(instance);
  const method = validateInput(() => validateExportMethod(input.method));
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
    const { snapshots, bucket, choice } = await runbook.step('discover', async () => {
      const bucket = await activity('checkBackupBucket', 'Check the backup bucket')();
      if (!bucket.exists) throw ApplicationFailure.create({ type: 'BackupBucketMissing', message: `backup bucket ${bucket.bucket} does not exist (or is not ours)`, nonRetryable: true });
      const snapshots = await snapshotTables(tables);
      return { snapshots, bucket: bucket.bucket, choice: snapshots.every((s) => s.exists) ? await chooseMethod(snapshots) : undefined };
    });
    const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
    if (missing.length > 0 || !choice) throw ApplicationFailure.create({ type: 'TablesMissing', message: `tables ${missing.join(', ')} do not exist`, nonRetryable: true });
    const started = Date.now();
    const request = { runbook, snapshots, bucket, prefix: backupPrefix(instance, info.runId, new Date(info.startTime)), tuning: input.export, instance };
    const exported = await runbook.step('export', () =>
      choice.method === 'native'
        ? exportTablesNatively({ ...request, exportTime: choice.exportTime, exportMethod: choice.record })
        : exportTables({ ...request, exportMethod: input.method === undefined ? undefined : choice.record }),
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
      ...(input.method === undefined ? {} : { method: choice.record }),
      ...(exported.manifest.pointInTime ? { pointInTime: exported.manifest.pointInTime } : {}),
    };
  });

  /**
   * Scan unless asked otherwise (and then without a call: runs from before the option replay as they
   * ran). Native or auto: the endpoint and every table checked first; a refusal ends the run here.
   */
  async function chooseMethod(snapshots: TableSnapshot[]): Promise<ChosenMethod> {
    if (method === 'scan') return { method: 'scan', record: { method: 'scan', requested: 'scan' } };
    const support = await checkNativeExportSupport(snapshots.map((s) => s.tableName));
    const choice = chooseExportMethod(method, new Date(info.startTime), support);
    if ('refused' in choice) throw ApplicationFailure.create({ type: 'NativeExportUnavailable', message: `--method native refused: ${choice.refused}`, nonRetryable: true });
    runbook.note(choice.method === 'native' ? `Method: native export at ${choice.exportTime}` : `Method: scan (${choice.record.reason ?? 'requested'})`);
    return choice;
  }
}
