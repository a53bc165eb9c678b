/**
 * Export: one scan segment of one table into immutable, gzip-compressed NDJSON chunks in S3.
 * A chunk always ends at a page boundary, so the checkpoint after each committed chunk (its list of
 * chunks, the page's LastEvaluatedKey, the running digest) lets a retried attempt resume exactly
 * there; chunk keys are deterministic, so a re-exported chunk overwrites rather than duplicates.
 * Memory stays bounded by one chunk being built and one being uploaded, whatever the table's size.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createGzip } from 'node:zlib';
import { addDigests, chunkKey, DEFAULT_CHUNK_MAX_ITEMS, EMPTY_DIGEST } from '../../common/dynamodb-backup';
import type { ChunkRecord, SegmentExport } from '../../common/dynamodb-backup';
import { ItemDigest, itemFromWire, itemToWire } from './dynamodb-items';
import { untilNotThrottled } from './dynamodb-retry';

/** One chunk being built: NDJSON lines through a streaming gzip, compressed parts kept in memory. */
class CompressedChunk {
  items = 0;
  jsonBytes = 0;
  private readonly gzip = createGzip({ level: 1 });
  private readonly parts: Buffer[] = [];
  private readonly ended: Promise<void>;

  constructor() {
    this.gzip.on('data', (part: Buffer) => this.parts.push(part));
    this.ended = new Promise((resolve, reject) => {
      this.gzip.once('end', resolve);
      this.gzip.once('error', reject);
    });
  }

  write(lines: string[]): void {
    if (lines.length === 0) return;
    const text = lines.join('\n') + '\n';
    this.items += lines.length;
    this.jsonBytes += text.length;
    this.gzip.write(text);
  }

  async finish(): Promise<Buffer> {
    this.gzip.end();
    await this.ended;
    return Buffer.concat(this.parts);
  }
}
/** A chunk also closes at this much JSON, so huge items cannot make a chunk unbounded. */
const CHUNK_MAX_JSON_BYTES = 8 * 1024 * 1024;

export interface ExportSegmentInput {
  tableName: string;
  segment: number;
  totalSegments: number;
  bucket: string;
  prefix: string;
  chunkMaxItems?: number;
}

/** What a retried attempt resumes from: everything up to the last committed chunk. */
export interface ExportCheckpoint {
  chunks: ChunkRecord[];
  /** Wire form of the LastEvaluatedKey after the last committed chunk; absent when the segment is done. */
  lastEvaluatedKey?: Record<string, unknown>;
  done: boolean;
  items: number;
  digest: string;
  attempts: number;
}

export interface ExportTarget {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  expectedBucketOwner?: string;
}

/** Writes a whole object with server-side encryption and the bucket-owner check. */
export async function putBackupObject(
  target: Pick<ExportTarget, 's3' | 'expectedBucketOwner'>,
  bucket: string,
  key: string,
  body: Buffer | string,
  contentType: string,
  metadata?: Record<string, string>,
): Promise<void> {
  await target.s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: contentType,
      ServerSideEncryption: 'AES256',
      ExpectedBucketOwner: target.expectedBucketOwner,
      Metadata: metadata,
    }),
  );
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Scans one segment into chunks. `onCheckpoint` runs after each committed chunk (the activity
 * heartbeats it), `onProgress` while pages are read and while throttled.
 */
export async function exportSegment(
  target: ExportTarget,
  input: ExportSegmentInput,
  resumeFrom: ExportCheckpoint | undefined,
  onCheckpoint: (checkpoint: ExportCheckpoint) => void,
  onProgress: () => void = () => undefined,
): Promise<SegmentExport> {
  const chunkMaxItems = input.chunkMaxItems ?? DEFAULT_CHUNK_MAX_ITEMS;
  const checkpoint: ExportCheckpoint = resumeFrom
    ? { ...resumeFrom, chunks: [...resumeFrom.chunks], attempts: resumeFrom.attempts + 1 }
    : { chunks: [], done: false, items: 0, digest: EMPTY_DIGEST, attempts: 1 };
  const resumedFromItems = checkpoint.items;
  let itemsRead = 0;
  let startKey: Record<string, AttributeValue> | undefined = checkpoint.lastEvaluatedKey
    ? itemFromWire(checkpoint.lastEvaluatedKey, 'checkpoint key')
    : undefined;

  // Each page is compressed as it arrives, so a chunk is held compressed, not as JSON text.
  let chunk = new CompressedChunk();
  let pending = new ItemDigest();
  let upload: Promise<void> | undefined;

  /** Finishes and uploads the current chunk; the scan of the next chunk overlaps this upload. */
  const startUpload = (lastEvaluatedKey: Record<string, AttributeValue> | undefined): Promise<void> => {
    const closing = chunk;
    const count = closing.items;
    const digest = pending.digest;
    const key = chunkKey(input.prefix, input.tableName, input.segment, input.totalSegments, checkpoint.chunks.length);
    chunk = new CompressedChunk();
    pending = new ItemDigest();
    return (async () => {
      const data = await closing.finish();
      const sha256 = sha256Hex(data);
      await putBackupObject(target, input.bucket, key, data, 'application/x-ndjson', { items: String(count), sha256 });
      checkpoint.chunks.push({ key, items: count, bytes: data.length, sha256 });
      checkpoint.items += count;
      checkpoint.digest = addDigests(checkpoint.digest, digest);
      checkpoint.lastEvaluatedKey = lastEvaluatedKey ? itemToWire(lastEvaluatedKey) : undefined;
      checkpoint.done = !lastEvaluatedKey;
      onCheckpoint({ ...checkpoint, chunks: [...checkpoint.chunks] });
    })();
  };

  while (!checkpoint.done) {
    const page = await untilNotThrottled(
      () =>
        target.dynamodb.send(
          new ScanCommand({
            TableName: input.tableName,
            Segment: input.segment,
            TotalSegments: input.totalSegments,
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
            Limit: Math.min(1000, chunkMaxItems - chunk.items),
          }),
        ),
      onProgress,
    );
    const lines: string[] = [];
    for (const item of page.Items ?? []) {
      lines.push(JSON.stringify(itemToWire(item)));
      pending.add(item);
    }
    chunk.write(lines);
    itemsRead += page.Items?.length ?? 0;
    startKey = page.LastEvaluatedKey;
    onProgress();
    const full = chunk.items >= chunkMaxItems || chunk.jsonBytes >= CHUNK_MAX_JSON_BYTES;
    if (full || !startKey) {
      // One upload in flight at most: memory holds one chunk being read and one being sent.
      await upload;
      upload = undefined;
      if (chunk.items > 0) {
        upload = startUpload(startKey);
        // Observed later by `await upload`; this keeps a failure meanwhile from counting as unhandled.
        upload.catch(() => undefined);
      } else if (!startKey) {
        // An empty last page: the segment is done with the chunks already committed.
        checkpoint.lastEvaluatedKey = undefined;
        checkpoint.done = true;
        onCheckpoint({ ...checkpoint, chunks: [...checkpoint.chunks] });
      }
      if (!startKey) break;
    }
  }
  await upload;
  return {
    segment: input.segment,
    totalSegments: input.totalSegments,
    chunks: checkpoint.chunks,
    items: checkpoint.items,
    digest: checkpoint.digest,
    itemsReadByLastAttempt: itemsRead,
    resumedFromItems,
    attempts: checkpoint.attempts,
  };
}
