/**
 * The guide's "Import data if needed (requires custom script)", as the recovery does it: the items go
 * back into the recreated tables with the settings the claim does not own, and every owned table is
 * then proved equal to its backup, item by item, before the restore is recorded as finished.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { segmentsFor } from '../../common/dynamodb-backup';
import type { DynamoDbRecoveryDetails, ImportedTable, TableRestoreResult } from '../../common/dynamodb-backup';
import { activity } from '../runbook/runbook';
import type { Recovery, RecoveryBackup } from './recovery-steps';
import { digestTable, importTables, requireEqual } from './steps';

export interface ImportedData {
  tables: ImportedTable[];
  /** Per target table: the settings re-applied (TTL, tags, PITR). */
  settings: Record<string, string[]>;
}

/** 9. Import every table's segments in parallel, then re-apply TTL, tags and PITR as captured. */
export async function importData(r: Recovery, backup: RecoveryBackup): Promise<ImportedData> {
  const started = Date.now();
  const imported = await r.runbook.step('import', async () => {
    const tables = await importTables(r.runbook, backup.location, backup.tables, r.input.import);
    const settings: Record<string, string[]> = {};
    for (const t of backup.tables) {
      settings[t.targetTable] = await activity('applyTableSettings', `Re-apply TTL, tags and PITR on ${t.targetTable}`)({ tableName: t.targetTable, definition: t.definition });
    }
    return { tables, settings };
  });
  r.durations.importSeconds = (Date.now() - started) / 1000;
  return imported;
}

/** 10. Every owned table's count and digest equal its backup's; then the restore is recorded as finished (a resume into this claim is refused from then on). */
export async function verifyRestore(r: Recovery, backup: RecoveryBackup, imported: ImportedData, claimUid: string): Promise<TableRestoreResult[]> {
  const results = await r.runbook.step('verify-restore', async () => {
    const results: TableRestoreResult[] = [];
    for (const t of backup.tables) {
      const restored = await digestTable(t.targetTable, segmentsFor(t.items));
      results.push({ tableName: t.targetTable, backupItems: t.items, restoredItems: restored.items, backupDigest: t.digest, restoredDigest: restored.digest, settingsApplied: imported.settings[t.targetTable] ?? [] });
    }
    requireEqual(results, `the restored tables differ from the backup ${backup.url}`);
    await activity('recordRestore', 'Record the finished restore beside the backup')({ backup: backup.ref, claimUid });
    return results;
  });
  r.holdForResume = false;
  return results;
}

/** The run's result: the backup, each table's proof, and how long the writes were stopped. */
export function recoveryReport(r: Recovery, backup: RecoveryBackup, imported: ImportedData, results: TableRestoreResult[]): DynamoDbRecoveryDetails {
  const { exportStartedAt = Date.now(), exportSeconds = 0, verifySeconds = 0, deleteSeconds = 0, recreateSeconds = 0, importSeconds = 0 } = r.durations;
  const totalImported = imported.tables.reduce((n, t) => n + t.items, 0);
  const resumed = r.resumeFrom !== undefined;
  return {
    backup: { ...backup.location, url: backup.url, items: resumed ? backup.tables.reduce((n, t) => n + t.items, 0) : backup.exportedItems, chunks: backup.chunks, nativeBackups: backup.nativeBackups },
    tables: results,
    imported: imported.tables,
    durations: { exportSeconds, verifySeconds, deleteSeconds, recreateSeconds, importSeconds, writeDowntimeSeconds: (Date.now() - exportStartedAt) / 1000 },
    throughput: {
      exportItemsPerSecond: exportSeconds > 0 ? Math.round(backup.exportedItems / exportSeconds) : 0,
      importItemsPerSecond: importSeconds > 0 ? Math.round(totalImported / importSeconds) : 0,
    },
  };
}

/**
 * After the delete, a failure says exactly how to finish (the backup is never deleted): the writers
 * stay stopped and sync paused until a run with resumeFrom restores them.
 */
export function withResumeHint(r: Recovery) {
  return (err: unknown): never => {
    if (r.holdForResume && r.backupUrl && err instanceof ApplicationFailure) {
      throw ApplicationFailure.create({
        type: err.type ?? 'RunbookFailed',
        message: `${err.message} | THE CLAIM WAS DELETED; the verified backup stays at ${r.backupUrl}; writers stay stopped and automated sync paused. Finish with: runbook recover-dynamodb ${r.instance} --resume-from ${r.backupUrl}${r.input.allowOtherInstance ? ' --from-other-instance' : ''}`,
        nonRetryable: true,
        cause: err,
        details: err.details as unknown[],
      });
    }
    throw err;
  };
}
