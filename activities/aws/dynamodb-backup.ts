/**
 * The DynamoDB backup activities: capture, export, verify, import, re-apply settings, digest.
 * Long ones heartbeat their checkpoint and resume from `activityInfo().heartbeatDetails`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { checkpointHeartbeats } from '../checkpoint-heartbeats';
import { ApplicationFailure } from '@temporalio/common';
import { BACKUP_FORMAT, validateTableName } from '../../common/dynamodb-backup';
import { NativeExportError } from '../../common/dynamodb-native-export';
import type { NativeExportSource } from '../../common/dynamodb-native-export';
import type { BackupLocation, BackupManifest, BackupRef, SegmentExport, TableDefinition, TableSnapshot } from '../../common/dynamodb-backup';
import { readAllowedManifest, requireAllowedSourceBucket, requireVerifiedBackup, writeVerificationRecord } from './backup-evidence';
import { countItemsByScan } from './dynamodb';
import { exportSegment, putBackupObject, sha256Hex } from './dynamodb-export';
import type { ExportCheckpoint, ExportSegmentInput } from './dynamodb-export';
import { digestTableSegment, importSegment, verifyTableBackup } from './dynamodb-import';
import { BackupCorruptError } from './backup-chunks';
import type { ImportCheckpoint, ImportSegmentResult, TableVerification } from './dynamodb-import';
import { MalformedItemError } from './dynamodb-items';
import { applyTableSettings, compareWithCaptured, createNativeBackup, deleteTableIfExists, snapshotTable } from './dynamodb-tables';

export interface DynamoDbBackupDeps {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
  /** Buckets besides the backup bucket that backups may be read from (VCP_ALLOWED_SOURCE_BUCKETS). */
  allowedSourceBuckets?: string[];
  /** Export and import segments one worker process runs at once (default 4): memory stays flat however many segments a large table has. */
  maxConcurrentSegments?: number;
  /** The worker's staging directory: an imported chunk too large to hold in memory is spooled there while it is checked. */
  stagingDir?: string;
}

export const DEFAULT_SEGMENTS_PER_WORKER = 4;

/** Limits concurrent segments in this process; waiting activities keep heartbeating. */
export class SegmentSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async run<T>(keepAlive: () => void, body: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else {
      const timer = setInterval(keepAlive, 5_000);
      try {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
      } finally {
        clearInterval(timer);
      }
    }
    try {
      return await body();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** A corrupt backup or malformed input is final: retrying cannot fix it. */
export function nonRetryable(err: unknown): never {
  if (err instanceof BackupCorruptError || err instanceof MalformedItemError || err instanceof NativeExportError) {
    throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true, cause: err });
  }
  throw err;
}

export interface BackupSummary {
  location: BackupLocation;
  instance?: string;
  createdAt: string;
  claim?: BackupManifest['claim'];
  ownedTables?: string[];
  source?: NativeExportSource;
  tables: { tableName: string; items: number; digest: string; segments: number[]; chunks: number; definition: TableDefinition }[];
}

function summarize(location: BackupLocation, manifest: BackupManifest): BackupSummary {
  return {
    location,
    instance: manifest.instance,
    createdAt: manifest.createdAt,
    claim: manifest.claim,
    ownedTables: manifest.ownedTables,
    ...(manifest.source ? { source: manifest.source } : {}),
    tables: manifest.tables.map((t) => ({
      tableName: t.tableName,
      items: t.items,
      digest: t.digest,
      segments: t.segments.map((s) => s.segment),
      chunks: t.segments.reduce((n, s) => n + s.chunks.length, 0),
      definition: t.definition,
    })),
  };
}

export function createDynamoDbBackupActivities(deps: DynamoDbBackupDeps) {
  const { dynamodb, s3, backupBucket, expectedBucketOwner } = deps;
  const target = { dynamodb, s3, expectedBucketOwner };
  const slots = new SegmentSlots(deps.maxConcurrentSegments ?? DEFAULT_SEGMENTS_PER_WORKER);

  return {
    /** Definition, status and a consistent-scan item count of each table; read-only. */
    async snapshotTables(tableNames: string[]): Promise<TableSnapshot[]> {
      const snapshots: TableSnapshot[] = [];
      for (const tableName of tableNames) snapshots.push(await snapshotTable(dynamodb, tableName, () => heartbeat({ tableName })));
      return snapshots;
    },

    /** One scan segment into chunks in S3, resuming from the last committed chunk of a previous attempt. */
    async exportTableSegment(input: Omit<ExportSegmentInput, 'bucket'>): Promise<SegmentExport> {
      const { resumeFrom, onCheckpoint, beat } = checkpointHeartbeats<ExportCheckpoint>();
      return slots.run(beat, () => {
        // Cancelled while it waited for a slot: hand the slot on without scanning.
        cancellationSignal().throwIfAborted();
        return exportSegment(
          target,
          { ...input, bucket: backupBucket },
          resumeFrom,
          onCheckpoint,
          // A cancelled export (a scheduled backup yielding to a recovery) stops at its next page,
          // freeing its segment slot at once: the recovery's own segments never queue behind it.
          () => {
            beat();
            cancellationSignal().throwIfAborted();
          },
        );
      });
    },

    /** Writes the manifest; its SHA-256 travels with its location so readers detect an altered one. */
    async writeBackupManifest(manifest: BackupManifest): Promise<BackupLocation> {
      const manifestKey = `${manifest.prefix}/manifest.json`;
      const body = JSON.stringify(manifest, null, 1);
      await putBackupObject(target, manifest.bucket, manifestKey, body, 'application/json');
      return { bucket: manifest.bucket, prefix: manifest.prefix, manifestKey, manifestSha256: sha256Hex(body) };
    },

    async readBackupSummary(location: BackupLocation): Promise<BackupSummary> {
      try {
        return summarize(location, await readAllowedManifest(deps, location));
      } catch (err) {
        return nonRetryable(err);
      }
    },

    /** Finds a manifest by URL (for `--from s3://…/manifest.json`) and pins its SHA-256 for the run. */
    async locateBackup(url: { bucket: string; key: string }): Promise<BackupLocation> {
      requireAllowedSourceBucket(deps, url.bucket);
      const body = await s3.send(new GetObjectCommand({ Bucket: url.bucket, Key: url.key, ExpectedBucketOwner: expectedBucketOwner }));
      const bytes = Buffer.from(await body.Body!.transformToByteArray());
      let manifest: BackupManifest;
      try {
        manifest = JSON.parse(bytes.toString('utf8')) as BackupManifest;
      } catch (err) {
        return nonRetryable(new BackupCorruptError(`s3://${url.bucket}/${url.key} is not JSON`, { cause: err }));
      }
      if (manifest.format !== BACKUP_FORMAT) {
        return nonRetryable(new BackupCorruptError(`s3://${url.bucket}/${url.key} is not a ${String(BACKUP_FORMAT)} manifest`));
      }
      return { bucket: url.bucket, prefix: manifest.prefix, manifestKey: url.key, manifestSha256: sha256Hex(bytes) };
    },

    /**
     * Reads a table's backup back from S3: every chunk's checksum and count, the digest of every
     * item, no duplicate keys; with `liveTable`, also the live table's item count (writers are stopped).
     * What it found is recorded beside the manifest: the delete activities require that record.
     */
    async verifyBackupTable(input: { location: BackupLocation; tableName: string; compareWithLiveTable: boolean }): Promise<TableVerification & { liveItems?: number }> {
      try {
        const manifest = await readAllowedManifest(deps, input.location);
        const result: TableVerification & { liveItems?: number } = await verifyTableBackup(s3, manifest, input.tableName, (chunks) => heartbeat({ chunks }), expectedBucketOwner);
        if (input.compareWithLiveTable) {
          result.liveItems = await countItemsByScan(dynamodb, input.tableName);
          if (result.liveItems !== result.items) {
            throw new BackupCorruptError(`backup of ${input.tableName} holds ${result.items} items but the table now holds ${result.liveItems}: a writer is still running?`);
          }
        }
        await writeVerificationRecord(deps, input.location, result);
        return result;
      } catch (err) {
        return nonRetryable(err);
      }
    },

    async createNativeBackups(input: { tableNames: string[]; backupName: string }) {
      return Promise.all(input.tableNames.map((t) => createNativeBackup(dynamodb, t, `${input.backupName}-${t}`.replace(/[^a-zA-Z0-9_.-]/g, '-'))));
    },

    /**
     * For tables the claim's deletion leaves behind: deleted by the runbook itself, and only when
     * this run's verified backup holds the table (the activity checks, whoever scheduled it).
     */
    async deleteOrphanedTable(input: { tableName: string; backup: BackupRef }): Promise<{ deleted: boolean }> {
      const tableName = validateTableName(input.tableName);
      await requireVerifiedBackup(deps, input.backup, [tableName], `delete table ${tableName}`);
      return { deleted: await deleteTableIfExists(dynamodb, tableName) };
    },

    async countTableItems(tableName: string): Promise<number> {
      return countItemsByScan(dynamodb, tableName);
    },

    /** Imports one segment's chunks, resuming after the last chunk a previous attempt wrote. */
    async importBackupSegment(input: { location: BackupLocation; tableName: string; targetTable: string; segment: number; concurrency?: number }): Promise<ImportSegmentResult> {
      const { resumeFrom, onCheckpoint, beat } = checkpointHeartbeats<ImportCheckpoint>();
      try {
        const manifest = await readAllowedManifest(deps, input.location);
        return await slots.run(beat, () => importSegment({ ...target, spoolDir: deps.stagingDir }, manifest, input, resumeFrom, onCheckpoint, beat));
      } catch (err) {
        return nonRetryable(err);
      }
    },

    /** Differences between a (recreated) table and the captured definition: keys, indexes, billing. */
    async compareTableDefinition(input: { tableName: string; definition: TableDefinition }): Promise<{ keys: string[]; other: string[] }> {
      return compareWithCaptured(dynamodb, input.tableName, input.definition);
    },

    async applyTableSettings(input: { tableName: string; definition: TableDefinition }): Promise<string[]> {
      return applyTableSettings(dynamodb, input.tableName, input.definition);
    },

    async digestTableSegment(input: { tableName: string; segment: number; totalSegments: number }): Promise<{ items: number; digest: string }> {
      return digestTableSegment(dynamodb, input.tableName, input.segment, input.totalSegments, () => heartbeat());
    },
  };
}

