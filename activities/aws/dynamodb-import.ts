/**
 * Import and verification: read a backup's chunks back from S3 (checking each chunk's SHA-256 and
 * length against the manifest before any line of it is parsed, and its item count once read) and
 * write them with BatchWriteItem, retrying UnprocessedItems until every item is written. A chunk is
 * streamed: its verified gzip bytes -> gunzip -> lines -> items -> batches of 25, a bounded number in
 * flight, so no chunk's parsed items are ever held. Only bytes that match the manifest are parsed; a
 * line that does not parse, or an item count other than the manifest's, is found as the chunk is
 * written (the items before it written too), which is why the import and recovery runbooks verify the
 * whole backup first (verify-backup). Chunks are the checkpoint unit: a retried attempt
 * resumes at the first chunk not yet written (re-writing items is harmless: a put with the same item
 * is idempotent).
 */
import { BatchWriteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { BACKUP_FORMAT } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, ChunkRecord, TableBackup, TableDefinition } from '../../common/dynamodb-backup';
import { parseItemLines, splitLines, writeInBatches } from './chunk-stream';
import { sha256Hex } from './dynamodb-export';
import type { Item } from './dynamodb-items';
import { checkKeyAttributes, ItemDigest, primaryKeyOf } from './dynamodb-items';
import { backoffDelayMs, DEFAULT_BACKOFF, untilNotThrottled } from './dynamodb-retry';
import type { Backoff } from './dynamodb-retry';

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

/**
 * Chunks up to this many gzip bytes are held compressed in memory while they are checked. An
 * export's chunk closes at 8 MiB of JSON (CHUNK_MAX_JSON_BYTES), about 1 MiB of gzip, so only a chunk
 * staged from huge items (or written by something else) is larger; it is spooled to a file instead.
 */
export const IN_MEMORY_CHUNK_MAX_BYTES = 16 * 1024 * 1024;

/** A chunk's gzip bytes, checked against the manifest: nothing is parsed from them before. */
export interface VerifiedChunk {
  chunk: ChunkRecord;
  open(): Readable;
  dispose(): Promise<void>;
}

export interface ChunkSource {
  s3: S3Client;
  bucket: string;
  expectedBucketOwner?: string;
  /** Where chunks over `inMemoryMaxBytes` are spooled (the worker's staging directory); default the OS temp dir. */
  spoolDir?: string;
  /** Default IN_MEMORY_CHUNK_MAX_BYTES. */
  inMemoryMaxBytes?: number;
}

/**
 * Downloads a chunk as a stream, hashing it as it comes: a body longer than the manifest says is cut
 * off at once, and the bytes are handed out only when SHA-256 and length match. A chunk of at most
 * IN_MEMORY_CHUNK_MAX_BYTES stays in memory (compressed: a tenth of its items' JSON); a larger one
 * goes to a file in `spoolDir`, deleted by dispose().
 */
export async function downloadVerifiedChunk(source: ChunkSource, chunk: ChunkRecord): Promise<VerifiedChunk> {
  const response = await source.s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: chunk.key, ExpectedBucketOwner: source.expectedBucketOwner }));
  if (!response.Body) throw new BackupCorruptError(`s3://${source.bucket}/${chunk.key} has no body`);
  const body = response.Body as Readable;
  const hash = createHash('sha256');
  let length = 0;
  const spool = chunk.bytes > (source.inMemoryMaxBytes ?? IN_MEMORY_CHUNK_MAX_BYTES) ? await openSpool(source.spoolDir) : undefined;
  const pieces: Buffer[] = [];
  try {
    for await (const piece of body as AsyncIterable<Buffer>) {
      length += piece.length;
      if (length > chunk.bytes) {
        body.destroy();
        throw new BackupCorruptError(`chunk ${chunk.key}: more than the ${chunk.bytes} bytes the manifest says`);
      }
      hash.update(piece);
      if (!spool) pieces.push(piece);
      else if (!spool.file.write(piece)) await once(spool.file, 'drain');
    }
    if (spool) {
      spool.file.end();
      await once(spool.file, 'finish');
    }
    const sha256 = hash.digest('hex');
    if (sha256 !== chunk.sha256 || length !== chunk.bytes) {
      throw new BackupCorruptError(`chunk ${chunk.key}: SHA-256 ${sha256} (${length} bytes), the manifest says ${chunk.sha256} (${chunk.bytes} bytes)`);
    }
  } catch (err) {
    await spool?.dispose();
    throw err;
  }
  if (spool) return { chunk, open: () => createReadStream(spool.path), dispose: spool.dispose };
  return { chunk, open: () => Readable.from(pieces, { objectMode: false }), dispose: () => Promise.resolve() };
}

async function openSpool(dir = tmpdir()) {
  await mkdir(dir, { recursive: true });
  const folder = await mkdtemp(path.join(dir, 'import-chunk-'));
  const file = path.join(folder, 'chunk.json.gz');
  const stream = createWriteStream(file);
  return {
    file: stream,
    path: file,
    dispose: async () => {
      stream.destroy();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/**
 * A verified chunk's items one by one (gunzip -> lines -> items), then its item count against the
 * manifest; `definition` given, every item's key and index key attributes are checked against it.
 */
export async function* chunkItems(verified: VerifiedChunk, definition?: TableDefinition): AsyncGenerator<Item> {
  const { chunk } = verified;
  const gunzip = createGunzip();
  // pipeline forwards a read error into the gunzip stream, which the loop below then throws.
  pipeline(verified.open(), gunzip, (err) => {
    if (err) gunzip.destroy(err);
  });
  const plain = (async function* () {
    try {
      for await (const piece of gunzip as AsyncIterable<Buffer>) yield piece;
    } catch (err) {
      if (err instanceof Error && 'errno' in err && String((err as NodeJS.ErrnoException).code).startsWith('Z_')) {
        throw new BackupCorruptError(`chunk ${chunk.key} is not valid gzip: ${err.message}`, { cause: err });
      }
      throw err;
    }
  })();
  let count = 0;
  const check = definition ? (item: Item, where: string) => checkKeyAttributes(item, definition, where) : undefined;
  for await (const item of parseItemLines(splitLines(plain), chunk.key, check)) {
    count++;
    yield item;
  }
  if (count !== chunk.items) throw new BackupCorruptError(`chunk ${chunk.key} holds ${count} items, the manifest says ${chunk.items}`);
}

/** Reads one whole chunk, checked against the manifest before any item is used (for checks that compare chunks). */
export async function readChunk(s3: S3Client, bucket: string, chunk: ChunkRecord, expectedBucketOwner?: string): Promise<Item[]> {
  const verified = await downloadVerifiedChunk({ s3, bucket, expectedBucketOwner }, chunk);
  const items: Item[] = [];
  for await (const item of chunkItems(verified)) items.push(item);
  return items;
}

export interface TableVerification {
  tableName: string;
  items: number;
  digest: string;
  chunks: number;
  duplicateKeys: number;
}

/** Reads a table's whole backup back: checksums, counts, digest, key attribute types as the table defines them, and no key twice. */
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
      const verified = await downloadVerifiedChunk({ s3, bucket: manifest.bucket, expectedBucketOwner }, chunk);
      try {
        for await (const item of chunkItems(verified, table.definition)) {
          // 128 bits of a key hash keep the set small for large tables; collisions are negligible.
          const keyHash = createHash('sha256').update(primaryKeyOf(item, keyAttributes)).digest('base64').slice(0, 22);
          if (seen.has(keyHash)) duplicates++;
          else seen.add(keyHash);
          digest.add(item);
        }
      } finally {
        await verified.dispose();
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
 * Writes a stream of items in 25-item BatchWriteItem requests, at most `concurrency` in flight (the
 * source is read no further meanwhile). A batch never holds two items with the same key (DynamoDB
 * rejects such a batch). UnprocessedItems are re-sent with backoff and jitter until written; only a
 * long run of attempts without any progress gives up (the activity retry then resumes from its checkpoint).
 */
async function writeItems(
  dynamodb: DynamoDBClient,
  tableName: string,
  items: AsyncIterable<Item>,
  keyAttributes: string[],
  options: { concurrency: number; onProgress: () => void; backoff?: Backoff },
): Promise<{ written: number; retriedItems: number }> {
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let written = 0;
  let retriedItems = 0;
  const sendBatch = async (batch: Item[]) => {
    let remaining: WriteRequest[] = batch.map((item) => ({ PutRequest: { Item: item } }));
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
  await writeInBatches(items, { batchSize: 25, maxInFlight: options.concurrency, keyOf: (item) => primaryKeyOf(item, keyAttributes), send: sendBatch });
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
  deps: { dynamodb: DynamoDBClient; s3: S3Client; expectedBucketOwner?: string; spoolDir?: string },
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
  const source: ChunkSource = { s3: deps.s3, bucket: manifest.bucket, expectedBucketOwner: deps.expectedBucketOwner, spoolDir: deps.spoolDir };
  const download = (i: number) => {
    const chunk = segment.chunks[i];
    if (!chunk) return undefined;
    const verified = downloadVerifiedChunk(source, chunk);
    verified.catch(() => undefined);
    return verified;
  };
  // Downloading (and checking) the next chunk overlaps writing this one: two chunks' gzip bytes at most.
  let nextChunk = download(checkpoint.chunksDone);
  try {
    for (let i = checkpoint.chunksDone; i < segment.chunks.length; i++) {
      const verified = await nextChunk!;
      nextChunk = download(i + 1);
      let items = 0;
      const counted = async function* () {
        for await (const item of chunkItems(verified, table.definition)) {
          items++;
          yield item;
        }
      };
      try {
        const result = await writeItems(deps.dynamodb, input.targetTable, counted(), keyAttributes, { concurrency: input.concurrency ?? 16, onProgress });
        retriedItems += result.retriedItems;
      } finally {
        await verified.dispose();
      }
      writtenNow += items;
      checkpoint.chunksDone = i + 1;
      checkpoint.itemsWritten += items;
      onCheckpoint({ ...checkpoint });
    }
  } finally {
    void nextChunk?.then((chunk) => chunk.dispose(), () => undefined);
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
