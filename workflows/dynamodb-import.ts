/**
 * The guide's "Import data if needed (requires custom script)": load a backup back into tables,
 * either one of our manifests or the guide's own `aws dynamodb scan` output file. Writes overwrite
 * items with the same key, so it is destructive: approval first, one per instance at a time.
 *
 * What is approved is what runs: the plan names the source bucket and the manifest's SHA-256, and
 * after the approval the manifest and the targets are checked again before the first write.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { parseS3Url, s3Url, segmentsFor, validateRecoveryTables } from '../common/dynamodb-backup';
import type { BackupLocation, DynamoDbImportDetails, DynamoDbImportInput, DynamoDbImportPlan, MergedTableResult, TableRestoreResult } from '../common/dynamodb-backup';
import { backupTableMapping } from '../common/dynamodb-recovery-plan';
import { RUNBOOKS } from '../common/definitions';
import { InvalidInputError, instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { OUTAGE_RETRY } from './runbook/retry';
import { digestTable, importTables, requireEqual, snapshotTables, verifyBackup, verifyItemsPresent } from './dynamodb/steps';

function validateImport(input: DynamoDbImportInput, instance: string) {
  const source = parseS3Url(input.from);
  const kind = source.key.endsWith('manifest.json') ? ('manifest' as const) : ('scan-file' as const);
  const known = instanceTableNames(instance);
  const tables = validateRecoveryTables(instance, input.tables, known);
  if (kind === 'scan-file' && tables?.length !== 1) {
    throw new InvalidInputError('a file in the `aws dynamodb scan` format holds one table: name the target with exactly one table');
  }
  for (const target of Object.values(input.targetTables ?? {})) validateRecoveryTables(instance, [target], known);
  return { source, kind, tables, known };
}

function refuse(type: string, message: string, details?: unknown): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details] });
}

export async function dynamodbImport(input: DynamoDbImportInput): Promise<RunbookResult<DynamoDbImportDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const { source, kind, tables, known } = validateInput(() => validateImport(input, instance));
  const allowNonEmpty = Boolean(input.allowNonEmptyTargets);
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
      { name: 'approve', title: 'Approval, then the manifest and the targets are checked again' },
      { name: 'import', title: 'Import the items' },
      { name: 'verify-restore', title: 'Verify the imported tables' },
    ],
  });
  return runbook.run(async () => {
    const location = await runbook.step('stage', () =>
      kind === 'manifest'
        ? activity('locateBackup', 'Locate the backup manifest')(source)
        : activity('stageScanFile', `Split ${input.from} into chunks`, { startToCloseTimeout: '2 hours', heartbeatTimeout: '1 minute', retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: ['MalformedItemError', 'BackupCorruptError', 'ResourceNotFoundException'] } })({
            source,
            tableName: tables![0]!,
            prefix: `dynamodb-imports/${instance}/${info.runId}`,
          }),
    );
    const summary = await activity('readBackupSummary', 'Read the backup manifest')(location);
    // A scan file is staged under the target's own name; a manifest names its instance, which must be this one unless allowed.
    const targetOf = kind === 'manifest' ? validateInput(() => backupTableMapping(summary.instance, instance, Boolean(input.allowOtherInstance), input.from)) : (t: string) => t;
    const targets = validateInput(() =>
      summary.tables
        .map((t) => ({ ...t, targetTable: input.targetTables?.[t.tableName] ?? targetOf(t.tableName) }))
        .filter((t) => !tables || kind === 'scan-file' || tables.includes(t.targetTable)),
    );
    const foreign = targets.filter((t) => !known.includes(t.targetTable)).map((t) => `${t.tableName} → ${t.targetTable}`);
    if (foreign.length > 0) refuse('InvalidInputError', `${input.from} holds tables that are not ${instance}'s (${foreign.join(', ')}): name the tables to import`);
    if (targets.length === 0) refuse('InvalidInputError', `${input.from} holds none of the tables asked for (${tables?.join(', ')})`);
    await runbook.step('verify-backup', () => verifyBackup(location, targets.map((t) => t.tableName), false));

    const snapshots = await snapshotTables(targets.map((t) => t.targetTable));
    const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
    if (missing.length > 0) refuse('TablesMissing', `target tables ${missing.join(', ')} do not exist`);
    const url = s3Url(location.bucket, location.manifestKey);
    const plan: DynamoDbImportPlan = {
      source: input.from,
      kind,
      sourceBucket: source.bucket,
      manifest: { url, sha256: location.manifestSha256, instance: summary.instance, createdAt: summary.createdAt },
      tables: targets.map((t, i) => {
        const before = snapshots[i]!.itemCount ?? 0;
        return { tableName: t.tableName, targetTable: t.targetTable, backupItems: t.items, targetItemsBefore: before, overwritesSameKeyItems: before > 0 };
      }),
      allowNonEmptyTargets: allowNonEmpty,
      allowOtherInstance: Boolean(input.allowOtherInstance),
    };
    const nonEmpty = plan.tables.filter((t) => t.targetItemsBefore > 0);
    if (nonEmpty.length > 0 && !allowNonEmpty) {
      refuse('TargetsNotEmpty', `${nonEmpty.map((t) => `${t.targetTable} holds ${t.targetItemsBefore} items`).join(', ')}: importing would mix data (pass allowNonEmptyTargets to overwrite same-key items)`, plan);
    }
    // Waiting for approval takes time: the manifest must still be the approved one, and a target
    // that filled up meanwhile is refused rather than overwritten.
    const countsNow = await runbook.step('approve', async () => {
      await runbook.approve(plan);
      await activity('readBackupSummary', 'Re-check the approved manifest (SHA-256)')(location);
      const counts = await Promise.all(targets.map((t) => activity('countTableItems', `Count ${t.targetTable} again`, { startToCloseTimeout: '30 minutes', heartbeatTimeout: '1 minute', retry: OUTAGE_RETRY })(t.targetTable)));
      const filled = plan.tables.filter((t, i) => counts[i]! > 0 && t.targetItemsBefore === 0);
      if (filled.length > 0 && !allowNonEmpty) {
        refuse('TargetsNotEmpty', `${filled.map((t) => `${t.targetTable} now holds ${counts[plan.tables.indexOf(t)]} items`).join(', ')}, empty when the plan was approved: nothing imported (start a new run to re-plan)`);
      }
      return counts;
    });

    const started = Date.now();
    const imported = await runbook.step('import', () => importTables(runbook, location, targets, input.import));
    const importSeconds = (Date.now() - started) / 1000;
    for (const t of targets) runbook.recordChange({ object: `dynamodb/${t.targetTable}`, action: `import ${t.items} items from ${input.from}` });

    const { verified, merged } = await runbook.step('verify-restore', async () => {
      const verified: TableRestoreResult[] = [];
      const emptyBefore = targets.filter((_, i) => plan.tables[i]!.targetItemsBefore === 0 && countsNow[i] === 0);
      for (const t of emptyBefore) {
        const restored = await digestTable(t.targetTable, segmentsFor(t.items));
        verified.push({ tableName: t.targetTable, backupItems: t.items, restoredItems: restored.items, backupDigest: t.digest, restoredDigest: restored.digest, settingsApplied: [] });
      }
      requireEqual(verified, `the imported tables differ from ${input.from}`);
      const merged = await verifyMerged(targets.filter((t) => !emptyBefore.includes(t)), plan, location);
      return { verified, merged };
    });
    const total = imported.reduce((n, t) => n + t.items, 0);
    return {
      backup: { ...location, url },
      imported,
      verified,
      merged,
      importSeconds,
      itemsPerSecond: importSeconds > 0 ? Math.round(total / importSeconds) : 0,
    };
  });
}

/** Targets that held items: every backup item is there and equal, and none holds fewer items than the plan said. */
async function verifyMerged(targets: { tableName: string; targetTable: string; segments: number[]; items: number }[], plan: DynamoDbImportPlan, location: BackupLocation): Promise<MergedTableResult[]> {
  if (targets.length === 0) return [];
  const presence = await verifyItemsPresent(location, targets);
  const results: MergedTableResult[] = [];
  for (const [i, t] of targets.entries()) {
    const itemsAfter = await activity('countTableItems', `Count ${t.targetTable} after the import`, { startToCloseTimeout: '30 minutes', heartbeatTimeout: '1 minute', retry: OUTAGE_RETRY })(t.targetTable);
    const p = presence[i]!;
    const itemsBefore = plan.tables.find((x) => x.targetTable === t.targetTable)!.targetItemsBefore;
    results.push({ tableName: t.tableName, targetTable: t.targetTable, backupItems: t.items, itemsBefore, itemsAfter, missing: p.missing, differing: p.differing, examples: p.examples });
  }
  const lost = results.filter((r) => r.missing > 0 || r.differing > 0 || r.itemsAfter < r.itemsBefore);
  if (lost.length > 0) {
    refuse(
      'ImportMismatch',
      `the import into tables that held items did not keep everything: ${lost
        .map((r) => `${r.targetTable}: ${r.itemsAfter} items after, ${r.itemsBefore} before; ${r.missing} backup items missing, ${r.differing} differ${r.examples.length ? ` (${r.examples.join('; ')})` : ''}`)
        .join(' | ')}`,
      lost,
    );
  }
  return results;
}
