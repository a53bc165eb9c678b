/**
 * Sources that are not our own backups, staged into one: the guide's `aws dynamodb scan` output and
 * DynamoDB's native export to S3, each streamed into gzip NDJSON chunks of a one-table backup with a
 * manifest of ours, so verification and import are the same code as for an export.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { activityInfo, heartbeat } from '@temporalio/activity';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { BACKUP_FORMAT, chunkKey, DEFAULT_CHUNK_MAX_ITEMS, s3Url } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, ChunkRecord, TableBackup, TableDefinition } from '../../common/dynamodb-backup';
import type { NativeExportSource } from '../../common/dynamodb-native-export';
import { requireAllowedSourceBucket } from './backup-evidence';
import { nonRetryable } from './dynamodb-backup';
import type { DynamoDbBackupDeps } from './dynamodb-backup';
import { putBackupObject, sha256Hex } from './dynamodb-export';
import type { ExportTarget as ExportTargetDeps } from './dynamodb-export';
import { BackupCorruptError } from './backup-chunks';
import { checkKeyAttributes, ItemDigest, itemFromWire } from './dynamodb-items';
import { describeDefinition } from './dynamodb-tables';
import { nativeExportItems, readNativeExport } from './native-export';
import { parseScanFile } from './scan-file';

const gzipAsync = promisify(gzip);

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

  /** The last chunk; the table as a manifest lists it (one segment). */
  async finishTable(): Promise<TableBackup> {
    if (this.lines.length > 0) await this.flush();
    const count = this.digest.count;
    const digest = this.digest.digest;
    return {
      tableName: this.input.tableName,
      definition: this.definition,
      items: count,
      digest,
      segments: [{ segment: 0, totalSegments: 1, chunks: this.chunks, items: count, digest, itemsReadByLastAttempt: count, resumedFromItems: 0, attempts: activityInfo().attempt }],
    };
  }

  /** The last chunk, then the manifest; its location pinned by SHA-256. */
  async finish(source?: NativeExportSource): Promise<BackupLocation> {
    const table = await this.finishTable();
    const { prefix } = this.input;
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      createdAt: new Date().toISOString(),
      createdBy: { workflowId: activityInfo().workflowExecution?.workflowId ?? '', runId: activityInfo().workflowExecution?.runId ?? '' },
      bucket: this.bucket,
      prefix,
      ...(source ? { source } : {}),
      tables: [table],
    };
    const manifestKey = `${prefix}/manifest.json`;
    const body = JSON.stringify(manifest, null, 1);
    await putBackupObject(this.target, this.bucket, manifestKey, body, 'application/json');
    return { bucket: this.bucket, prefix, manifestKey, manifestSha256: sha256Hex(body) };
  }
}

/**
 * Every data file of a native export through the stager: both manifests checked against their
 * checksum files, each data file against its MD5 and item count, the total against the summary.
 * Returns the export as it was checked.
 */
async function stageExportFiles(deps: Pick<DynamoDbBackupDeps, 's3' | 'expectedBucketOwner'>, source: { bucket: string; key: string }, stager: ChunkStager): Promise<NativeExportSource> {
  const { s3, expectedBucketOwner } = deps;
  const native = await readNativeExport(s3, source.bucket, source.key, expectedBucketOwner);
  for (const file of native.files) {
    let line = 0;
    for await (const raw of nativeExportItems(s3, source.bucket, file, expectedBucketOwner)) await stager.add(raw, `${file.key} item ${++line}`);
  }
  if (stager.count !== native.summary.itemCount) {
    throw new BackupCorruptError(`the export's data files hold ${stager.count} items, manifest-summary.json says ${native.summary.itemCount}`);
  }
  const { summary } = native;
  return {
    kind: 'dynamodb-native-export',
    url: s3Url(source.bucket, source.key),
    exportArn: summary.exportArn,
    tableArn: summary.tableArn,
    tableName: summary.tableName,
    exportTime: summary.exportTime,
    itemCount: summary.itemCount,
    files: native.files.length,
    summarySha256: native.summarySha256,
    filesManifestSha256: native.filesManifestSha256,
  };
}

export function createBackupStagingActivities(deps: DynamoDbBackupDeps) {
  const { dynamodb, s3, backupBucket, expectedBucketOwner } = deps;
  const target = { dynamodb, s3, expectedBucketOwner };
  const definitionOf = async (tableName: string): Promise<TableDefinition> => {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return describeDefinition(dynamodb, Table!);
  };

  return {
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
        const stager = new ChunkStager(target, backupBucket, input, await definitionOf(input.tableName));
        return await stager.finish(await stageExportFiles(deps, input.source, stager));
      } catch (err) {
        return nonRetryable(err);
      }
    },

    /**
     * A native export a backup run started (`--method native`), staged into that backup's chunks:
     * checked like an imported export, and it must be the very export the run started, of this table.
     * Returns the table as the backup's manifest lists it; the run writes one manifest for all tables.
     */
    async stageNativeExportTable(input: StageInput & { exportArn: string }): Promise<TableBackup & { source: NativeExportSource }> {
      requireAllowedSourceBucket(deps, input.source.bucket);
      try {
        const stager = new ChunkStager(target, backupBucket, input, await definitionOf(input.tableName));
        const source = await stageExportFiles(deps, input.source, stager);
        if (source.exportArn !== input.exportArn || source.tableName !== input.tableName) {
          throw new BackupCorruptError(`${source.url} is export ${source.exportArn} of ${source.tableName}, not ${input.exportArn} of ${input.tableName}`);
        }
        return { ...(await stager.finishTable()), source };
      } catch (err) {
        return nonRetryable(err);
      }
    },
  };
}
