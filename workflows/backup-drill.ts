/**
 * A restore drill (AWS Backup calls it restore testing): proof that a backup restores, before the day it
 * has to. The backup is read back, restored into scratch tables made from its captured definitions, and
 * each scratch table's item count and order-independent digest compared with the manifest; the result is
 * recorded beside the backup (the catalog shows it) and as a metric; the scratch tables are deleted
 * whatever happens.
 *
 * It never touches the instance's own tables: it reads S3 and writes only `drill-<run>-…` tables, which
 * the activities themselves refuse to go beyond. So it does not take the instance's destructive lock
 * (it runs under an ID of its own, like an export): a recovery or import that needs the instance must
 * never wait for, or be refused because of, a drill of an old backup.
 */
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DrillBackup } from '../activities/aws/dynamodb-drill';
import { DRILL_FORMAT, segmentsFor } from '../common/dynamodb-backup';
import type { DrillRecord } from '../common/dynamodb-backup';
import { drillMismatches, scratchTableName } from '../common/dynamodb-drill';
import type { BackupDrillDetails, BackupDrillInput } from '../common/dynamodb-drill';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import type { RunbookOptions, RunbookResult } from '../common/runbook';
import { failureReason } from './runbook/checks';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { OUTAGE_RETRY } from './runbook/retry';
import { validateInput } from './runbook/validation';
import { digestTable } from './dynamodb/steps';

const DRILL_STEPS = [
  { name: 'resolve', title: 'Find the backup (the one named, or the newest verified) and pin its manifest' },
  { name: 'verify-backup', title: 'Verify the backup (checksums, counts, digests)' },
  { name: 'create-scratch', title: 'Create scratch tables from the captured definitions' },
  { name: 'import', title: 'Import the backup into the scratch tables' },
  { name: 'verify-restore', title: 'Compare each scratch table with the manifest (item count, digest)' },
  { name: 'record', title: 'Record the result beside the backup and as a metric' },
] as const;

/** One drill run, as its steps share it. */
interface Drill {
  runbook: Runbook<StepsOf<typeof DRILL_STEPS>>;
  instance: string;
  input: BackupDrillInput;
  startedAt: string;
}

/** A backup table and the scratch table it is restored into. */
type DrillTable = DrillBackup['tables'][number] & { scratchTable: string };

const NON_RETRYABLE = ['BackupCorruptError', 'MalformedItemError', 'ScratchTableRefused', 'ValidationException', 'ResourceNotFoundException'];

/** Reading a backup or writing a table for minutes: heartbeats carry the import's checkpoint. */
const LONG: ActivityOptions = {
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Waiting for a table to be ACTIVE or gone: each attempt checks once, "not yet" is retried every second. */
const POLL: ActivityOptions = {
  scheduleToCloseTimeout: '15 minutes',
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumInterval: '1 second', nonRetryableErrorTypes: NON_RETRYABLE },
};

function long<K extends keyof Activities>(name: K, summary: string): Activities[K] {
  return proxyActivities<Activities>({ ...LONG, summary })[name];
}

/** A parent run (the scheduled backup) starts the drill without options: it runs as the scheduler. */
const SCHEDULED_OPTIONS: RunbookOptions = { requestedBy: { user: 'backup-schedule', via: 'api' } };

export async function backupDrill(input: BackupDrillInput): Promise<RunbookResult<BackupDrillDetails>> {
  const d = setup(input);
  return d.runbook.run(async () => {
    const backup = await resolve(d);
    const tables = backup.tables.map((t, i): DrillTable => ({ ...t, scratchTable: scratchTableName(workflowInfo().runId, t.tableName, i) }));
    // Registered before the first table exists; runs after a failure or a cancellation too (non-cancellable).
    d.runbook.onCleanup('delete the scratch tables', () => deleteScratchTables(d, tables));
    const record: DrillRecord = {
      format: DRILL_FORMAT,
      manifestKey: backup.location.manifestKey,
      manifestSha256: backup.location.manifestSha256,
      passed: false,
      tables: tables.map((t) => ({ tableName: t.tableName, scratchTable: t.scratchTable, expectedItems: t.items, expectedDigest: t.digest })),
      startedAt: d.startedAt,
      finishedAt: d.startedAt,
      drilledBy: { workflowId: workflowInfo().workflowId, runId: workflowInfo().runId },
    };
    try {
      await verifyBackup(d, backup, tables);
      await createScratchTables(d, tables);
      const importSeconds = await importBackup(d, backup, tables);
      await verifyRestore(d, tables, record);
      record.passed = true;
      record.itemsPerSecond = itemsPerSecond(tables, importSeconds);
    } catch (err) {
      if (isCancellation(err)) throw err;
      record.error = failureReason(err);
      const written = await CancellationScope.nonCancellable(() => recordResult(d, backup, record));
      throw ApplicationFailure.create({
        type: 'DrillFailed',
        message: `restore drill of ${backup.url} FAILED: ${record.error}`,
        nonRetryable: true,
        cause: err instanceof Error ? err : undefined,
        details: [written],
      });
    }
    return recordResult(d, backup, record);
  });
}

function setup(input: BackupDrillInput): Drill {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const options = input.options ?? SCHEDULED_OPTIONS;
  const runbook = new Runbook({
    name: RUNBOOKS.backupDrill,
    title: 'Restore drill',
    instance,
    options,
    destructive: false,
    startInput: { ...input, options },
    steps: DRILL_STEPS,
  });
  return { runbook, instance, input, startedAt: new Date().toISOString() };
}

/** 1. The backup named, or the newest of the instance whose every table is verified; its manifest pinned by SHA-256. */
async function resolve(d: Drill): Promise<DrillBackup> {
  try {
    const backup = await d.runbook.step('resolve', () =>
      activity('resolveDrillBackup', `Find the backup of ${d.instance} to drill`, { startToCloseTimeout: '5 minutes', heartbeatTimeout: '1 minute', retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: NON_RETRYABLE } })({
        instance: d.instance,
        backup: d.input.backup,
      }),
    );
    d.runbook.note(`Backup: ${backup.url}`);
    // A drill started without naming its backup says which one it reads: retention spares it.
    upsertMemo({ backup: backup.url });
    return backup;
  } catch (err) {
    // No backup to record a result beside: the metric still says the instance has no passing drill.
    if (!isCancellation(err)) await CancellationScope.nonCancellable(() => activity('recordDrillMetric', 'Record the failed drill as a metric')({ instance: d.instance, passed: false }));
    throw err;
  }
}

/**
 * 2. The manifest must be the one its verification records vouch for (a manifest rewritten after it
 * was verified, to match altered chunks, is caught here), and every chunk must read back as it says.
 */
async function verifyBackup(d: Drill, backup: DrillBackup, tables: DrillTable[]): Promise<void> {
  await d.runbook.step('verify-backup', async () => {
    if (backup.unverified.length > 0) {
      throw ApplicationFailure.create({
        type: 'BackupNotVerified',
        message: `no verification record vouches for manifest SHA-256 ${backup.location.manifestSha256} of ${backup.unverified.join(', ')}: the manifest changed after it was verified, or the backup never was`,
        nonRetryable: true,
      });
    }
    await Promise.all(tables.map((t) => long('verifyDrillBackupTable', `Read back the backup of ${t.tableName}`)({ location: backup.location, tableName: t.tableName })));
  });
}

/** 3. One scratch table per backup table, from its captured definition, ACTIVE before anything is written. */
async function createScratchTables(d: Drill, tables: DrillTable[]): Promise<void> {
  await d.runbook.step('create-scratch', () =>
    Promise.all(
      tables.map((t) =>
        activity('createScratchTable', `Create ${t.scratchTable} like ${t.tableName}`, POLL)({ instance: d.instance, scratchTable: t.scratchTable, definition: t.definition }),
      ),
    ),
  );
  d.runbook.setCounter('scratch tables', tables.length);
}

/** 4. Every segment of every table in parallel, with the import's own chunk checks; returns the seconds it took. */
async function importBackup(d: Drill, backup: DrillBackup, tables: DrillTable[]): Promise<number> {
  const started = Date.now();
  let imported = 0;
  d.runbook.setCounter('items imported', 0);
  await d.runbook.step('import', () =>
    Promise.all(
      tables.flatMap((t) =>
        t.segments.map(async (segment) => {
          const result = await long('importScratchSegment', `Import ${t.tableName} segment ${segment + 1}/${t.segments.length} into ${t.scratchTable}`)({
            instance: d.instance,
            location: backup.location,
            tableName: t.tableName,
            scratchTable: t.scratchTable,
            segment,
          });
          imported += result.items;
          d.runbook.setCounter('items imported', imported);
        }),
      ),
    ),
  );
  return (Date.now() - started) / 1000;
}

/** 5. Each scratch table's item count and digest, by parallel scan, equal the manifest's. */
async function verifyRestore(d: Drill, tables: DrillTable[], record: DrillRecord): Promise<void> {
  await d.runbook.step('verify-restore', async () => {
    await Promise.all(
      tables.map(async (t, i) => {
        const restored = await digestTable(t.scratchTable, segmentsFor(t.items));
        record.tables[i] = { ...record.tables[i]!, restoredItems: restored.items, restoredDigest: restored.digest };
      }),
    );
    const mismatches = drillMismatches(record.tables);
    if (mismatches.length > 0) throw ApplicationFailure.create({ type: 'RestoreMismatch', message: mismatches.join('; '), nonRetryable: true });
  });
}

/** 6. The record beside the manifest, then the metric; the run's result. */
async function recordResult(d: Drill, backup: DrillBackup, record: DrillRecord): Promise<BackupDrillDetails> {
  const drillSeconds = (Date.now() - Date.parse(d.startedAt)) / 1000;
  return d.runbook.step('record', async () => {
    record.finishedAt = new Date().toISOString();
    const written = await activity('writeDrillRecord', 'Write the drill record beside the backup')(record);
    await activity('recordDrillMetric', 'Record the drill as a metric')({ instance: d.instance, passed: record.passed, itemsPerSecond: record.itemsPerSecond });
    d.runbook.note(`Drill ${record.passed ? 'passed' : 'FAILED'}: ${written.url}`);
    return {
      backup: { url: backup.url, id: backup.id, manifestKey: backup.location.manifestKey, manifestSha256: backup.location.manifestSha256, createdAt: backup.createdAt },
      passed: record.passed,
      tables: record.tables,
      items: record.tables.reduce((n, t) => n + (t.restoredItems ?? 0), 0),
      itemsPerSecond: record.itemsPerSecond ?? 0,
      drillSeconds,
      record: written,
      ...(record.error !== undefined ? { error: record.error } : {}),
    };
  });
}

/** Cleanup: every scratch table deleted and gone, whether or not it was created; the activity refuses any other table. */
async function deleteScratchTables(d: Drill, tables: DrillTable[]): Promise<void> {
  await Promise.all(tables.map((t) => activity('deleteScratchTable', `Delete the scratch table ${t.scratchTable}`, POLL)({ instance: d.instance, scratchTable: t.scratchTable })));
}

function itemsPerSecond(tables: DrillTable[], seconds: number): number {
  const items = tables.reduce((n, t) => n + t.items, 0);
  return seconds > 0 ? Math.round(items / seconds) : items;
}
