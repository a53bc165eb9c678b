/**
 * Reading a DynamoDB native export (`ExportTableToPointInTime`) from S3: its two manifests checked
 * against their `.checksum` files and each other, and each data file streamed (gunzip, split into
 * lines) with its MD5 and item count checked against manifest-files.json. A data file is never held
 * in memory whole: one line at a time, and a line longer than any DynamoDB item could be is refused.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { pipeline, Transform } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { checksumMatches, itemOfExportLine, NativeExportError, parseNativeFiles, parseNativeSummary } from '../../common/dynamodb-native-export';
import type { NativeExportFile, NativeExportSummary } from '../../common/dynamodb-native-export';
import { getObjectBytes } from './backup-chunks';
import { sha256Hex } from './dynamodb-export';

/**
 * An item is at most 400 KB; its DynamoDB JSON (binary as base64, escaped strings) stays well under
 * this. A longer line is not an item: refused rather than buffered without end.
 */
const MAX_LINE_CHARS = 4 * 1024 * 1024;

export interface NativeExport {
  summary: NativeExportSummary;
  files: NativeExportFile[];
  summarySha256: string;
  filesManifestSha256: string;
}

function md5Of(bytes: Buffer): { hex: string; base64: string } {
  const digest = createHash('md5').update(bytes).digest();
  return { hex: digest.toString('hex'), base64: digest.toString('base64') };
}

async function checkedManifest(s3: S3Client, bucket: string, key: string, expectedBucketOwner?: string): Promise<Buffer> {
  const bytes = await getObjectBytes(s3, bucket, key, expectedBucketOwner);
  const checksumKey = key.replace(/\.json$/, '.checksum');
  let checksum: Buffer;
  try {
    checksum = await getObjectBytes(s3, bucket, checksumKey, expectedBucketOwner);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') throw new NativeExportError(`s3://${bucket}/${checksumKey} is missing: the export is incomplete or not DynamoDB's`, { cause: err });
    throw err;
  }
  if (!checksumMatches(checksum.toString('utf8'), md5Of(bytes))) {
    throw new NativeExportError(`s3://${bucket}/${key} does not match ${checksumKey} (MD5 ${md5Of(bytes).hex}): altered or incomplete`);
  }
  return bytes;
}

/** The export's summary and files manifest, each checked against its checksum file and the two against each other. */
export async function readNativeExport(s3: S3Client, bucket: string, summaryKey: string, expectedBucketOwner?: string): Promise<NativeExport> {
  const summaryBytes = await checkedManifest(s3, bucket, summaryKey, expectedBucketOwner);
  const summary = parseNativeSummary(summaryBytes.toString('utf8'), summaryKey);
  const filesBytes = await checkedManifest(s3, bucket, summary.filesManifestKey, expectedBucketOwner);
  const files = parseNativeFiles(filesBytes.toString('utf8'), summary);
  return { summary, files, summarySha256: sha256Hex(summaryBytes), filesManifestSha256: sha256Hex(filesBytes) };
}

/** Passes bytes through, hashing them; the MD5 is known once the input ended. */
class Md5Tap extends Transform {
  private readonly hash: Hash = createHash('md5');
  md5?: string;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    this.md5 = this.hash.digest('base64');
    callback();
  }
}

/** The lines of a gzip stream, one at a time, as text. */
async function* gunzipLines(source: Readable, tap: Md5Tap, where: string): AsyncGenerator<string> {
  const gunzip = createGunzip();
  // pipeline forwards every stage's error: a broken download or a damaged gzip fails the read, not hangs it.
  pipeline(source, tap, gunzip, (err) => {
    if (err) gunzip.destroy(err);
  });
  const decoder = new StringDecoder('utf8');
  let pending = '';
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      pending += decoder.write(chunk);
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        yield pending.slice(0, newline);
        pending = pending.slice(newline + 1);
      }
      if (pending.length > MAX_LINE_CHARS) throw new NativeExportError(`${where}: a line longer than ${MAX_LINE_CHARS} characters is not an item`);
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw new NativeExportError(`${where} is not a whole gzip file`, { cause: err });
    throw err;
  }
  pending += decoder.end();
  if (pending.length > 0) yield pending;
}

/**
 * The items of one data file in DynamoDB JSON (the `Item` of each line), streamed. After the last
 * one the file's MD5 and item count are checked: a caller commits nothing until the generator ended.
 */
export async function* nativeExportItems(s3: S3Client, bucket: string, file: NativeExportFile, expectedBucketOwner?: string): AsyncGenerator<unknown> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: file.key, ExpectedBucketOwner: expectedBucketOwner }));
  if (!response.Body) throw new NativeExportError(`s3://${bucket}/${file.key} has no body`);
  const tap = new Md5Tap();
  let items = 0;
  let lineNumber = 0;
  for await (const line of gunzipLines(response.Body as Readable, tap, `data file ${file.key}`)) {
    lineNumber++;
    if (line.trim().length === 0) continue;
    items++;
    yield itemOfExportLine(line, `${file.key} line ${lineNumber}`);
  }
  if (tap.md5 !== file.md5Checksum) {
    throw new NativeExportError(`data file ${file.key} has MD5 ${tap.md5}, manifest-files.json says ${file.md5Checksum}: altered or incomplete`);
  }
  if (items !== file.itemCount) throw new NativeExportError(`data file ${file.key} holds ${items} items, manifest-files.json says ${file.itemCount}`);
}
