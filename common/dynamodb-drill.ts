/**
 * Restore drills (AWS Backup calls them restore testing): a backup restored into scratch tables made
 * from its captured definitions, compared with its manifest, recorded beside it, and the scratch
 * tables deleted. Pure code: the workflow, the activities and the CLI share it.
 *
 * The scratch tables' names are the drill's one safety property: `drill-<12 hex of the run ID>-…`
 * can never be a platform table (`users-<instance>`, …), and the activities that create, write and
 * delete tables refuse any name that is not this run's scratch name.
 */
import { instanceBackupsFolder } from './backup-catalog';
import { InvalidInputError, instanceTableNames, validateInstanceName } from './instance';
import { parseS3Url, validateTableName } from './dynamodb-backup';
import type { DrillRecord, TableDefinition } from './dynamodb-backup';
import type { RunbookOptions } from './runbook';

export interface BackupDrillInput {
  instance: string;
  /** s3:// URL of a backup's manifest.json, or a backup ID (its prefix's last part); default: the newest backup whose every table is verified. */
  backup?: string;
  /** Absent when a parent run (the scheduled backup) starts the drill: it runs as that run's requester. */
  options?: RunbookOptions;
}

/** What the drill restored and found, per table; the DrillRecord written beside the manifest has the same. */
export interface BackupDrillDetails {
  backup: { url: string; id: string; manifestKey: string; manifestSha256: string; createdAt: string };
  passed: boolean;
  tables: DrillRecord['tables'];
  items: number;
  /** Items restored per second of import. */
  itemsPerSecond: number;
  drillSeconds: number;
  record: { url: string };
  error?: string;
}

/**
 * The run ID's last 12 hex digits: short enough for long table names, and random (run IDs are UUIDv7,
 * whose first 12 digits are the start's millisecond, so two drills started together would share them).
 */
export function drillRunTag(runId: string): string {
  const hex = runId.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  if (hex.length < 12) throw new InvalidInputError(`run ID ${JSON.stringify(runId)} has fewer than 12 hex digits`);
  return hex.slice(-12);
}

export const SCRATCH_PREFIX = 'drill-';
const MAX_TABLE_NAME = 255;

/**
 * The scratch table for the `index`th table of the backup: `drill-<tag>-<table>`, and when that is too
 * long for DynamoDB (255), `drill-<tag>-<index>-<head of table>`, so two long names never collide.
 */
export function scratchTableName(runId: string, tableName: string, index: number): string {
  const head = `${SCRATCH_PREFIX}${drillRunTag(runId)}-`;
  const name = `${head}${tableName}`;
  if (name.length <= MAX_TABLE_NAME) return name;
  const indexed = `${head}${index}-`;
  return `${indexed}${tableName.slice(0, MAX_TABLE_NAME - indexed.length)}`;
}

/**
 * Why `tableName` is not a scratch table this run may create, write or delete, or undefined when it is:
 * it must carry this run's tag and must not be one of the instance's tables.
 */
export function scratchTableRefusal(tableName: string, runId: string, instance: string): string | undefined {
  try {
    validateTableName(tableName);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const head = `${SCRATCH_PREFIX}${drillRunTag(runId)}-`;
  if (!tableName.startsWith(head) || tableName.length === head.length) return `${tableName} is not a scratch table of this drill (${head}…)`;
  if (instanceTableNames(instance).includes(tableName)) return `${tableName} is one of ${instance}'s tables`;
  return undefined;
}

/** An s3:// URL of a manifest, or a backup ID under the instance's prefix in the backup bucket. */
export function drillManifestUrl(instance: string, backup: string, backupBucket: string): { bucket: string; key: string } {
  validateInstanceName(instance);
  if (backup.startsWith('s3://')) return parseS3Url(backup);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(backup)) {
    throw new InvalidInputError(`${JSON.stringify(backup)} is neither an s3:// manifest URL nor a backup ID (the last part of the backup's prefix)`);
  }
  return { bucket: backupBucket, key: `${instanceBackupsFolder(instance)}${backup}/manifest.json` };
}

/** The backup ID: the last part of the manifest's folder. */
export function backupIdOf(manifestKey: string): string {
  const folder = manifestKey.slice(0, manifestKey.lastIndexOf('/'));
  return folder.slice(folder.lastIndexOf('/') + 1);
}

/** What CreateTable needs to make a table like the captured one (keys, indexes, billing, stream, SSE off the KMS key). */
export interface ScratchTableSpec {
  TableName: string;
  KeySchema: TableDefinition['keySchema'];
  AttributeDefinitions: TableDefinition['attributeDefinitions'];
  BillingMode: 'PAY_PER_REQUEST';
  GlobalSecondaryIndexes?: { IndexName: string; KeySchema: unknown[]; Projection: unknown }[];
  LocalSecondaryIndexes?: { IndexName: string; KeySchema: unknown[]; Projection: unknown }[];
  Tags: { Key: string; Value: string }[];
}

/**
 * The scratch table's CreateTable input from the captured definition: the same keys, attribute
 * definitions and indexes (so an item the backup holds but the table could not take fails the drill
 * as it would fail a recovery). On-demand billing whatever the source's: a drill must not need
 * capacity planning, and writes at its own pace. No stream, TTL, PITR or the source's tags (no
 * consumer or cost allocation should see a scratch table); tagged as a drill's instead.
 */
export function scratchTableSpec(definition: TableDefinition, scratchTable: string, tags: { instance: string; runId: string }): ScratchTableSpec {
  const gsis = definition.globalSecondaryIndexes.map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection }));
  const lsis = definition.localSecondaryIndexes.map((l) => ({ IndexName: l.IndexName, KeySchema: l.KeySchema, Projection: l.Projection }));
  return {
    TableName: scratchTable,
    KeySchema: definition.keySchema,
    AttributeDefinitions: definition.attributeDefinitions,
    BillingMode: 'PAY_PER_REQUEST',
    ...(gsis.length > 0 ? { GlobalSecondaryIndexes: gsis } : {}),
    ...(lsis.length > 0 ? { LocalSecondaryIndexes: lsis } : {}),
    Tags: [
      { Key: 'vcp-runbooks/drill-of', Value: tags.instance },
      { Key: 'vcp-runbooks/drill-run', Value: tags.runId },
      { Key: 'vcp-runbooks/source-table', Value: definition.tableName },
    ],
  };
}

/** The tables whose count or digest differ from the manifest, in words; empty when the restore is exact. */
export function drillMismatches(tables: DrillRecord['tables']): string[] {
  return tables
    .filter((t) => t.restoredItems !== t.expectedItems || t.restoredDigest !== t.expectedDigest)
    .map(
      (t) =>
        `${t.tableName} restored ${t.restoredItems ?? '?'} of ${t.expectedItems} items into ${t.scratchTable}` +
        (t.restoredDigest !== undefined && t.restoredDigest !== t.expectedDigest ? `, item digest ${t.restoredDigest} differs from the manifest's ${t.expectedDigest}` : ''),
    );
}
