/**
 * The DynamoDB backup format and the recovery runbooks' inputs, plans and results. Pure code: the
 * workflows import it, so no Node built-ins (digests are added with BigInt, not hashed here).
 *
 * A backup is a prefix in the backup bucket holding, per table and scan segment, immutable chunks
 * of gzip-compressed newline-delimited DynamoDB JSON (one item per line, in its exact AttributeValue
 * form, binary as base64) and one `manifest.json` listing every chunk with its item count, size and
 * SHA-256, the table totals, an order-independent digest of every item, and the captured table
 * definitions.
 */
import { InvalidInputError, validateInstanceName } from './instance';
import type { RunbookOptions } from './runbook';
import type { ManagementAction } from './platform';
import type { NativeExportSource } from './dynamodb-native-export';
import type { ExportMethod, ExportMethodRecord, PointInTime } from './dynamodb-export-method';

export const BACKUP_FORMAT = 'vcp-runbooks/dynamodb-backup/v1';

/** Everything about a table that a recreation must reproduce, as DynamoDB describes it. */
export interface TableDefinition {
  tableName: string;
  tableArn?: string;
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  attributeDefinitions: { AttributeName: string; AttributeType: string }[];
  billingMode: string;
  provisionedThroughput?: { ReadCapacityUnits?: number; WriteCapacityUnits?: number };
  globalSecondaryIndexes: { IndexName: string; KeySchema: unknown[]; Projection: unknown; ProvisionedThroughput?: unknown }[];
  localSecondaryIndexes: { IndexName: string; KeySchema: unknown[]; Projection: unknown }[];
  stream?: { StreamEnabled?: boolean; StreamViewType?: string };
  sse?: { Status?: string; SSEType?: string; KMSMasterKeyArn?: string };
  /** `unsupported` when the endpoint has no such API (the emulators lack some). */
  timeToLive: { status: 'ENABLED' | 'DISABLED' | 'ENABLING' | 'DISABLING' | 'unsupported'; attributeName?: string };
  pointInTimeRecovery: { status: 'ENABLED' | 'DISABLED' | 'unsupported' };
  tags: { Key: string; Value: string }[];
}

export interface ChunkRecord {
  key: string;
  items: number;
  /** Size of the stored (compressed) object. */
  bytes: number;
  sha256: string;
}

export interface SegmentExport {
  segment: number;
  totalSegments: number;
  chunks: ChunkRecord[];
  items: number;
  /** Sum modulo 2^256 of the SHA-256 of each item's canonical form, as 64 hex digits. */
  digest: string;
  /** Items the last attempt read (less than `items` when it resumed from a checkpoint). */
  itemsReadByLastAttempt: number;
  /** Items already committed in chunks when the last attempt started (0 without a checkpoint). */
  resumedFromItems: number;
  attempts: number;
}

export interface TableBackup {
  tableName: string;
  definition: TableDefinition;
  items: number;
  digest: string;
  segments: SegmentExport[];
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  instance?: string;
  createdAt: string;
  createdBy: { workflowId: string; runId: string };
  bucket: string;
  prefix: string;
  /** The claim as captured before the delete, so a resumed recovery can recreate it. */
  claim?: { name: string; spec: Record<string, unknown>; labels: Record<string, string> };
  /** Every table the claim owned when the backup was taken (recovery backups): a resume requires all of them. */
  ownedTables?: string[];
  /** A manifest staged from a DynamoDB native export: that export, as checked when staged. */
  source?: NativeExportSource;
  /** How the tables were read (absent in older manifests: scan), and why when `auto` chose. */
  exportMethod?: ExportMethodRecord;
  /** A native backup: its one ExportTime and each table's export (their files are under `<prefix>/native/`). */
  pointInTime?: PointInTime;
  tables: TableBackup[];
}

/** Where a manifest lives and its SHA-256, so a reader notices an altered manifest too. */
export interface BackupLocation {
  bucket: string;
  prefix: string;
  manifestKey: string;
  manifestSha256: string;
}

/** What a delete activity requires: a verified backup's manifest, pinned by its SHA-256. */
export type BackupRef = Pick<BackupLocation, 'bucket' | 'manifestKey' | 'manifestSha256'>;

export const VERIFICATION_FORMAT = 'vcp-runbooks/dynamodb-backup-verification/v1';

/**
 * Written beside the manifest by the activity that read a table's backup back and found it whole;
 * bound to the manifest's SHA-256, so it cannot vouch for another or an altered manifest.
 */
export interface VerificationRecord {
  format: typeof VERIFICATION_FORMAT;
  manifestKey: string;
  manifestSha256: string;
  tableName: string;
  items: number;
  digest: string;
  chunks: number;
  /** The live table's item count at verification, when compared (writers stopped). */
  liveItems?: number;
  verifiedAt: string;
  verifiedBy: { workflowId: string; runId: string };
}

/** Written when a recovery's restore verified, naming the claim it restored into. */
export interface RestoreRecord {
  manifestKey: string;
  manifestSha256: string;
  claimUid: string;
  restoredAt: string;
  restoredBy: { workflowId: string; runId: string };
}

/** Beside the manifest: `<folder of manifest.json>/verification/<table>.json`. */
export function verificationKey(manifestKey: string, tableName: string): string {
  return `${manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1)}verification/${tableName}.json`;
}

export interface TableSnapshot {
  tableName: string;
  exists: boolean;
  status?: string;
  definition?: TableDefinition;
  /** Counted by a consistent Scan (ItemCount is hours stale on AWS and 0 on dynalite). */
  itemCount?: number;
  sizeBytes?: number;
}

export interface ExportTuning {
  /** Items per chunk at most (default 10 000); a chunk also closes at 8 MiB of JSON. */
  chunkMaxItems?: number;
  /** Scan segments per table; by default it grows with the table (one per 25 000 items, up to 16). */
  segments?: number;
}

export interface ImportTuning {
  /** Concurrent BatchWriteItem requests per import activity (default 16). */
  concurrency?: number;
}

const ITEMS_PER_SEGMENT = 25_000;
const MAX_SEGMENTS = 16;
export const DEFAULT_CHUNK_MAX_ITEMS = 10_000;

/** The parallel scan's segment count grows with the table, so large tables spread over workers. */
export function segmentsFor(itemCount: number, requested?: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || requested > 1_000_000) {
      throw new InvalidInputError(`segments must be an integer from 1 to 1000000, got ${requested}`);
    }
    return requested;
  }
  return Math.min(MAX_SEGMENTS, Math.max(1, Math.ceil(itemCount / ITEMS_PER_SEGMENT)));
}

const DIGEST_MODULUS = 1n << 256n;

/**
 * The digest arithmetic, defined here only: an item set's digest is the sum of its items' SHA-256
 * hashes modulo 2^256, so it does not depend on order and digests of parts add up to the whole's.
 */
export function addToDigestSum(sum: bigint, digest: string): bigint {
  return (sum + BigInt(`0x${digest}`)) % DIGEST_MODULUS;
}

export function digestOfSum(sum: bigint): string {
  return sum.toString(16).padStart(64, '0');
}

/** Combines order-independent digests (of disjoint parts: segments, chunks). */
export function addDigests(...digests: string[]): string {
  return digestOfSum(digests.reduce(addToDigestSum, 0n));
}

export const EMPTY_DIGEST = '0'.repeat(64);

export function s3Url(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** `s3://bucket/key` → its parts; anything else is refused. */
export function parseS3Url(url: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(url);
  if (!match) throw new InvalidInputError(`${JSON.stringify(url)} is not an s3://bucket/key URL`);
  return { bucket: match[1]!, key: match[2]! };
}

/** Backups live under one prefix per run, so two runs never write the same objects. */
export function backupPrefix(instance: string, runId: string, startedAt: Date): string {
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `dynamodb-backups/${instance}/${stamp}-${runId}`;
}

export function chunkKey(prefix: string, tableName: string, segment: number, totalSegments: number, index: number): string {
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  return `${prefix}/${tableName}/segment-${pad(segment, 4)}-of-${pad(totalSegments, 4)}/chunk-${pad(index, 6)}.ndjson.gz`;
}

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

export function validateTableName(name: unknown): string {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    throw new InvalidInputError(`${JSON.stringify(name)} is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)`);
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// Runbook inputs, plans and results

export interface DynamoDbRecoveryInput {
  instance: string;
  /**
   * Not a subset: deleting the claim deletes every table it owns, so a recovery always backs up,
   * restores and verifies all of them. When given, it must name every owned table (the run is
   * refused at discovery otherwise); omit it to recover whatever the claim owns.
   */
  tables?: string[];
  /** Scale the API to 0 and suspend the CronJob during the recovery (default true). */
  quiesceWriters?: boolean;
  /** Ask for a second approval once the backup is verified, before the claim is deleted. */
  confirmAfterBackup?: boolean;
  /** Resume after a failure past the delete: import from this verified backup instead of exporting. */
  resumeFrom?: string;
  /** Accept a resumeFrom manifest taken of another instance (its tables map by base name). */
  allowOtherInstance?: boolean;
  export?: ExportTuning;
  import?: ImportTuning;
  /** How long to wait for the claim's deletion and recreation (default 10 minutes each). */
  claimTimeoutMs?: number;
  options: RunbookOptions;
}

export interface DynamoDbExportInput {
  instance: string;
  /** A subset of the instance's tables; default: all of them. */
  tables?: string[];
  export?: ExportTuning;
  /** scan (default; also when absent), native (DynamoDB's export at one point in time) or auto. */
  method?: ExportMethod;
  options: RunbookOptions;
}

export interface DynamoDbImportInput {
  /** s3:// URL of a backup's manifest.json, or of a file in the `aws dynamodb scan` output format. */
  from: string;
  /** For a scan file: the table to import into. For a manifest: a subset of its tables. */
  tables?: string[];
  /** For a manifest: table name mapping (backup table → target table). */
  targetTables?: Record<string, string>;
  /** Import into tables that already hold items (items with the same key are overwritten). */
  allowNonEmptyTargets?: boolean;
  /** Accept a manifest taken of another instance (its tables map by base name: users-a → users-b). */
  allowOtherInstance?: boolean;
  /** The instance whose tables are written; its destructive lock is held during the import. */
  instance: string;
  import?: ImportTuning;
  options: RunbookOptions;
}

export interface DynamoDbExportDetails {
  backup: BackupLocation & { url: string; items: number; chunks: number };
  tables: { tableName: string; items: number; digest: string }[];
  exportSeconds: number;
  itemsPerSecond: number;
  /** How the tables were read (absent from runs before the method option). */
  method?: ExportMethodRecord;
  pointInTime?: PointInTime;
}

export interface DynamoDbImportPlan {
  source: string;
  kind: 'manifest' | 'scan-file' | 'native-export';
  /** The bucket the source is read from: the backup bucket, or one listed in VCP_ALLOWED_SOURCE_BUCKETS. */
  sourceBucket: string;
  /** The manifest imported (for a scan file or a native export, the one staged from it), pinned by its SHA-256. */
  manifest: { url: string; sha256: string; instance?: string; createdAt: string };
  /** A native export: its ARN, table, time and the SHA-256 of its two manifests, as checked when staged. */
  nativeExport?: NativeExportSource;
  tables: {
    tableName: string;
    targetTable: string;
    backupItems: number;
    /** What the target holds now; only with allowNonEmptyTargets may it be more than 0. */
    targetItemsBefore: number;
    /** The target holds items: those with a key in the backup are overwritten, the others kept. */
    overwritesSameKeyItems: boolean;
  }[];
  allowNonEmptyTargets: boolean;
  allowOtherInstance: boolean;
}

/** A target that held items: every backup item is now in it, equal, and it did not shrink. */
export interface MergedTableResult {
  tableName: string;
  targetTable: string;
  backupItems: number;
  itemsBefore: number;
  itemsAfter: number;
  missing: number;
  differing: number;
  examples: string[];
}

export interface DynamoDbImportDetails {
  backup: BackupLocation & { url: string };
  imported: ImportedTable[];
  /** Item-by-item digest equality, for targets that were empty before the import. */
  verified: TableRestoreResult[];
  /** Targets that held items: every backup item present and equal, nothing lost. */
  merged: MergedTableResult[];
  importSeconds: number;
  itemsPerSecond: number;
}

export interface ClaimInfo {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  /** The spec as `make deploy-instance` applies it: no resourceRef, no status. */
  spec: Record<string, unknown>;
  labels: Record<string, string>;
  conditions: { type: string; status: string; reason?: string; message?: string }[];
  composite?: { name: string; uid?: string };
  managedTables: ManagedTableInfo[];
  /**
   * Each managed Table's conditions and the key schema it wants (why a claim is stuck, or its table is
   * not what it manages); apart from managedTables, which must not change between a plan and its delete.
   */
  managedTableStatus?: {
    name: string;
    tableName: string;
    conditions: { type: string; status: string; reason?: string; message?: string }[];
    keySchema?: { attributeName: string; keyType: string }[];
  }[];
  /**
   * What would keep the claim's deletion from finishing, had it started: a paused claim, composite or
   * Table (Crossplane does not reconcile it, deletion included), or one a Usage protects (Crossplane's
   * webhook refuses its deletion). Each says what and how to lift it.
   */
  deletionBlockers?: string[];
  /** On a claim a recovery recreated: the backup it restores (annotations), so a resume can tell it from a live claim. */
  restoredFrom?: { manifest: string; sha256: string };
}

export interface ManagedTableInfo {
  /** The managed Table object, and its UID: the recovery waits until this very object is gone. */
  name: string;
  uid?: string;
  /** Its DynamoDB table: the crossplane.io/external-name annotation, else the object's name (as the provider defaults it). */
  tableName: string;
  deletionPolicy: 'Delete' | 'Orphan';
  /** spec.managementPolicies when not the default ['*']. */
  managementPolicies?: ManagementAction[];
  /**
   * The table is named after the object's generated name (the Composition does not patch the
   * external name): a recreated claim's Table gets another generated name, so another table.
   */
  nameGenerated?: boolean;
}

export interface WriterState {
  apiDeployment?: { name: string; replicas: number };
  cronJob?: { name: string; suspended: boolean };
}

interface RecoveryPlanTable {
  tableName: string;
  /** Items now (0 for a table that does not exist). */
  items: number;
  exists: boolean;
  /** The managed Table resource that owns it; absent for a platform table the composite does not manage. */
  managedBy?: string;
  deletionPolicy: 'Delete' | 'Orphan' | 'unmanaged';
  /** The managed Table's spec.managementPolicies when not the default (they decide with deletionPolicy). */
  managementPolicies?: string[];
  /** Who deletes it: the claim's deletion, the runbook itself (it would survive the claim), or nobody (resume). */
  deletedBy: 'claim' | 'runbook' | 'none';
  /** Every owned table is restored from the backup and verified item by item. */
  restored: true;
  /** Items in the backup it is restored from (resume; a fresh backup holds `items`). */
  backupItems?: number;
  segments: number;
  gsis: string[];
  lsis: string[];
  ttl: string;
  pitr: string;
  tags: number;
}

/** The backup a resume imports, as approved: a different manifest (SHA-256) after approval is refused. */
export interface PlannedSource {
  url: string;
  bucket: string;
  manifestKey: string;
  manifestSha256: string;
  instance?: string;
  createdAt: string;
  tables: { tableName: string; targetTable: string; items: number; digest: string }[];
}

export interface DynamoDbRecoveryPlan {
  instance: string;
  claim: {
    name: string;
    namespace: string;
    uid: string;
    deletionPolicy: 'Delete' | 'Orphan' | 'mixed';
    composite?: string;
    /** The spec the claim is recreated from, and its labels. */
    spec: Record<string, unknown>;
    labels: Record<string, string>;
    /** delete-and-recreate; recreate (resume, the claim is gone); keep (resume into the claim a recovery from this backup recreated). */
    action: 'delete-and-recreate' | 'recreate' | 'keep';
  };
  /** Every table the claim owns: what is deleted (with item counts) and restored. */
  tables: RecoveryPlanTable[];
  totalItems: number;
  /** Tables the claim's deletion leaves behind (Orphan, or unmanaged): the runbook deletes them itself after the backup is verified. */
  orphanedTablesToDelete: string[];
  writers: { quiesce: boolean; apiDeployment?: { name: string; replicas: number }; cronJob?: { name: string; suspended: boolean } };
  autoSync: { application: string; automated: boolean; selfHeal: boolean; pausedDuringRun: boolean };
  /** Where a fresh backup is written. */
  backup: { bucket: string; prefix: string };
  confirmAfterBackup: boolean;
  /** Rough write downtime: export + verify + delete + recreate + import + verify, at measured emulator rates. */
  expectedWriteDowntimeSeconds: number;
  resumeFrom?: string;
  /** The backup a resume imports. */
  source?: PlannedSource;
}

export interface TableRestoreResult {
  tableName: string;
  backupItems: number;
  restoredItems: number;
  backupDigest: string;
  restoredDigest: string;
  settingsApplied: string[];
}

export interface ImportedTable {
  tableName: string;
  targetTable: string;
  items: number;
  retriedItems: number;
  segments: { segment: number; itemsWrittenByLastAttempt: number; resumedFromItems: number; attempts: number }[];
}

export interface DynamoDbRecoveryDetails {
  backup: BackupLocation & { url: string; items: number; chunks: number; nativeBackups: { tableName: string; backupArn?: string; unsupported?: boolean }[] };
  tables: TableRestoreResult[];
  imported: ImportedTable[];
  durations: { exportSeconds: number; verifySeconds: number; deleteSeconds: number; recreateSeconds: number; importSeconds: number; writeDowntimeSeconds: number };
  throughput: { exportItemsPerSecond: number; importItemsPerSecond: number };
}

export function validateRecoveryTables(instance: string, tables: unknown, known: string[]): string[] | undefined {
  if (tables === undefined) return undefined;
  if (!Array.isArray(tables) || tables.length === 0) throw new InvalidInputError('tables must be a non-empty list of table names');
  for (const t of tables) {
    validateTableName(t);
    if (!known.includes(t as string)) {
      throw new InvalidInputError(`table ${JSON.stringify(t)} is not one of ${validateInstanceName(instance)}'s tables (${known.join(', ')})`);
    }
  }
  return [...new Set(tables as string[])];
}

export const DRILL_FORMAT = 'vcp-runbooks/dynamodb-backup-drill/v1';

/**
 * Written beside the manifest after a restore drill restored the backup into scratch tables and
 * compared them with it, passed or not; the catalog shows the newest one.
 */
export interface DrillRecord {
  format: typeof DRILL_FORMAT;
  manifestKey: string;
  manifestSha256: string;
  passed: boolean;
  /** Why it failed, when it did. */
  error?: string;
  tables: { tableName: string; scratchTable: string; expectedItems: number; restoredItems?: number; expectedDigest: string; restoredDigest?: string }[];
  startedAt: string;
  finishedAt: string;
  itemsPerSecond?: number;
  drilledBy: { workflowId: string; runId: string };
}

/** Beside the manifest: `<folder of manifest.json>/drills/<finishedAt>-<runId>.json`, so they sort by time. */
export function drillRecordKey(manifestKey: string, finishedAt: Date, runId: string): string {
  const stamp = finishedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1)}drills/${stamp}-${runId}.json`;
}
