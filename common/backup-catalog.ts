/**
 * The backup catalog and its retention rules. Pure code: the catalog activity gathers what S3 holds
 * under `dynamodb-backups/<instance>/` and this module turns it into one entry per backup; the
 * retention runbook and its delete activity select what expires with the same function, so the
 * rules are checked again, right before anything is deleted, by the code that was unit-tested.
 */
import { InvalidInputError, validateInstanceName } from './instance';
import { DRILL_FORMAT, s3Url, VERIFICATION_FORMAT } from './dynamodb-backup';
import type { BackupManifest, DrillRecord, VerificationRecord } from './dynamodb-backup';
import type { RunbookOptions } from './runbook';

/** Where an instance's backups live: one folder per backup, named `<start time>-<run ID>` (backupPrefix). */
export function instanceBackupsFolder(instance: string): string {
  return `dynamodb-backups/${validateInstanceName(instance)}/`;
}

const BACKUP_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-(.+)$/;

/** A backup folder's name as backupPrefix builds it: the run's start time and run ID; undefined for another name. */
export function backupIdParts(id: string): { startedAt: string; runId: string } | undefined {
  const m = BACKUP_ID.exec(id);
  if (!m) return undefined;
  const startedAt = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(startedAt.getTime())) return undefined;
  return { startedAt: startedAt.toISOString(), runId: m[7]! };
}

/** What the catalog activity read of one backup folder: summaries only, never the data. */
export interface BackupFolder {
  id: string;
  /** Objects under the folder and their stored size (everything: chunks, manifest, records). */
  objects: number;
  storedBytes: number;
  manifest?: BackupManifest;
  manifestSha256?: string;
  /** The manifest exists but could not be read or parsed: the entry is listed, never trusted. */
  manifestProblem?: string;
  verifications: VerificationRecord[];
  /** The newest drill record beside the manifest (drills/ sorts by time), if any. */
  newestDrill?: DrillRecord;
  /** For a backup a recovery took (its manifest has the claim): restore records naming it. */
  restoreRecords?: number;
}

export interface BackupEntry {
  /** The folder's name, `<start time>-<run ID>`: what `--backup` and the lists name it by. */
  id: string;
  instance: string;
  bucket: string;
  prefix: string;
  /** The manifest's URL (what import and --resume-from take), or the folder's for an incomplete backup. */
  url: string;
  /** complete: a manifest; incomplete: chunks without a manifest (an export that failed or still runs). */
  state: 'complete' | 'incomplete';
  /** The manifest's time, or for an incomplete backup the start time in its folder name; absent when neither is known. */
  createdAt?: string;
  createdBy?: { workflowId: string; runId: string };
  tables: { tableName: string; items: number; bytes: number }[];
  items: number;
  /** Sum of the chunks' stored (compressed) size, per the manifest. */
  bytes: number;
  stored: { objects: number; bytes: number };
  manifestSha256?: string;
  /** Every table has a verification record bound to this manifest's SHA-256, items and digest. */
  verified: boolean;
  unverifiedTables: string[];
  /** The newest restore drill of this manifest. */
  drill?: { passed: boolean; at: string; error?: string; drilledBy: { workflowId: string; runId: string } };
  /**
   * scan: our parallel Scan (not point-in-time: each segment reads while others write); native-export:
   * DynamoDB's export to S3 (`export-dynamodb --method native`, or an import staged from one).
   */
  method: 'scan' | 'native-export';
  pointInTime: boolean;
  /** What the copy is a copy of, in words: "not point-in-time (Scan)" or "point-in-time at <export time>". */
  consistency: string;
  /** Taken by a recovery (the manifest holds the claim): whether a restore from it finished. */
  recovery?: { restored: boolean };
  problem?: string;
}

const MANIFEST = 'manifest.json';

/** Whether a table's verification record vouches for this very manifest: its key, SHA-256, the table's item count and digest. */
export function verificationHolds(record: VerificationRecord | undefined, manifestKey: string, sha256: string, table: { tableName: string; items: number; digest: string }): boolean {
  return (
    record?.format === VERIFICATION_FORMAT &&
    record.manifestKey === manifestKey &&
    record.manifestSha256 === sha256 &&
    record.tableName === table.tableName &&
    record.items === table.items &&
    record.digest === table.digest
  );
}

function drillOf(record: DrillRecord | undefined, manifestKey: string, sha256: string): BackupEntry['drill'] {
  if (record?.format !== DRILL_FORMAT || record.manifestKey !== manifestKey || record.manifestSha256 !== sha256) return undefined;
  return { passed: record.passed === true, at: record.finishedAt, error: record.error, drilledBy: record.drilledBy };
}

/** One catalog entry from what the activity read of a backup folder. */
export function catalogEntry(instance: string, bucket: string, folder: BackupFolder): BackupEntry {
  const prefix = `${instanceBackupsFolder(instance)}${folder.id}`;
  const manifestKey = `${prefix}/${MANIFEST}`;
  const base = {
    id: folder.id,
    instance,
    bucket,
    prefix,
    stored: { objects: folder.objects, bytes: folder.storedBytes },
  };
  const { manifest, manifestSha256 } = folder;
  if (!manifest || !manifestSha256) {
    const complete = folder.manifestProblem !== undefined;
    return {
      ...base,
      url: complete ? s3Url(bucket, manifestKey) : s3Url(bucket, `${prefix}/`),
      state: complete ? 'complete' : 'incomplete',
      createdAt: backupIdParts(folder.id)?.startedAt,
      tables: [],
      items: 0,
      bytes: 0,
      verified: false,
      unverifiedTables: [],
      method: 'scan',
      pointInTime: false,
      consistency: 'unknown',
      problem: folder.manifestProblem ?? 'no manifest: an export that failed or is still running',
    };
  }
  const tables = manifest.tables.map((t) => ({
    tableName: t.tableName,
    items: t.items,
    bytes: t.segments.reduce((sum, s) => sum + s.chunks.reduce((b, c) => b + c.bytes, 0), 0),
  }));
  const unverifiedTables = manifest.tables
    .filter((t) => !verificationHolds(folder.verifications.find((v) => v.tableName === t.tableName), manifestKey, manifestSha256, t))
    .map((t) => t.tableName);
  // A backup taken by native export records its one ExportTime; an import staged from one, its source's.
  const exportTime = manifest.pointInTime?.exportTime ?? (manifest.source?.kind === 'dynamodb-native-export' ? manifest.source.exportTime : undefined);
  return {
    ...base,
    url: s3Url(bucket, manifestKey),
    state: 'complete',
    createdAt: manifest.createdAt,
    createdBy: manifest.createdBy,
    tables,
    items: tables.reduce((sum, t) => sum + t.items, 0),
    bytes: tables.reduce((sum, t) => sum + t.bytes, 0),
    manifestSha256,
    verified: tables.length > 0 && unverifiedTables.length === 0,
    unverifiedTables,
    drill: drillOf(folder.newestDrill, manifestKey, manifestSha256),
    method: exportTime ? 'native-export' : 'scan',
    pointInTime: Boolean(exportTime),
    consistency: exportTime ? `point-in-time at ${exportTime}` : 'not point-in-time (Scan)',
    recovery: manifest.claim ? { restored: (folder.restoreRecords ?? 0) > 0 } : undefined,
  };
}

/** A backup retention counts as verified: complete, every table's record vouching for its manifest, dated. */
export function isVerifiedBackup(e: BackupEntry): boolean {
  return e.state === 'complete' && e.verified && e.createdAt !== undefined;
}

/** The newest verified backup: retention never deletes it, and a drill with no backup named restores it. */
export function newestVerifiedEntry(entries: readonly BackupEntry[]): BackupEntry | undefined {
  return newestFirst(entries).find(isVerifiedBackup);
}

/** Newest first; undated entries last. */
export function newestFirst(entries: readonly BackupEntry[]): BackupEntry[] {
  const time = (e: BackupEntry) => (e.createdAt ? Date.parse(e.createdAt) : Number.NEGATIVE_INFINITY);
  return [...entries].sort((a, b) => time(b) - time(a) || b.id.localeCompare(a.id));
}

export interface BackupCatalogInput {
  instance: string;
}

export interface BackupCatalog {
  instance: string;
  bucket: string;
  listedAt: string;
  /** Newest first. */
  entries: BackupEntry[];
}

// ---------------------------------------------------------------------------------------------
// Which backups running workflows use

/** The workflow types whose running runs read or write backups. */
export const BACKUP_USING_WORKFLOW_TYPES = ['dynamodbRecovery', 'dynamodbImport', 'backupDrill', 'dynamodbExport', 'scheduledBackup'] as const;

/** A running workflow, as the in-use activity found it: its type, IDs and start input. */
export interface RunningWorkflow {
  workflowType: string;
  workflowId: string;
  runId: string;
  input: unknown;
  /** What the run said it uses once it knew (a drill's resolved backup). */
  memo?: unknown;
}

/** One backup a running workflow uses: by folder (from a URL or ID in its input) or by run ID (the folder it writes). */
export interface BackupUse {
  prefix?: string;
  id?: string;
  runId?: string;
  how: 'reads' | 'writes';
  by: { workflowType: string; workflowId: string; runId: string };
}

const BACKUP_FOLDER_IN = /dynamodb-backups\/([a-z0-9][a-z0-9-]*)\/([^/\s]+)/;

/** Every string in a start input (bounded: depth 8, 10 000 strings), where a backup URL or ID may be. */
function stringsIn(value: unknown, out: string[] = [], depth = 0): string[] {
  if (out.length >= 10_000 || depth > 8) return out;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out, depth + 1);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) stringsIn(v, out, depth + 1);
  return out;
}

/**
 * What running workflows use: every backup their start input names (a recovery's `resumeFrom`, an
 * import's `from`, a drill's backup URL or ID; any field, so a new input field is covered too), and
 * the folder each writes, which backupPrefix names after its run ID (an export, a recovery's backup).
 */
export function backupsInUse(runs: readonly RunningWorkflow[]): BackupUse[] {
  const uses: BackupUse[] = [];
  for (const run of runs) {
    const by = { workflowType: run.workflowType, workflowId: run.workflowId, runId: run.runId };
    uses.push({ runId: run.runId, how: 'writes', by });
    for (const s of [...stringsIn(run.input), ...stringsIn(run.memo)]) {
      const folder = BACKUP_FOLDER_IN.exec(s);
      if (folder) uses.push({ prefix: `dynamodb-backups/${folder[1]}/${folder[2]}`, how: 'reads', by });
      else if (backupIdParts(s)) uses.push({ id: s, how: 'reads', by });
    }
  }
  return uses;
}

function usesOf(entry: BackupEntry, uses: readonly BackupUse[]): BackupUse[] {
  const runId = backupIdParts(entry.id)?.runId;
  return uses.filter(
    (u) =>
      (u.prefix !== undefined && u.prefix === entry.prefix) ||
      (u.id !== undefined && u.id === entry.id) ||
      (u.runId !== undefined && (u.runId === runId || u.runId === entry.createdBy?.runId)),
  );
}

// ---------------------------------------------------------------------------------------------
// Retention

export interface RetentionPolicy {
  /** Keep the newest `keep` verified backups (at least 1). */
  keep?: number;
  /** Keep every backup younger than `keepDays` days (a positive number; fractions allowed: 0.5 is 12 hours). */
  keepDays?: number;
}

export interface BackupRetentionInput extends RetentionPolicy {
  instance: string;
  /** List what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** Absent when the scheduled backup starts retention as its child: the run is then attributed to it. */
  options?: RunbookOptions;
}

/** The policy, checked: at least one of keep and keepDays, keep a whole number from 1, keepDays positive. */
export function validateRetentionPolicy(input: { keep?: unknown; keepDays?: unknown }): RetentionPolicy {
  const { keep, keepDays } = input;
  if (keep === undefined && keepDays === undefined) {
    throw new InvalidInputError('a retention policy needs --keep N (the newest N verified backups) or --keep-days D (backups younger than D days), or both');
  }
  if (keep !== undefined && (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 1 || keep > 10_000)) {
    throw new InvalidInputError(`keep must be a whole number from 1 to 10000 (the newest verified backup is always kept), got ${JSON.stringify(keep)}`);
  }
  if (keepDays !== undefined && (typeof keepDays !== 'number' || !Number.isFinite(keepDays) || keepDays <= 0 || keepDays > 36_500)) {
    throw new InvalidInputError(`keepDays must be a number of days above 0 (at most 36500), got ${JSON.stringify(keepDays)}`);
  }
  return { keep, keepDays };
}

/** Why a backup is kept; any one keeps it. */
export type KeepReason =
  | 'newest-verified'
  | 'in-use'
  | 'undated'
  | 'recovery-not-restored'
  | 'younger-than-policy'
  | 'newest-n-verified'
  | 'newer-than-newest-verified';

export interface RetentionDecision {
  id: string;
  prefix: string;
  /** The reasons it is kept; empty for a backup that expired. */
  kept: KeepReason[];
  /** For a kept backup: the rules in words. For an expired one: why it expired. */
  why: string;
  /** The running workflows using it. */
  usedBy?: BackupUse['by'][];
}

export interface RetentionSelection {
  keep: RetentionDecision[];
  expire: RetentionDecision[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

function describeEntry(e: BackupEntry): string {
  if (e.state === 'incomplete') return 'incomplete (no manifest)';
  if (e.problem) return `unreadable manifest (${e.problem})`;
  return e.verified ? 'verified' : `not verified (${e.unverifiedTables.join(', ') || 'no tables'})`;
}

/**
 * Which backups expire under `policy` at `now`, given what running workflows use. A backup is kept
 * when any of these holds, and deleted only when none does:
 * 1. it is the newest verified backup (whatever the policy says);
 * 2. a running workflow uses it: a recovery or import reading it, a drill restoring it, an export or
 *    recovery still writing its folder (also an incomplete one);
 * 3. its time is unknown (a folder name and no manifest we can date): never deleted blindly;
 * 4. a recovery took it and no restore from it finished: a failed recovery may need it for
 *    `--resume-from`, and the instance's tables may hold nothing else;
 * 5. keepDays: it is younger than keepDays days;
 * 6. keep: it is one of the `keep` newest verified backups;
 * 7. it is newer than the newest verified backup (an export being verified, or one that failed
 *    moments ago; with no verified backup at all, everything is kept).
 * So count and age combine as a union: the newest N verified AND everything younger than D days are
 * kept. Unverified, unreadable and incomplete backups count for neither N nor the newest verified:
 * once older than D days (or, with keep alone, older than the newest verified) they are deleted.
 */
export function selectForRetention(entries: readonly BackupEntry[], policy: RetentionPolicy, now: Date, uses: readonly BackupUse[]): RetentionSelection {
  const sorted = newestFirst(entries);
  const verified = sorted.filter(isVerifiedBackup);
  const newestVerified = verified[0];
  const newestN = new Set(policy.keep === undefined ? [] : verified.slice(0, policy.keep).map((e) => e.id));
  const cutoff = policy.keepDays === undefined ? undefined : now.getTime() - policy.keepDays * DAY_MS;
  const selection: RetentionSelection = { keep: [], expire: [] };
  for (const entry of sorted) {
    const created = entry.createdAt === undefined ? Number.NaN : Date.parse(entry.createdAt);
    const usedBy = usesOf(entry, uses).map((u) => u.by);
    const kept: KeepReason[] = [];
    if (entry.id === newestVerified?.id) kept.push('newest-verified');
    if (usedBy.length > 0) kept.push('in-use');
    const dated = !Number.isNaN(created);
    if (!dated) kept.push('undated');
    if (entry.recovery && !entry.recovery.restored) kept.push('recovery-not-restored');
    if (dated && cutoff !== undefined && created > cutoff) kept.push('younger-than-policy');
    if (newestN.has(entry.id)) kept.push('newest-n-verified');
    if (dated && (!newestVerified || created > Date.parse(newestVerified.createdAt!))) kept.push('newer-than-newest-verified');
    const decision: RetentionDecision = { id: entry.id, prefix: entry.prefix, kept, why: '', ...(usedBy.length > 0 ? { usedBy } : {}) };
    if (kept.length > 0) {
      decision.why = kept.map((k) => keepText(k, policy, usedBy)).join('; ');
      selection.keep.push(decision);
    } else {
      decision.why = expiryText(entry, policy, now);
      selection.expire.push(decision);
    }
  }
  return selection;
}

function keepText(reason: KeepReason, policy: RetentionPolicy, usedBy: BackupUse['by'][]): string {
  switch (reason) {
    case 'newest-verified':
      return 'the newest verified backup';
    case 'in-use':
      return `in use by ${usedBy.map((b) => `${b.workflowType} ${b.workflowId}`).join(', ')}`;
    case 'undated':
      return 'its time is unknown';
    case 'recovery-not-restored':
      return 'taken by a recovery whose restore never finished (needed for --resume-from)';
    case 'younger-than-policy':
      return `younger than ${policy.keepDays} days`;
    case 'newest-n-verified':
      return `one of the ${policy.keep} newest verified backups`;
    case 'newer-than-newest-verified':
      return 'newer than the newest verified backup';
  }
}

function expiryText(entry: BackupEntry, policy: RetentionPolicy, now: Date): string {
  const ageDays = (now.getTime() - Date.parse(entry.createdAt!)) / DAY_MS;
  const parts = [`${describeEntry(entry)}, ${ageDays.toFixed(2)} days old`];
  if (entry.verified) parts.push(policy.keep === undefined ? 'older than the newest verified backup' : `not one of the ${policy.keep} newest verified backups`);
  else parts.push('older than the newest verified backup');
  if (policy.keepDays !== undefined) parts.push(`older than ${policy.keepDays} days`);
  return parts.join(', ');
}

// ---------------------------------------------------------------------------------------------
// The retention run's result

export interface BackupDeletion {
  id: string;
  prefix: string;
  url: string;
  /** Objects deleted and their stored size. */
  objects: number;
  storedBytes: number;
  /** What the backup held, per its manifest (0 for an incomplete one). */
  items: number;
  bytes: number;
  createdAt?: string;
  verified: boolean;
  state: BackupEntry['state'];
  why: string;
  deletedAt: string;
}

export interface BackupRetentionDetails {
  instance: string;
  policy: RetentionPolicy;
  dryRun: boolean;
  /** What the selection kept and why. */
  kept: RetentionDecision[];
  /** Expired at selection; in a dry run nothing more happens. */
  expired: RetentionDecision[];
  deleted: BackupDeletion[];
  /** Selected, then protected by a rule when checked again right before the delete: left as they are. */
  refused: { id: string; prefix: string; reason: string }[];
}
