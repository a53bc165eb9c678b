/**
 * The evidence the destructive DynamoDB activities check themselves, whoever scheduled them: a
 * backup's manifest pinned by its SHA-256, the verification records the activity that read each
 * table's backup back wrote beside it, and the allowed source buckets. A workflow that skipped a
 * step (or a client scheduling the activity directly) cannot delete what no verified backup holds.
 */
import { NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { VERIFICATION_FORMAT, verificationKey } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, BackupRef, RestoreRecord, VerificationRecord } from '../../common/dynamodb-backup';
import { putBackupObject } from './dynamodb-export';
import { BackupCorruptError, getObjectBytes, readManifest } from './backup-chunks';
import type { TableVerification } from './dynamodb-import';

export interface EvidenceDeps {
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
  /** Buckets besides the backup bucket a backup may be read from (VCP_ALLOWED_SOURCE_BUCKETS). */
  allowedSourceBuckets?: string[];
}

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** Backups are read only from the backup bucket or a bucket the operator listed. */
export function requireAllowedSourceBucket(deps: EvidenceDeps, bucket: string): void {
  if (bucket === deps.backupBucket || deps.allowedSourceBuckets?.includes(bucket)) return;
  refuse(
    'SourceBucketNotAllowed',
    `bucket ${bucket} is neither the backup bucket ${deps.backupBucket} nor listed in VCP_ALLOWED_SOURCE_BUCKETS (${deps.allowedSourceBuckets?.join(', ') || 'empty'})`,
  );
}

/** A manifest from an allowed bucket whose chunks are in an allowed bucket too (a manifest names its chunks' bucket). */
export async function readAllowedManifest(deps: EvidenceDeps, location: BackupLocation): Promise<BackupManifest> {
  requireAllowedSourceBucket(deps, location.bucket);
  const manifest = await readManifest(deps.s3, location, deps.expectedBucketOwner);
  requireAllowedSourceBucket(deps, manifest.bucket);
  return manifest;
}

function currentRun(): { workflowId: string; runId: string } {
  const execution = activityInfo().workflowExecution;
  return { workflowId: execution?.workflowId ?? '', runId: execution?.runId ?? '' };
}

/** Records that `verification` read the table's whole backup back; only for backups in the backup bucket. */
export async function writeVerificationRecord(deps: EvidenceDeps, location: BackupLocation, verification: TableVerification & { liveItems?: number }): Promise<void> {
  if (location.bucket !== deps.backupBucket) return;
  const record: VerificationRecord = {
    format: VERIFICATION_FORMAT,
    manifestKey: location.manifestKey,
    manifestSha256: location.manifestSha256,
    tableName: verification.tableName,
    items: verification.items,
    digest: verification.digest,
    chunks: verification.chunks,
    liveItems: verification.liveItems,
    verifiedAt: new Date().toISOString(),
    verifiedBy: currentRun(),
  };
  await putBackupObject(deps, location.bucket, verificationKey(location.manifestKey, verification.tableName), JSON.stringify(record, null, 1), 'application/json');
}

export async function readJson<T>(deps: EvidenceDeps, bucket: string, key: string): Promise<T | undefined> {
  try {
    return JSON.parse((await getObjectBytes(deps.s3, bucket, key, deps.expectedBucketOwner)).toString('utf8')) as T;
  } catch (err) {
    if (err instanceof NoSuchKey || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)) return undefined;
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * The manifest of `backup` if it is a backup this run took and verified that holds every one of
 * `tableNames`; otherwise a non-retryable refusal naming what is missing. Binding the backup to the
 * current run means a delete can only follow a backup taken moments before, never an old one.
 */
export async function requireVerifiedBackup(deps: EvidenceDeps, backup: BackupRef | undefined, tableNames: string[], what: string): Promise<BackupManifest> {
  const refused = (reason: string): never => refuse('BackupNotVerified', `refusing to ${what}: ${reason}`);
  if (!backup?.bucket || !backup.manifestKey || !backup.manifestSha256) return refused('no verified backup given (bucket, manifest key and SHA-256 are required)');
  if (backup.bucket !== deps.backupBucket) return refused(`the backup is in ${backup.bucket}, not in the backup bucket ${deps.backupBucket}`);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(deps.s3, { ...backup, prefix: '' }, deps.expectedBucketOwner);
  } catch (err) {
    if (err instanceof BackupCorruptError || err instanceof NoSuchKey) return refused(err.message);
    throw err;
  }
  const run = currentRun();
  if (manifest.createdBy.runId !== run.runId) return refused(`the backup was taken by run ${manifest.createdBy.runId}, not by this run (${run.runId})`);
  const missing = tableNames.filter((t) => !manifest.tables.some((b) => b.tableName === t));
  if (missing.length > 0) return refused(`the backup has no ${missing.join(', ')}`);
  const unverified: string[] = [];
  for (const tableName of tableNames) {
    const table = manifest.tables.find((b) => b.tableName === tableName)!;
    const record = await readJson<VerificationRecord>(deps, backup.bucket, verificationKey(backup.manifestKey, tableName));
    const holds =
      record?.format === VERIFICATION_FORMAT &&
      record.manifestKey === backup.manifestKey &&
      record.manifestSha256 === backup.manifestSha256 &&
      record.tableName === tableName &&
      record.items === table.items &&
      record.digest === table.digest &&
      record.verifiedBy?.runId === run.runId;
    if (!holds) unverified.push(tableName);
  }
  if (unverified.length > 0) return refused(`the backup of ${unverified.join(', ')} was not verified by this run`);
  return manifest;
}

/** In the backup bucket whatever bucket the backup is read from (another may not be writable). */
function restoreRecordKey(location: BackupRef, claimUid: string): string {
  return `dynamodb-restores/${location.bucket}/${location.manifestKey}/${claimUid}.json`;
}

/** Marks the restore from `location` into claim `claimUid` finished: a later resume must not import over it. */
export async function writeRestoreRecord(deps: EvidenceDeps, location: BackupRef, claimUid: string): Promise<void> {
  const record: RestoreRecord = {
    manifestKey: location.manifestKey,
    manifestSha256: location.manifestSha256,
    claimUid,
    restoredAt: new Date().toISOString(),
    restoredBy: currentRun(),
  };
  await putBackupObject(deps, deps.backupBucket, restoreRecordKey(location, claimUid), JSON.stringify(record, null, 1), 'application/json');
}

export async function restoreRecordExists(deps: EvidenceDeps, location: BackupRef, claimUid: string): Promise<boolean> {
  const record = await readJson<RestoreRecord>(deps, deps.backupBucket, restoreRecordKey(location, claimUid));
  return record?.manifestSha256 === location.manifestSha256 && record.claimUid === claimUid;
}
