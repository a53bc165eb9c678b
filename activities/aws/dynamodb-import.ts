/**
 * Import and verification: a backup's chunks, read back through backup-chunks.ts (each checked
 * against the manifest before any line of it is parsed, and its item count once read), verified or
 * written with BatchWriteItem, retrying UnprocessedItems until every item is written. A chunk is
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
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupManifest } from '../../common/dynamodb-backup';
import { BackupCorruptError, chunkItems, downloadVerifiedChunk, tableOf } from './backup-chunks';
import type { ChunkSource } from './backup-chunks';
import { writeInBatches } from './chunk-stream';
import type { Item } from './dynamodb-items';
import { ItemDigest, primaryKeyOf } from './dynamodb-items';
import { backoffDelayMs, DEFAULT_BACKOFF, untilNotThrottled } from './dynamodb-retry';
import type { Backoff } from './dynamodb-retry';

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
