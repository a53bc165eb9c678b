/**
 * The guide's "Import data if needed (requires custom script)": load a backup back into tables,
 * one of our manifests, the guide's own `aws dynamodb scan` output file, or a DynamoDB native export. Writes overwrite
 * items with the same key, so it is destructive: approval first, one per instance at a time.
 *
 * What is approved is what runs: the plan names the source bucket and the manifest's SHA-256, and
 * after the approval the manifest and the targets are checked again before the first write.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { BackupSummary } from '../activities/aws/dynamodb-backup';
import { s3Url, segmentsFor } from '../common/dynamodb-backup';
import type { BackupLocation, DynamoDbImportDetails, DynamoDbImportInput, DynamoDbImportPlan, ImportedTable, MergedTableResult, TableRestoreResult } from '../common/dynamodb-backup';
import { buildImportPlan, filledSinceApproval, importTargets, mergeLosses, nonEmptyRefusal, validateImport } from '../common/dynamodb-import-plan';
import type { ImportRequest } from '../common/dynamodb-import-plan';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { OUTAGE_RETRY } from './runbook/retry';
import { digestTable, importTables, requireEqual, snapshotTables, verifyBackup, verifyItemsPresent } from './dynamodb/steps';

const IMPORT_STEPS = [
  { name: 'stage', title: 'Locate the backup (a scan file or a native export is split into verified chunks)' },
  { name: 'verify-backup', title: 'Verify the backup (checksums, counts, keys)' },
  { name: 'approve', title: 'Approval, then the manifest and the targets are checked again' },
  { name: 'import', title: 'Import the items' },
  { name: 'verify-restore', title: 'Verify the imported tables' },
] as const;

/** One import run, as its steps share it. */
interface Import {
  runbook: Runbook<StepsOf<typeof IMPORT_STEPS>>;
  input: DynamoDbImportInput;
  instance: string;
  request: ImportRequest;
}

/** A backup table and the table it is written into. */
type Target = BackupSummary['tables'][number] & { targetTable: string };

const countItems = (tableName: string, summary: string) =>
  activity('countTableItems', summary, { startToCloseTimeout: '30 minutes', heartbeatTimeout: '1 minute', retry: OUTAGE_RETRY })(tableName);

function refuse(type: string, message: string, details?: unknown): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details] });
}

export async function dynamodbImport(input: DynamoDbImportInput): Promise<RunbookResult<DynamoDbImportDetails>> {
  const im = setup(input);
  return im.runbook.run(async () => {
    const { location, summary } = await stage(im);
    const targets = validateInput(() => importTargets(summary, input, im.request));
    await im.runbook.step('verify-backup', () => verifyBackup(location, targets.map((t) => t.tableName), false));
    const plan = await planImport(im, location, summary, targets);
    const countsNow = await approve(im, plan, location, targets);
    const started = Date.now();
    const imported = await importData(im, location, targets);
    const importSeconds = (Date.now() - started) / 1000;
    const { verified, merged } = await verifyImport(im, plan, location, targets, countsNow);
    const total = imported.reduce((n, t) => n + t.items, 0);
    return { backup: { ...location, url: plan.manifest.url }, imported, verified, merged, importSeconds, itemsPerSecond: importSeconds > 0 ? Math.round(total / importSeconds) : 0 };
  });
}

function setup(input: DynamoDbImportInput): Import {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const request = validateInput(() => validateImport(input, instance));
  const runbook = new Runbook({
    name: RUNBOOKS.dynamodbImport,
    title: 'DynamoDB import',
    instance,
    options: input.options,
    destructive: true,
    startInput: input,
    steps: IMPORT_STEPS,
  });
  return { runbook, input, instance, request };
}

/** The manifest, or a scan file or a native export split into verified chunks under a manifest of its own; then what it holds. */
async function stage(im: Import): Promise<{ location: BackupLocation; summary: BackupSummary }> {
  const { input, request } = im;
  const location = await im.runbook.step('stage', () => {
    if (request.kind === 'manifest') return activity('locateBackup', 'Locate the backup manifest')(request.source);
    const staging = {
      source: request.source,
      tableName: request.tables![0]!,
      prefix: `dynamodb-imports/${im.instance}/${workflowInfo().runId}`,
    };
    const options: ActivityOptions = { startToCloseTimeout: '2 hours', heartbeatTimeout: '1 minute', retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: ['MalformedItemError', 'BackupCorruptError', 'ResourceNotFoundException'] } };
    return request.kind === 'native-export'
      ? activity('stageNativeExport', `Check the native export ${input.from} and split it into chunks`, options)(staging)
      : activity('stageScanFile', `Split ${input.from} into chunks`, options)(staging);
  });
  return { location, summary: await activity('readBackupSummary', 'Read the backup manifest')(location) };
}

/** The targets as they are now; non-empty ones are refused unless allowed. */
async function planImport(im: Import, location: BackupLocation, summary: BackupSummary, targets: Target[]): Promise<DynamoDbImportPlan> {
  const snapshots = await snapshotTables(targets.map((t) => t.targetTable));
  const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
  if (missing.length > 0) refuse('TablesMissing', `target tables ${missing.join(', ')} do not exist`);
  const url = s3Url(location.bucket, location.manifestKey);
  const plan = buildImportPlan({ input: im.input, request: im.request, location, url, manifest: summary, targets, snapshots });
  const refusal = nonEmptyRefusal(plan);
  if (refusal) refuse('TargetsNotEmpty', refusal, plan);
  return plan;
}

/**
 * Waiting for approval takes time: after it, the manifest must still be the approved one, and a
 * target that filled up meanwhile is refused rather than overwritten. Returns the targets' counts.
 */
async function approve(im: Import, plan: DynamoDbImportPlan, location: BackupLocation, targets: Target[]): Promise<number[]> {
  return im.runbook.step('approve', async () => {
    await im.runbook.approve(plan);
    await activity('readBackupSummary', 'Re-check the approved manifest (SHA-256)')(location);
    const counts = await Promise.all(targets.map((t) => countItems(t.targetTable, `Count ${t.targetTable} again`)));
    const filled = filledSinceApproval(plan, counts);
    if (filled) refuse('TargetsNotEmpty', filled);
    return counts;
  });
}

async function importData(im: Import, location: BackupLocation, targets: Target[]): Promise<ImportedTable[]> {
  const imported = await im.runbook.step('import', () => importTables(im.runbook, location, targets, im.input.import));
  for (const t of targets) im.runbook.recordChange({ object: `dynamodb/${t.targetTable}`, action: `import ${t.items} items from ${im.input.from}` });
  return imported;
}

/** Targets empty before: count and digest equal the backup's. Targets that held items: every backup item present and equal, none shrank. */
async function verifyImport(im: Import, plan: DynamoDbImportPlan, location: BackupLocation, targets: Target[], countsNow: number[]) {
  return im.runbook.step('verify-restore', async () => {
    const verified: TableRestoreResult[] = [];
    const emptyBefore = targets.filter((_, i) => plan.tables[i]!.targetItemsBefore === 0 && countsNow[i] === 0);
    for (const t of emptyBefore) {
      const restored = await digestTable(t.targetTable, segmentsFor(t.items));
      verified.push({ tableName: t.targetTable, backupItems: t.items, restoredItems: restored.items, backupDigest: t.digest, restoredDigest: restored.digest, settingsApplied: [] });
    }
    requireEqual(verified, `the imported tables differ from ${im.input.from}`);
    const merged = await verifyMerged(targets.filter((t) => !emptyBefore.includes(t)), plan, location);
    return { verified, merged };
  });
}

async function verifyMerged(targets: Target[], plan: DynamoDbImportPlan, location: BackupLocation): Promise<MergedTableResult[]> {
  if (targets.length === 0) return [];
  const presence = await verifyItemsPresent(location, targets);
  const results: MergedTableResult[] = [];
  for (const [i, t] of targets.entries()) {
    const itemsAfter = await countItems(t.targetTable, `Count ${t.targetTable} after the import`);
    const p = presence[i]!;
    const itemsBefore = plan.tables.find((x) => x.targetTable === t.targetTable)!.targetItemsBefore;
    results.push({ tableName: t.tableName, targetTable: t.targetTable, backupItems: t.items, itemsBefore, itemsAfter, missing: p.missing, differing: p.differing, examples: p.examples });
  }
  const { lost, message } = mergeLosses(results);
  if (message) refuse('ImportMismatch', message, lost);
  return results;
}
