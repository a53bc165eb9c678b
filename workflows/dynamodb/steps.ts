/**
 * The steps the DynamoDB runbooks share: export tables to a verified backup, import a backup, and
 * prove a restored table equals its backup. Each segment is its own activity, so a large table
 * spreads over every worker on the task queue.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { addDigests, BACKUP_FORMAT, segmentsFor } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, ExportTuning, ImportedTable, ImportTuning, TableBackup, TableSnapshot } from '../../common/dynamodb-backup';
import type { Runbook } from '../runbook/runbook';
import { OUTAGE_RETRY } from '../runbook/retry';

const NON_RETRYABLE = ['BackupCorruptError', 'MalformedItemError', 'InvalidInputError', 'ResourceNotFoundException', 'ValidationException'];

/** Long data-moving activities: heartbeats carry the checkpoint, so a lost worker costs one chunk. */
const LONG_RUNNING: ActivityOptions = {
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE },
};

export function long<K extends keyof Activities>(name: K, summary: string): Activities[K] {
  return proxyActivities<Activities>({ ...LONG_RUNNING, summary })[name];
}

export function short<K extends keyof Activities>(name: K, summary: string): Activities[K] {
  return proxyActivities<Activities>({
    summary,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '1 minute',
    retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: NON_RETRYABLE },
  })[name];
}

export async function snapshotTables(tableNames: string[]): Promise<TableSnapshot[]> {
  return short('snapshotTables', `Describe and count ${tableNames.join(', ')}`)(tableNames);
}

/** What an export needs: the tables as discovered, where the backup goes, and what its manifest records besides the tables. */
export interface ExportRequest {
  runbook: Runbook<string>;
  snapshots: TableSnapshot[];
  bucket: string;
  prefix: string;
  tuning?: ExportTuning;
  instance?: string;
  /** The claim as captured (a recovery recreates it from the manifest). */
  claim?: BackupManifest['claim'];
  /** Every table the claim owned (a resume restores all of them). */
  ownedTables?: string[];
  /** How the tables are read, recorded in the manifest (absent: scan, as before the option). */
  exportMethod?: BackupManifest['exportMethod'];
}

/** What an export returns: the manifest's location, its summary without chunk lists, and totals. */
export interface ExportedBackup {
  location: BackupLocation;
  manifest: Omit<BackupManifest, 'tables'> & { tables: Omit<TableBackup, 'segments'>[] };
  items: number;
  chunks: number;
}

/** Exports every table (all segments in parallel) and writes the manifest; returns its location. */
export async function exportTables(request: ExportRequest): Promise<ExportedBackup> {
  const { runbook, snapshots, prefix, tuning = {} } = request;
  let exported = 0;
  const total = snapshots.reduce((n, s) => n + (s.itemCount ?? 0), 0);
  runbook.setCounter('items exported', 0);
  runbook.setCounter('items to export', total);
  const tables: TableBackup[] = await Promise.all(
    snapshots.map(async (snapshot): Promise<TableBackup> => {
      const totalSegments = segmentsFor(snapshot.itemCount ?? 0, tuning.segments);
      const segments = await Promise.all(
        Array.from({ length: totalSegments }, async (_, segment) => {
          const result = await long('exportTableSegment', `Export ${snapshot.tableName} segment ${segment + 1}/${totalSegments}`)({
            tableName: snapshot.tableName,
            segment,
            totalSegments,
            prefix,
            chunkMaxItems: tuning.chunkMaxItems,
          });
          exported += result.items;
          runbook.setCounter('items exported', exported);
          return result;
        }),
      );
      return {
        tableName: snapshot.tableName,
        definition: snapshot.definition!,
        items: segments.reduce((n, s) => n + s.items, 0),
        digest: addDigests(...segments.map((s) => s.digest)),
        segments,
      };
    }),
  );
  return writeManifest(request, tables);
}

/** One manifest for every table of the backup, however they were read. */
export async function writeManifest(request: ExportRequest, tables: TableBackup[], pointInTime?: BackupManifest['pointInTime']): Promise<ExportedBackup> {
  const { bucket, prefix, instance, claim, ownedTables, exportMethod } = request;
  const info = workflowInfo();
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    instance,
    createdAt: new Date().toISOString(),
    createdBy: { workflowId: info.workflowId, runId: info.runId },
    bucket,
    prefix,
    claim,
    ownedTables,
    ...(exportMethod ? { exportMethod } : {}),
    ...(pointInTime ? { pointInTime } : {}),
    tables,
  };
  const location = await short('writeBackupManifest', 'Write the backup manifest')(manifest);
  const chunks = tables.reduce((n, t) => n + t.segments.reduce((m, s) => m + s.chunks.length, 0), 0);
  return {
    location,
    // The workflow keeps the summary; the chunk lists live in the manifest in S3.
    manifest: { ...manifest, tables: tables.map(({ segments: _segments, ...rest }) => rest) },
    items: tables.reduce((n, t) => n + t.items, 0),
    chunks,
  };
}

/** Reads every table's backup back from S3; any mismatch fails the run before anything is deleted. */
export async function verifyBackup(location: BackupLocation, tableNames: string[], compareWithLiveTable: boolean) {
  return Promise.all(
    tableNames.map((tableName) =>
      long('verifyBackupTable', `Verify the backup of ${tableName}`)({ location, tableName, compareWithLiveTable }),
    ),
  );
}


/** Imports each table's segments in parallel from the backup. */
export async function importTables(
  runbook: Runbook<string>,
  location: BackupLocation,
  tables: { tableName: string; targetTable: string; segments: number[]; items: number }[],
  tuning: ImportTuning = {},
): Promise<ImportedTable[]> {
  let imported = 0;
  runbook.setCounter('items imported', 0);
  runbook.setCounter('items to import', tables.reduce((n, t) => n + t.items, 0));
  return Promise.all(
    tables.map(async (table) => {
      const results = await Promise.all(
        table.segments.map(async (segment) => {
          const result = await long('importBackupSegment', `Import ${table.tableName} segment ${segment + 1}/${table.segments.length} into ${table.targetTable}`)({
            location,
            tableName: table.tableName,
            targetTable: table.targetTable,
            segment,
            concurrency: tuning.concurrency,
            // Writing items overwrites: the activity checks the approval of this plan first.
            approval: runbook.approvalEvidence(),
          });
          imported += result.items;
          runbook.setCounter('items imported', imported);
          return result;
        }),
      );
      return {
        tableName: table.tableName,
        targetTable: table.targetTable,
        items: results.reduce((n, r) => n + r.items, 0),
        retriedItems: results.reduce((n, r) => n + r.retriedItems, 0),
        segments: results.map((r) => ({ segment: r.segment, itemsWrittenByLastAttempt: r.itemsWrittenByLastAttempt, resumedFromItems: r.resumedFromItems, attempts: r.attempts })),
      };
    }),
  );
}

/** The restored table's item count and order-independent digest of every item, by parallel scan. */
export async function digestTable(tableName: string, totalSegments: number): Promise<{ items: number; digest: string }> {
  const parts = await Promise.all(
    Array.from({ length: totalSegments }, (_, segment) =>
      long('digestTableSegment', `Digest ${tableName} segment ${segment + 1}/${totalSegments}`)({ tableName, segment, totalSegments }),
    ),
  );
  return { items: parts.reduce((n, p) => n + p.items, 0), digest: addDigests(...parts.map((p) => p.digest)) };
}

/**
 * Into a table that held items before: every backup item is now in the target, equal, checked by
 * key per backup segment. Returns the problems per target table (empty when none).
 */
export async function verifyItemsPresent(
  location: BackupLocation,
  tables: { tableName: string; targetTable: string; segments: number[] }[],
): Promise<{ targetTable: string; items: number; missing: number; differing: number; examples: string[] }[]> {
  return Promise.all(
    tables.map(async (table) => {
      const parts = await Promise.all(
        table.segments.map((segment) =>
          long('verifyBackupItemsPresent', `Check every item of ${table.tableName} segment ${segment + 1} is in ${table.targetTable}`)({ location, tableName: table.tableName, targetTable: table.targetTable, segment }),
        ),
      );
      const sum = (pick: (p: (typeof parts)[number]) => number) => parts.reduce((n, p) => n + pick(p), 0);
      return { targetTable: table.targetTable, items: sum((p) => p.items), missing: sum((p) => p.missing), differing: sum((p) => p.differing), examples: parts.flatMap((p) => p.examples).slice(0, 5) };
    }),
  );
}

/** Fails the run, naming each table that differs from its backup. */
export function requireEqual(results: { tableName: string; backupItems: number; restoredItems: number; backupDigest: string; restoredDigest: string }[], context: string): void {
  const differing = results.filter((r) => r.backupItems !== r.restoredItems || r.backupDigest !== r.restoredDigest);
  if (differing.length === 0) return;
  throw ApplicationFailure.create({
    type: 'RestoreMismatch',
    message: `${context}: ${differing
      .map((r) => `${r.tableName} has ${r.restoredItems} items (backup ${r.backupItems})${r.backupDigest !== r.restoredDigest ? ', item digest differs' : ''}`)
      .join('; ')}`,
    nonRetryable: true,
    details: [differing],
  });
}

