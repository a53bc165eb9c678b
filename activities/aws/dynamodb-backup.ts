/**
 * The DynamoDB backup activities: capture, export, verify, import, re-apply settings, digest.
 * Long ones heartbeat their checkpoint and resume from `activityInfo().heartbeatDetails`.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { BACKUP_FORMAT, chunkKey, DEFAULT_CHUNK_MAX_ITEMS, s3Url, validateTableName } from '../../common/dynamodb-backup';
import { NativeExportError } from '../../common/dynamodb-native-export';
import type { NativeExportSource } from '../../common/dynamodb-native-export';
import type { BackupLocation, BackupManifest, BackupRef, ChunkRecord, SegmentExport, TableDefinition, TableSnapshot } from '../../common/dynamodb-backup';
import { readAllowedManifest, requireAllowedSourceBucket, requireVerifiedBackup, writeVerificationRecord } from './backup-evidence';
import { countItemsByScan } from './dynamodb';
import { exportSegment, putBackupObject, sha256Hex } from './dynamodb-export';
import type { ExportCheckpoint, ExportSegmentInput, ExportTarget as ExportTargetDeps } from './dynamodb-export';
import { BackupCorruptError, digestTableSegment, importSegment, verifyTableBackup } from './dynamodb-import';
import type { ImportCheckpoint, ImportSegmentResult, TableVerification } from './dynamodb-import';
import { checkKeyAttributes, ItemDigest, itemFromWire, MalformedItemError } from './dynamodb-items';
import { applyTableSettings, compareWithCaptured, createNativeBackup, deleteTableIfExists, describeDefinition, snapshotTable } from './dynamodb-tables';
import { nativeExportItems, readNativeExport } from './native-export';
import { parseScanFile } from './scan-file';

const gzipAsync = promisify(gzip);

export interface DynamoDbBackupDeps {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
  /** Buckets besides the backup bucket that backups may be read from (VCP_ALLOWED_SOURCE_BUCKETS). */
  allowedSourceBuckets?: string[];
  /** Export and import segments one worker process runs at once (default 4): memory stays flat however many segments a large table has. */
  maxConcurrentSegments?: number;
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
function nonRetryable(err: unknown): never {
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

/** A source file staged into chunks of a one-table backup of ours. */
interface StageInput {
  source: { bucket: string; key: string };
  /** The target table: its definition goes into the staged manifest, and the chunks are staged under its name. */
  tableName: string;
  prefix: string;
  chunkMaxItems?: number;
}

/**
 * Items of a staged source into gzip NDJSON chunks in the backup bucket, then one manifest listing
 * them: the same form an export writes, so verification and import are the same code. At most one
 * chunk of lines is held; chunk keys are deterministic, so a retry overwrites rather than duplicates.
 */
class ChunkStager {
  private readonly chunks: ChunkRecord[] = [];
  private readonly digest = new ItemDigest();
  private lines: string[] = [];
  private readonly chunkMaxItems: number;

  constructor(
    private readonly target: Pick<ExportTargetDeps, 's3' | 'expectedBucketOwner'>,
    private readonly bucket: string,
    private readonly input: StageInput,
    private readonly definition: TableDefinition,
  ) {
    this.chunkMaxItems = input.chunkMaxItems ?? DEFAULT_CHUNK_MAX_ITEMS;
  }

  get count(): number {
    return this.digest.count;
  }

  /** One item in DynamoDB JSON: checked (also against the target's keys), counted, digested, written as its own line. */
  async add(raw: unknown, where: string): Promise<void> {
    const item = itemFromWire(raw, where);
    checkKeyAttributes(item, this.definition, where);
    this.digest.add(item);
    this.lines.push(JSON.stringify(raw));
    if (this.lines.length >= this.chunkMaxItems) await this.flush();
  }

  private async flush(): Promise<void> {
    const data = await gzipAsync(this.lines.join('\n') + '\n', { level: 1 });
    const key = chunkKey(this.input.prefix, this.input.tableName, 0, 1, this.chunks.length);
    await putBackupObject(this.target, this.bucket, key, data, 'application/x-ndjson', { items: String(this.lines.length) });
    this.chunks.push({ key, items: this.lines.length, bytes: data.length, sha256: sha256Hex(data) });
    this.lines = [];
    heartbeat({ chunks: this.chunks.length, items: this.digest.count });
  }

  /** The last chunk, then the manifest; its location pinned by SHA-256. */
  async finish(source?: NativeExportSource): Promise<BackupLocation> {
    const { definition } = this;
    if (this.lines.length > 0) await this.flush();
    const { prefix, tableName } = this.input;
    const count = this.digest.count;
    const digest = this.digest.digest;
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      createdAt: new Date().toISOString(),
      createdBy: { workflowId: activityInfo().workflowExecution?.workflowId ?? '', runId: activityInfo().workflowExecution?.runId ?? '' },
      bucket: this.bucket,
      prefix,
      ...(source ? { source } : {}),
      tables: [
        {
          tableName,
          definition,
          items: count,
          digest,
          segments: [{ segment: 0, totalSegments: 1, chunks: this.chunks, items: count, digest, itemsReadByLastAttempt: count, resumedFromItems: 0, attempts: activityInfo().attempt }],
        },
      ],
    };
    const manifestKey = `${prefix}/manifest.json`;
    const body = JSON.stringify(manifest, null, 1);
    await putBackupObject(this.target, this.bucket, manifestKey, body, 'application/json');
    return { bucket: this.bucket, prefix, manifestKey, manifestSha256: sha256Hex(body) };
  }
}

export function createDynamoDbBackupActivities(deps: DynamoDbBackupDeps) {
  const { dynamodb, s3, backupBucket, expectedBucketOwner } = deps;
  const target = { dynamodb, s3, expectedBucketOwner };
  const slots = new SegmentSlots(deps.maxConcurrentSegments ?? DEFAULT_SEGMENTS_PER_WORKER);
  const definitionOf = async (tableName: string): Promise<TableDefinition> => {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return describeDefinition(dynamodb, Table!);
  };

  return {
    /** Definition, status and a consistent-scan item count of each table; read-only. */
    async snapshotTables(tableNames: string[]): Promise<TableSnapshot[]> {
      const snapshots: TableSnapshot[] = [];
      for (const tableName of tableNames) snapshots.push(await snapshotTable(dynamodb, tableName, () => heartbeat({ tableName })));
      return snapshots;
    },

    /** One scan segment into chunks in S3, resuming from the last committed chunk of a previous attempt. */
    async exportTableSegment(input: Omit<ExportSegmentInput, 'bucket'>): Promise<SegmentExport> {
      const resumeFrom = activityInfo().heartbeatDetails as ExportCheckpoint | undefined;
      let last = resumeFrom;
      return slots.run(
        () => heartbeat(last),
        () =>
          exportSegment(
            target,
            { ...input, bucket: backupBucket },
            resumeFrom,
            (checkpoint) => {
              last = checkpoint;
              heartbeat(checkpoint);
            },
            // Between commits the heartbeat repeats the last checkpoint: it is the only resumable point.
            () => heartbeat(last),
          ),
      );
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
      const resumeFrom = activityInfo().heartbeatDetails as ImportCheckpoint | undefined;
      let last = resumeFrom;
      try {
        const manifest = await readAllowedManifest(deps, input.location);
        return await slots.run(
          () => heartbeat(last),
          () =>
            importSegment(
              target,
              manifest,
              input,
              resumeFrom,
              (checkpoint) => {
                last = checkpoint;
                heartbeat(checkpoint);
              },
              () => heartbeat(last),
            ),
        );
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

    /**
     * Turns a file in the `aws dynamodb scan` output format (one JSON document) into a backup of
     * one table: streamed, chunked and listed in a manifest like an export, so the import is the same.
     * A retry starts the file over and rewrites the same deterministic chunk keys.
     */
    async stageScanFile(input: StageInput): Promise<BackupLocation> {
      requireAllowedSourceBucket(deps, input.source.bucket);
      const definition = await definitionOf(input.tableName);
      const response = await s3.send(new GetObjectCommand({ Bucket: input.source.bucket, Key: input.source.key, ExpectedBucketOwner: expectedBucketOwner }));
      const stager = new ChunkStager(target, backupBucket, input, definition);
      try {
        for await (const raw of parseScanFile(response.Body as Readable)) await stager.add(raw, `${input.source.key} item ${stager.count + 1}`);
        return await stager.finish();
      } catch (err) {
        return nonRetryable(err);
      }
    },

    /**
     * Turns a DynamoDB native export (`ExportTableToPointInTime`, DYNAMODB_JSON, full) into a backup
     * of one table like a scan file: the summary and files manifests checked against their checksum
     * files, each data file streamed and checked against its MD5 and item count, the total against the
     * summary. The staged manifest is written only once every file checked, so a tampered export
     * leaves no manifest to import; it records the export (ARN, table, time, manifests' SHA-256).
     */
    async stageNativeExport(input: StageInput): Promise<BackupLocation> {
      requireAllowedSourceBucket(deps, input.source.bucket);
      try {
        const native = await readNativeExport(s3, input.source.bucket, input.source.key, expectedBucketOwner);
        const definition = await definitionOf(input.tableName);
        const stager = new ChunkStager(target, backupBucket, input, definition);
        for (const file of native.files) {
          let line = 0;
          for await (const raw of nativeExportItems(s3, input.source.bucket, file, expectedBucketOwner)) await stager.add(raw, `${file.key} item ${++line}`);
        }
        if (stager.count !== native.summary.itemCount) {
          throw new BackupCorruptError(`the export's data files hold ${stager.count} items, manifest-summary.json says ${native.summary.itemCount}`);
        }
        const { summary } = native;
        return await stager.finish({
          kind: 'dynamodb-native-export',
          url: s3Url(input.source.bucket, input.source.key),
          exportArn: summary.exportArn,
          tableArn: summary.tableArn,
          tableName: summary.tableName,
          exportTime: summary.exportTime,
          itemCount: summary.itemCount,
          files: native.files.length,
          summarySha256: native.summarySha256,
          filesManifestSha256: native.filesManifestSha256,
        });
      } catch (err) {
        return nonRetryable(err);
      }
    },
  };
}

