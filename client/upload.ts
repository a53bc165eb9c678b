/**
 * `import-dynamodb --from FILE`: puts an operator's local `aws dynamodb scan` output into the backup
 * bucket, where the import runbook's worker can read it. The file is checked to be scan output before
 * a byte leaves the machine (a wrong path, such as /proc/self/environ, would upload secrets). Streamed
 * in parts (never read into memory) when large, encrypted at rest, and refused if the bucket belongs
 * to another account.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import path from 'node:path';
import { Upload } from '@aws-sdk/lib-storage';
import type { RunbooksConfig } from '../common/config';
import { InvalidInputError } from '../common/instance';
import { callerS3Client } from './download-link';

export interface UploadedFile {
  file: string;
  bytes: number;
  bucket: string;
  key: string;
  url: string;
}

/**
 * A local scan file, checked. A small one was read whole and is uploaded from `content`, so what
 * was checked is what is uploaded (files under /proc report size 0 and change between reads).
 */
export interface ScanFile {
  file: string;
  bytes: number;
  content?: Buffer;
}

/** Files up to this size are parsed whole; larger ones by their opening bytes. */
const WHOLE_CHECK_BYTES = 1024 * 1024;
const OPENING_BYTES = 64 * 1024;

const ATTRIBUTE_TYPES = ['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL'];
/**
 * The start of `aws dynamodb scan` output: `{"Items": [` (after the scalar fields, if a tool put
 * them first), then `]` or the first item's first attribute, `{"name": {"S": `.
 */
const SCAN_OPENING = new RegExp(
  '^\\s*\\{\\s*(?:"(?:Count|ScannedCount)"\\s*:\\s*\\d+\\s*,\\s*|"ConsumedCapacity"\\s*:\\s*null\\s*,\\s*)*"Items"\\s*:\\s*\\[\\s*' +
    `(?:\\]|\\{\\s*"(?:[^"\\\\]|\\\\.)*"\\s*:\\s*\\{\\s*"(?:${ATTRIBUTE_TYPES.join('|')})"\\s*:)`,
);

function isAttributeValue(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const types = Object.keys(value);
  return types.length === 1 && ATTRIBUTE_TYPES.includes(types[0]!);
}

/** Whether a whole document is scan output: an object whose Items are items of DynamoDB JSON. */
function isScanDocument(text: string): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return false;
  }
  if (doc === null || typeof doc !== 'object' || !('Items' in doc) || !Array.isArray(doc.Items)) return false;
  return doc.Items.every((item: unknown) => item !== null && typeof item === 'object' && !Array.isArray(item) && Object.values(item).every(isAttributeValue));
}

/**
 * The local file to upload: it must be a regular file holding `aws dynamodb scan` output (parsed
 * whole up to WHOLE_CHECK_BYTES, by its opening bytes beyond). Nothing is uploaded here.
 */
export function checkScanFile(file: string): ScanFile {
  const where = `--from ${file}`;
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    throw new InvalidInputError(`${where}: no such file (give an existing file, or an s3:// URL)`, { cause: err });
  }
  if (!stat.isFile()) throw new InvalidInputError(`${where}: not a regular file`);
  const resolved = path.resolve(file);
  const head = Buffer.alloc(WHOLE_CHECK_BYTES + 1);
  let read = 0;
  const fd = openSync(resolved, 'r');
  try {
    for (let n = -1; n !== 0 && read < head.length; read += n) n = readSync(fd, head, read, head.length - read, null);
  } finally {
    closeSync(fd);
  }
  const notScan = `${where}: not \`aws dynamodb scan\` output (it must be a JSON document {"Items": [...]} of DynamoDB JSON items); nothing was uploaded`;
  if (read <= WHOLE_CHECK_BYTES) {
    const content = head.subarray(0, read);
    if (!isScanDocument(content.toString('utf8').replace(/^\uFEFF/, ''))) throw new InvalidInputError(notScan);
    return { file: resolved, bytes: read, content };
  }
  if (!SCAN_OPENING.test(head.subarray(0, OPENING_BYTES).toString('utf8').replace(/^\uFEFF/, ''))) throw new InvalidInputError(notScan);
  return { file: resolved, bytes: stat.size };
}

/** `uploads/<instance>/<uuid>-<basename>`: unique per upload, and still says what the file was. */
function uploadKey(instance: string, file: string): string {
  const base = path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_');
  return `uploads/${instance}/${randomUUID()}-${base}`;
}

export async function uploadScanFile(config: RunbooksConfig, instance: string, scanFile: ScanFile): Promise<UploadedFile> {
  const { file, content } = scanFile;
  const key = uploadKey(instance, file);
  const s3 = callerS3Client(config);
  let bytes = 0;
  try {
    const body: Readable | Buffer = content ?? createReadStream(file).on('data', (chunk: Buffer | string) => (bytes += chunk.length));
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: config.aws.backupBucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        ServerSideEncryption: 'AES256',
        ExpectedBucketOwner: config.aws.expectedBucketOwner,
      },
    });
    await upload.done();
  } catch (err) {
    throw new Error(`cannot upload ${file} to s3://${config.aws.backupBucket}/${key}`, { cause: err });
  } finally {
    s3.destroy();
  }
  return { file, bytes: content?.length ?? bytes, bucket: config.aws.backupBucket, key, url: `s3://${config.aws.backupBucket}/${key}` };
}
