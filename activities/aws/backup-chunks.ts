/**
 * Reading a backup back from S3: its manifest, and each chunk checked against the manifest (SHA-256
 * and length, streamed) before any line of it is parsed, then streamed as items. Small chunks stay in
 * memory as their verified gzip bytes; a larger one is spooled to disk.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BACKUP_FORMAT } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, ChunkRecord, TableBackup, TableDefinition } from '../../common/dynamodb-backup';
import { parseItemLines, splitLines } from './chunk-stream';
import { sha256Hex } from './dynamodb-export';
import type { Item } from './dynamodb-items';
import { checkKeyAttributes } from './dynamodb-items';
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
