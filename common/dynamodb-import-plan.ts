/**
 * What a DynamoDB import reads, writes and is refused for. Pure code (the workflow imports it).
 * A manifest names its instance and maps to this instance's tables only when allowed; a file in the
 * `aws dynamodb scan` format or a DynamoDB native export holds one table, named by the caller.
 */
import { parseS3Url, validateRecoveryTables } from './dynamodb-backup';
import type { NativeExportSource } from './dynamodb-native-export';
import type { BackupLocation, DynamoDbImportInput, DynamoDbImportPlan, MergedTableResult, TableSnapshot } from './dynamodb-backup';
import { exportFolder, isNativeExportKey } from './dynamodb-native-export';
import { backupTableMapping } from './dynamodb-recovery-plan';
import { InvalidInputError, instanceTableNames } from './instance';

export interface ImportRequest {
  source: { bucket: string; key: string };
  kind: DynamoDbImportPlan['kind'];
  /** The target tables asked for (for a scan file or a native export, exactly one). */
  tables?: string[];
  /** This instance's tables: nothing else is written. */
  known: string[];
}

/** The input as the import reads it; a bad one is refused before anything is read. */
export function validateImport(input: DynamoDbImportInput, instance: string): ImportRequest {
  const source = parseS3Url(input.from);
  const kind = isNativeExportKey(source.key) ? ('native-export' as const) : source.key.endsWith('manifest.json') ? ('manifest' as const) : ('scan-file' as const);
  if (kind === 'native-export') exportFolder(source.key);
  const known = instanceTableNames(instance);
  const tables = validateRecoveryTables(instance, input.tables, known);
  if (kind === 'scan-file' && tables?.length !== 1) {
    throw new InvalidInputError('a file in the `aws dynamodb scan` format holds one table: name the target with exactly one table');
  }
  if (kind === 'native-export' && tables?.length !== 1) {
    throw new InvalidInputError('a DynamoDB native export holds one table: name the target with exactly one table');
  }
  for (const target of Object.values(input.targetTables ?? {})) validateRecoveryTables(instance, [target], known);
  return { source, kind, tables, known };
}

/**
 * The backup's tables that are imported, each with the table it is written into: the mapping given,
 * else the same name (another instance's backup: the same base name, when allowed). A scan file or
 * a native export is staged under its target's own name. Every target must be one of this instance's tables.
 */
export function importTargets<T extends { tableName: string }>(
  backup: { instance?: string; tables: T[] },
  input: Pick<DynamoDbImportInput, 'instance' | 'from' | 'targetTables' | 'allowOtherInstance'>,
  request: ImportRequest,
): (T & { targetTable: string })[] {
  const { kind, tables, known } = request;
  const targetOf = kind === 'manifest' ? backupTableMapping(backup.instance, input.instance, Boolean(input.allowOtherInstance), input.from) : (t: string) => t;
  const targets = backup.tables
    .map((t) => ({ ...t, targetTable: input.targetTables?.[t.tableName] ?? targetOf(t.tableName) }))
    .filter((t) => !tables || kind !== 'manifest' || tables.includes(t.targetTable));
  const foreign = targets.filter((t) => !known.includes(t.targetTable)).map((t) => `${t.tableName} → ${t.targetTable}`);
  if (foreign.length > 0) throw new InvalidInputError(`${input.from} holds tables that are not ${input.instance}'s (${foreign.join(', ')}): name the tables to import`);
  if (targets.length === 0) throw new InvalidInputError(`${input.from} holds none of the tables asked for (${tables?.join(', ')})`);
  return targets;
}

export interface ImportPlanFacts {
  input: Pick<DynamoDbImportInput, 'from' | 'allowNonEmptyTargets' | 'allowOtherInstance'>;
  request: ImportRequest;
  /** The manifest imported (a scan file's staged one), its URL, and what it says about itself. */
  location: BackupLocation;
  url: string;
  manifest: { instance?: string; createdAt: string; source?: NativeExportSource };
  targets: { tableName: string; targetTable: string; items: number }[];
  /** The targets now, in the order of `targets`. */
  snapshots: TableSnapshot[];
}

/** What the approver sees: the source pinned by its SHA-256, and per target what it holds now and what is overwritten. */
export function buildImportPlan(facts: ImportPlanFacts): DynamoDbImportPlan {
  const { input, location } = facts;
  return {
    source: input.from,
    kind: facts.request.kind,
    sourceBucket: facts.request.source.bucket,
    manifest: { url: facts.url, sha256: location.manifestSha256, instance: facts.manifest.instance, createdAt: facts.manifest.createdAt },
    ...(facts.manifest.source ? { nativeExport: facts.manifest.source } : {}),
    tables: facts.targets.map((t, i) => {
      const before = facts.snapshots[i]!.itemCount ?? 0;
      return { tableName: t.tableName, targetTable: t.targetTable, backupItems: t.items, targetItemsBefore: before, overwritesSameKeyItems: before > 0 };
    }),
    allowNonEmptyTargets: Boolean(input.allowNonEmptyTargets),
    allowOtherInstance: Boolean(input.allowOtherInstance),
  };
}

/** Why the plan may not run: targets that hold items, unless allowed. */
export function nonEmptyRefusal(plan: DynamoDbImportPlan): string | undefined {
  const nonEmpty = plan.tables.filter((t) => t.targetItemsBefore > 0);
  if (nonEmpty.length === 0 || plan.allowNonEmptyTargets) return undefined;
  return `${nonEmpty.map((t) => `${t.targetTable} holds ${t.targetItemsBefore} items`).join(', ')}: importing would mix data (pass allowNonEmptyTargets to overwrite same-key items)`;
}

/** After the approval: a target empty when planned that holds items now is refused, not overwritten (unless allowed). */
export function filledSinceApproval(plan: DynamoDbImportPlan, countsNow: number[]): string | undefined {
  const filled = plan.tables.filter((t, i) => countsNow[i]! > 0 && t.targetItemsBefore === 0);
  if (filled.length === 0 || plan.allowNonEmptyTargets) return undefined;
  return `${filled.map((t) => `${t.targetTable} now holds ${countsNow[plan.tables.indexOf(t)]} items`).join(', ')}, empty when the plan was approved: nothing imported (start a new run to re-plan)`;
}

/** Targets that held items: those that lost or changed a backup item, or shrank, and the failure's message. */
export function mergeLosses(results: MergedTableResult[]): { lost: MergedTableResult[]; message?: string } {
  const lost = results.filter((r) => r.missing > 0 || r.differing > 0 || r.itemsAfter < r.itemsBefore);
  if (lost.length === 0) return { lost };
  const described = lost.map(
    (r) => `${r.targetTable}: ${r.itemsAfter} items after, ${r.itemsBefore} before; ${r.missing} backup items missing, ${r.differing} differ${r.examples.length ? ` (${r.examples.join('; ')})` : ''}`,
  );
  return { lost, message: `the import into tables that held items did not keep everything: ${described.join(' | ')}` };
}
