/**
 * A backup by DynamoDB's native export (`--method native`, or `auto` when every table qualifies):
 * every table exported at the run's one ExportTime into the backup's own folder, each export polled
 * until it completes, then staged into chunks of ours (the code an import of a native export uses), and
 * one manifest written for all tables: verification, the catalog, retention, drills and imports then
 * read it like any backup. The manifest records the method and the point in time.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { exportClientToken, nativeExportPrefix } from '../../common/dynamodb-export-method';
import type { ExportMethodRecord, NativeExportSupport } from '../../common/dynamodb-export-method';
import type { TableBackup } from '../../common/dynamodb-backup';
import { long, short, writeManifest } from './steps';
import type { ExportedBackup, ExportRequest } from './steps';

/** Each table's PITR and whether the endpoint has the API: read-only, before anything is exported. */
export function checkNativeExportSupport(tableNames: string[]): Promise<NativeExportSupport> {
  return short('checkNativeExportSupport', `Check point-in-time recovery and native export support of ${tableNames.join(', ')}`)(tableNames);
}

/** Polling is the retry policy: each attempt asks DescribeExport once; a FAILED export is final. */
function pollExport(tableName: string): Activities['checkNativeExport'] {
  return proxyActivities<Activities>({
    summary: `Wait until the export of ${tableName} completes`,
    scheduleToCloseTimeout: '24 hours',
    startToCloseTimeout: '1 minute',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 1.5,
      maximumInterval: '1 minute',
      nonRetryableErrorTypes: ['NativeExportFailed', 'NativeExportUnsupported', 'ExportNotFoundException', 'AccessDeniedException'],
    },
  }).checkNativeExport;
}

/** Exports every table at `exportTime`, stages each export into the backup's chunks, writes one manifest. */
export async function exportTablesNatively(request: ExportRequest & { exportTime: string; exportMethod: ExportMethodRecord }): Promise<ExportedBackup> {
  const { runbook, snapshots, bucket, prefix, exportTime, tuning = {} } = request;
  const info = workflowInfo();
  let staged = 0;
  runbook.setCounter('items exported', 0);
  runbook.setCounter('items to export', snapshots.reduce((n, s) => n + (s.itemCount ?? 0), 0));
  const exported = await Promise.all(
    snapshots.map(async ({ tableName }): Promise<{ table: TableBackup; exportArn: string }> => {
      const { exportArn } = await short('startNativeExport', `Export ${tableName} as of ${exportTime} (ExportTableToPointInTime)`)({
        tableName,
        exportTime,
        clientToken: exportClientToken(info.workflowId, info.runId, tableName),
        s3Prefix: nativeExportPrefix(prefix, tableName),
      });
      const finished = await pollExport(tableName)(exportArn);
      const { source: _source, ...table } = await long('stageNativeExportTable', `Stage the export of ${tableName} into chunks and check it`)({
        source: { bucket, key: finished.summaryKey },
        tableName,
        prefix,
        chunkMaxItems: tuning.chunkMaxItems,
        exportArn,
      });
      staged += table.items;
      runbook.setCounter('items exported', staged);
      return { table, exportArn };
    }),
  );
  return writeManifest(
    request,
    exported.map((e) => e.table),
    { exportTime, tables: exported.map((e) => ({ tableName: e.table.tableName, exportArn: e.exportArn })) },
  );
}
