/**
 * The guide's "Import data if needed (requires custom script)": load a backup back into tables,
 * either one of our manifests or the guide's own `aws dynamodb scan` output file. Writes overwrite
 * items with the same key, so it is destructive: approval first, one per instance at a time.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { parseS3Url, s3Url, segmentsFor, validateRecoveryTables } from '../common/dynamodb-backup';
import type { BackupLocation, DynamoDbImportInput, TableRestoreResult } from '../common/dynamodb-backup';
import { RUNBOOKS } from '../common/definitions';
import { InvalidInputError, instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { digestTable, importTables, requireEqual, snapshotTables, verifyBackup } from './dynamodb/steps';
import type { ImportedTable } from './dynamodb/steps';

export interface DynamoDbImportPlan {
  source: string;
  kind: 'manifest' | 'scan-file';
  tables: { tableName: string; targetTable: string; backupItems: number; targetItemsBefore: number }[];
  allowNonEmptyTargets: boolean;
}

export interface DynamoDbImportDetails {
  backup: BackupLocation & { url: string };
  imported: ImportedTable[];
  /** Item-by-item digest equality, for targets that were empty before the import. */
  verified: TableRestoreResult[];
  importSeconds: number;
  itemsPerSecond: number;
}

function validateImport(input: DynamoDbImportInput, instance: string) {
  const source = parseS3Url(input.from);
  const kind = source.key.endsWith('manifest.json') ? ('manifest' as const) : ('scan-file' as const);
  const known = instanceTableNames(instance);
  const tables = validateRecoveryTables(instance, input.tables, known);
  if (kind === 'scan-file' && tables?.length !== 1) {
    throw new InvalidInputError('a file in the `aws dynamodb scan` format holds one table: name the target with exactly one table');
  }
  for (const target of Object.values(input.targetTables ?? {})) validateRecoveryTables(instance, [target], known);
  return { source, kind, tables };
}

export async function dynamodbImport(input: DynamoDbImportInput): Promise<RunbookResult<DynamoDbImportDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const { source, kind, tables } = validateInput(() => validateImport(input, instance));
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.dynamodbImport,
    title: 'DynamoDB import',
    instance,
    options: input.options,
    destructive: true,
    startInput: input,
    steps: [
      { name: 'stage', title: 'Locate the backup (a scan file is split into verified chunks)' },
      { name: 'verify-backup', title: 'Verify the backup (checksums, counts, keys)' },
      { name: 'approve', title: 'Approval' },
      { name: 'import', title: 'Import the items' },
      { name: 'verify-restore', title: 'Verify the imported tables' },
    ],
  });
  return runbook.run(async () => {
    const location = await runbook.step('stage', () =>
      kind === 'manifest'
        ? activity('locateBackup', 'Locate the backup manifest')(source)
        : activity('stageScanFile', `Split ${input.from} into chunks`, { startToCloseTimeout: '2 hours', heartbeatTimeout: '1 minute', retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['MalformedItemError', 'BackupCorruptError', 'ResourceNotFoundException'] } })({
            source,
            tableName: tables![0]!,
            prefix: `dynamodb-imports/${instance}/${info.runId}`,
          }),
    );
    const summary = await activity('readBackupSummary', 'Read the backup manifest')(location);
    const chosen = summary.tables.filter((t) => !tables || kind === 'scan-file' || tables.includes(t.tableName));
    await runbook.step('verify-backup', () => verifyBackup(location, chosen.map((t) => t.tableName), false));

    const targets = chosen.map((t) => ({ ...t, targetTable: input.targetTables?.[t.tableName] ?? t.tableName }));
    const snapshots = await snapshotTables(targets.map((t) => t.targetTable));
    const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
    if (missing.length > 0) throw ApplicationFailure.create({ type: 'TablesMissing', message: `target tables ${missing.join(', ')} do not exist`, nonRetryable: true });
    const plan: DynamoDbImportPlan = {
      source: input.from,
      kind,
      tables: targets.map((t, i) => ({ tableName: t.tableName, targetTable: t.targetTable, backupItems: t.items, targetItemsBefore: snapshots[i]!.itemCount ?? 0 })),
      allowNonEmptyTargets: Boolean(input.allowNonEmptyTargets),
    };
    const nonEmpty = plan.tables.filter((t) => t.targetItemsBefore > 0);
    if (nonEmpty.length > 0 && !input.allowNonEmptyTargets) {
      throw ApplicationFailure.create({
        type: 'TargetsNotEmpty',
        message: `${nonEmpty.map((t) => `${t.targetTable} holds ${t.targetItemsBefore} items`).join(', ')}: importing would mix data (pass allowNonEmptyTargets to overwrite same-key items)`,
        nonRetryable: true,
        details: [plan],
      });
    }
    await runbook.step('approve', () => runbook.approve(plan));

    const started = Date.now();
    const imported = await runbook.step('import', () =>
      importTables(runbook, location, targets.map((t) => ({ tableName: t.tableName, targetTable: t.targetTable, segments: t.segments, items: t.items })), input.import),
    );
    const importSeconds = (Date.now() - started) / 1000;
    for (const t of targets) runbook.recordChange({ object: `dynamodb/${t.targetTable}`, action: `import ${t.items} items from ${input.from}` });

    const verified = await runbook.step('verify-restore', async () => {
      const results: TableRestoreResult[] = [];
      for (const t of plan.tables.filter((p) => p.targetItemsBefore === 0)) {
        const backup = targets.find((x) => x.tableName === t.tableName)!;
        const restored = await digestTable(t.targetTable, segmentsFor(backup.items));
        results.push({ tableName: t.targetTable, backupItems: backup.items, restoredItems: restored.items, backupDigest: backup.digest, restoredDigest: restored.digest, settingsApplied: [] });
      }
      requireEqual(results, `the imported tables differ from ${input.from}`);
      return results;
    });
    const total = imported.reduce((n, t) => n + t.items, 0);
    return {
      backup: { ...location, url: s3Url(location.bucket, location.manifestKey) },
      imported,
      verified,
      importSeconds,
      itemsPerSecond: importSeconds > 0 ? Math.round(total / importSeconds) : 0,
    };
  });
}
