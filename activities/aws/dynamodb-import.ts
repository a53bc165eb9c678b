/**
 * Import and verification: read a backup's chunks back from S3 (checking each chunk's SHA-256 and
 * item count against the manifest) and write them with BatchWriteItem, retrying UnprocessedItems
 * until every item is written. Chunks are the checkpoint unit: a retried attempt resumes at the first
 * chunk not yet written (re-writing items is harmless: a put with the same item is idempotent).
 */
import { BatchWriteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { forEachLimit } from '../../common/concurrency';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { BACKUP_FORMAT } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, ChunkRecord, TableBackup } from '../../common/dynamodb-backup';
import { sha256Hex } from './dynamodb-export';
import type { Item } from './dynamodb-items';
import { ItemDigest, itemFromWire, primaryKeyOf } from './dynamodb-items';
import { backoffDelayMs, DEFAULT_BACKOFF, untilNotThrottled } from './dynamodb-retry';
import type { Backoff } from './dynamodb-retry';

const gunzipAsync = promisify(gunzip);

/** A backup that does not match its manifest: the one failure that must stop a recovery. */
export class BackupCorruptError extends Error {
  override readonly name = 'BackupCorruptError';
}

export async function getObjectBytes(s3: S3Client, bucket: string, key: string, expectedBucketOwner?: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ExpectedBucketOwner: expectedBucketOwner }));
  if (!response.Body) throw new BackupCorruptError(`s3://${bucket}/${key} has no body`);
  return Buffer.from(await response.Body.transformToByteArray());
}

export async function readManifest(s3: S3Client, location: BackupLocation, expectedBucketOwner?: string): Promise<BackupManifest> {
  const bytes = await getObjectBytes(s3, location.bucket, location.manifestKey, expectedBucketOwner);
  const actual = sha256Hex(bytes);
  if (actual !== location.manifestSha256) {
    throw new BackupCorruptError(`manifest s3://${location.bucket}/${location.manifestKey} has SHA-256 ${actual}, expected ${location.manifestSha256}`);
  }
  const manifest = JSON.parse(bytes.toString('utf8')) as BackupManifest;
  if (manifest.format !== BACKUP_FORMAT) throw new BackupCorruptError(`manifest format ${String(manifest.format)} is not ${String(BACKUP_FORMAT)}`);
  return manifest;
}

export function tableOf(manifest: BackupManifest, tableName: string): TableBackup {
  const table = manifest.tables.find((t) => t.tableName === tableName);
  if (!table) throw new BackupCorruptError(`the backup has no table ${tableName} (it has ${manifest.tables.map((t) => t.tableName).join(', ')})`);
  return table;
}

/** Reads one chunk and checks it against the manifest before any item is used. */
export async function readChunk(s3: S3Client, bucket: string, chunk: ChunkRecord, expectedBucketOwner?: string): Promise<Item[]> {
  const data = await getObjectBytes(s3, bucket, chunk.key, expectedBucketOwner);
  const sha256 = sha256Hex(data);
  if (sha256 !== chunk.sha256 || data.length !== chunk.bytes) {
    throw new BackupCorruptError(`chunk ${chunk.key}: SHA-256 ${sha256} (${data.length} bytes), the manifest says ${chunk.sha256} (${chunk.bytes} bytes)`);
  }
  const text = (await gunzipAsync(data)).toString('utf8');
  const items = text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line, i) => itemFromWire(JSON.parse(line), `${chunk.key} line ${i + 1}`));
  if (items.length !== chunk.items) throw new BackupCorruptError(`chunk ${chunk.key} holds ${items.length} items, the manifest says ${chunk.items}`);
  return items;
}

export interface TableVerification {
  tableName: string;
  items: number;
  digest: string;
  chunks: number;
  duplicateKeys: number;
}

/** Reads a table's whole backup back: checksums, counts, digest, and no key twice. */
export async function verifyTableBackup(
  s3: S3Client,
  manifest: BackupManifest,
  tableName: string,
  onProgress: (chunksVerified: number) => void,
  expectedBucketOwner?: string,
): Promise<TableVerification> {
  const table = tableOf(manifest, tableName);
  const keyAttributes = table.definition.keySchema.map((k) => k.AttributeName);
  const digest = new ItemDigest();
  const seen = new Set<string>();
  let duplicates = 0;
  let chunks = 0;
  for (const segment of table.segments) {
    for (const chunk of segment.chunks) {
      for (const item of await readChunk(s3, manifest.bucket, chunk, expectedBucketOwner)) {
        // 128 bits of a key hash keep the set small for large tables; collisions are negligible.
        const keyHash = createHash('sha256').update(primaryKeyOf(item, keyAttributes)).digest('base64').slice(0, 22);
        if (seen.has(keyHash)) duplicates++;
        else seen.add(keyHash);
        digest.add(item);
      }
      onProgress(++chunks);
    }
  }
  const problems: string[] = [];
  if (digest.count !== table.items) problems.push(`${digest.count} items read back, the manifest says ${table.items}`);
  if (digest.digest !== table.digest) problems.push(`item digest ${digest.digest} differs from the manifest's ${table.digest}`);
  if (duplicates > 0) problems.push(`${duplicates} duplicate keys`);
  if (problems.length > 0) throw new BackupCorruptError(`backup of ${tableName} does not verify: ${problems.join('; ')}`);
  return { tableName, items: digest.count, digest: digest.digest, chunks, duplicateKeys: duplicates };
}

/** Per-segment order-independent digest of a live table (consistent reads). */
export async function digestTableSegment(
  dynamodb: DynamoDBClient,
  tableName: string,
  segment: number,
  totalSegments: number,
  onProgress: () => void,
): Promise<{ items: number; digest: string }> {
  const digest = new ItemDigest();
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await untilNotThrottled(
      () => dynamodb.send(new ScanCommand({ TableName: tableName, Segment: segment, TotalSegments: totalSegments, ConsistentRead: true, ExclusiveStartKey: startKey })),
      onProgress,
    );
    for (const item of page.Items ?? []) digest.add(item);
    startKey = page.LastEvaluatedKey;
    onProgress();
  } while (startKey);
  return { items: digest.count, digest: digest.digest };
}

class ImportStalledError extends Error {
  override readonly name = 'ImportStalledError';
}

/**
 * Writes items in 25-item BatchWriteItem requests, `concurrency` at a time. A batch never holds two
 * items with the same key (DynamoDB rejects such a batch). UnprocessedItems are re-sent with backoff
 * and jitter until written; only a long run of attempts without any progress gives up (the activity
 * retry then resumes from its checkpoint).
 */
async function writeItems(
  dynamodb: DynamoDBClient,
  tableName: string,
  items: Iterable<Item>,
  keyAttributes: string[],
  options: { concurrency: number; onProgress: () => void; backoff?: Backoff },
): Promise<{ written: number; retriedItems: number }> {
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const batches: WriteRequest[][] = [];
  let batch: WriteRequest[] = [];
  let keys = new Set<string>();
  for (const item of items) {
    const key = primaryKeyOf(item, keyAttributes);
    if (batch.length === 25 || keys.has(key)) {
      batches.push(batch);
      batch = [];
      keys = new Set();
    }
    batch.push({ PutRequest: { Item: item } });
    keys.add(key);
  }
  if (batch.length > 0) batches.push(batch);

  let written = 0;
  let retriedItems = 0;
  const sendBatch = async (requests: WriteRequest[]) => {
    let remaining = requests;
    let attemptsWithoutProgress = 0;
    while (remaining.length > 0) {
      const response = await untilNotThrottled(
        () => dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: remaining } })),
        options.onProgress,
        backoff,
      );
      const unprocessed = response.UnprocessedItems?.[tableName] ?? [];
      written += remaining.length - unprocessed.length;
      if (unprocessed.length === 0) return;
      retriedItems += unprocessed.length;
      attemptsWithoutProgress = unprocessed.length < remaining.length ? 0 : attemptsWithoutProgress + 1;
      if (attemptsWithoutProgress >= backoff.maxAttemptsWithoutProgress) {
        throw new ImportStalledError(`${tableName}: ${unprocessed.length} items stayed unprocessed after ${attemptsWithoutProgress} attempts`);
      }
      remaining = unprocessed;
      options.onProgress();
      await sleep(backoffDelayMs(attemptsWithoutProgress, backoff));
    }
  };
  await forEachLimit(batches, options.concurrency, sendBatch);
  return { written, retriedItems };
}

export interface ImportCheckpoint {
  chunksDone: number;
  itemsWritten: number;
  attempts: number;
}

export interface ImportSegmentResult {
  tableName: string;
  targetTable: string;
  segment: number;
  items: number;
  chunks: number;
  retriedItems: number;
  itemsWrittenByLastAttempt: number;
  resumedFromItems: number;
  attempts: number;
}

/** Imports one exported segment's chunks, in order, checkpointing after each chunk. */
export async function importSegment(
  deps: { dynamodb: DynamoDBClient; s3: S3Client; expectedBucketOwner?: string },
  manifest: BackupManifest,
  input: { tableName: string; targetTable: string; segment: number; concurrency?: number },
  resumeFrom: ImportCheckpoint | undefined,
  onCheckpoint: (checkpoint: ImportCheckpoint) => void,
  onProgress: () => void,
): Promise<ImportSegmentResult> {
  const table = tableOf(manifest, input.tableName);
  const segment = table.segments.find((s) => s.segment === input.segment);
  if (!segment) throw new BackupCorruptError(`the backup of ${input.tableName} has no segment ${input.segment}`);
  const keyAttributes = table.definition.keySchema.map((k) => k.AttributeName);
  const checkpoint: ImportCheckpoint = resumeFrom ? { ...resumeFrom, attempts: resumeFrom.attempts + 1 } : { chunksDone: 0, itemsWritten: 0, attempts: 1 };
  const resumedFromItems = checkpoint.itemsWritten;
  let retriedItems = 0;
  let writtenNow = 0;
  // Reading the next chunk overlaps writing this one.
  let nextChunk = segment.chunks[checkpoint.chunksDone]
    ? readChunk(deps.s3, manifest.bucket, segment.chunks[checkpoint.chunksDone]!, deps.expectedBucketOwner)
    : undefined;
  for (let i = checkpoint.chunksDone; i < segment.chunks.length; i++) {
    const items = await nextChunk!;
    const following = segment.chunks[i + 1];
    nextChunk = following ? readChunk(deps.s3, manifest.bucket, following, deps.expectedBucketOwner) : undefined;
    nextChunk?.catch(() => undefined);
    const result = await writeItems(deps.dynamodb, input.targetTable, items, keyAttributes, { concurrency: input.concurrency ?? 16, onProgress });
    retriedItems += result.retriedItems;
    writtenNow += items.length;
    checkpoint.chunksDone = i + 1;
    checkpoint.itemsWritten += items.length;
    onCheckpoint({ ...checkpoint });
  }
  return {
    tableName: input.tableName,
    targetTable: input.targetTable,
    segment: input.segment,
    items: checkpoint.itemsWritten,
    chunks: segment.chunks.length,
    retriedItems,
    itemsWrittenByLastAttempt: writtenNow,
    resumedFromItems,
    attempts: checkpoint.attempts,
  };
}
