/**
 * Builds a DynamoDB native export (`ExportTableToPointInTime`, DYNAMODB_JSON, full) from items, to
 * the layout the DynamoDB Developer Guide documents ("DynamoDB table export output format"): under
 * `<prefix>/AWSDynamoDB/<ExportId>/` a `manifest-summary.json`, a `manifest-files.json` (JSON lines:
 * itemCount, md5Checksum, etag, dataFileS3Key) each with its `.checksum`, an empty `_started`, and
 * `data/<name>.json.gz` files of `{"Item": …}` lines. The objects are built in memory (unit tests read
 * them through a fake S3) and written to S3 by `putNativeExport`.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { itemToWire } from '../activities/aws/dynamodb-items';

export interface NativeExportFixture {
  bucket: string;
  exportId: string;
  folder: string;
  summaryKey: string;
  url: string;
  dataKeys: string[];
  objects: Map<string, Buffer>;
}

export interface NativeExportOptions {
  bucket: string;
  /** The export prefix chosen in the request (S3Prefix). */
  prefix: string;
  tableName: string;
  items: Record<string, AttributeValue>[];
  /** Data files (DynamoDB writes at least one per partition; empty ones too). */
  files?: number;
  /** As an endpoint that started the export names it (default: a fresh ID, a made-up ARN, now). */
  exportId?: string;
  tableArn?: string;
  exportTime?: string;
  /** Changes the summary document before it is written (and checksummed). */
  summary?: (doc: Record<string, unknown>) => void;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** An ExportId as DynamoDB forms them: 14 digits of time, a dash, 8 hex digits. */
export function newExportId(): string {
  return `${Date.now().toString().padStart(14, '0')}-${randomBytes(4).toString('hex')}`;
}

export function buildNativeExport(options: NativeExportOptions): NativeExportFixture {
  const { bucket, prefix, tableName, items } = options;
  const exportId = options.exportId ?? newExportId();
  const folder = `${prefix}/AWSDynamoDB/${exportId}`;
  const tableArn = options.tableArn ?? `arn:aws:dynamodb:us-east-1:123456789012:table/${tableName}`;
  const objects = new Map<string, Buffer>();
  const fileCount = options.files ?? 3;
  const manifestLines: string[] = [];
  const dataKeys: string[] = [];
  for (let f = 0; f < fileCount; f++) {
    const part = items.filter((_, i) => i % fileCount === f);
    const text = part.map((item) => JSON.stringify({ Item: itemToWire(item) }) + '\n').join('');
    const body = gzipSync(text);
    const key = `${folder}/data/${randomBytes(16).toString('hex').slice(0, 26)}.json.gz`;
    objects.set(key, body);
    dataKeys.push(key);
    manifestLines.push(JSON.stringify({ itemCount: part.length, md5Checksum: md5(body).toString('base64'), etag: `${md5(body).toString('hex')}-1`, dataFileS3Key: key }));
  }
  const filesManifest = Buffer.from(manifestLines.join('\n') + '\n');
  const now = new Date().toISOString();
  const summary: Record<string, unknown> = {
    version: '2020-06-30',
    exportArn: `${tableArn}/export/${exportId}`,
    startTime: now,
    endTime: now,
    tableArn,
    tableId: '12345a12-abcd-123a-ab12-1234abc12345',
    exportTime: options.exportTime ?? now,
    s3Bucket: bucket,
    s3Prefix: prefix,
    s3SseAlgorithm: 'AES256',
    s3SseKmsKeyId: null,
    manifestFilesS3Key: `${folder}/manifest-files.json`,
    billedSizeBytes: filesManifest.length,
    itemCount: items.length,
    outputFormat: 'DYNAMODB_JSON',
    exportType: 'FULL_EXPORT',
  };
  options.summary?.(summary);
  const summaryBytes = Buffer.from(JSON.stringify(summary));
  objects.set(`${folder}/_started`, Buffer.alloc(0));
  objects.set(`${folder}/manifest-files.json`, filesManifest);
  objects.set(`${folder}/manifest-files.checksum`, Buffer.from(md5(filesManifest).toString('hex')));
  objects.set(`${folder}/manifest-summary.json`, summaryBytes);
  objects.set(`${folder}/manifest-summary.checksum`, Buffer.from(md5(summaryBytes).toString('hex')));
  const summaryKey = `${folder}/manifest-summary.json`;
  return { bucket, exportId, folder, summaryKey, url: `s3://${bucket}/${summaryKey}`, dataKeys, objects };
}

export async function putNativeExport(s3: S3Client, fixture: NativeExportFixture): Promise<void> {
  for (const [key, body] of fixture.objects) await s3.send(new PutObjectCommand({ Bucket: fixture.bucket, Key: key, Body: body }));
}

/** Every DynamoDB attribute type, nested in maps and lists, with the exact numbers and bytes a round trip must keep. */
export function everyTypeItems(n: number, key = 'feedback_id'): Record<string, AttributeValue>[] {
  return Array.from({ length: n }, (_, i) => ({
    [key]: { S: `fb-${String(i).padStart(4, '0')}` },
    text: { S: i % 5 === 0 ? '' : `comment ${i} 🚀 "quoted" \\ back\nline` },
    big: { N: i % 2 === 0 ? '12345678901234567890123456789012345678' : `-${1 + (i % 9)}.${'0'.repeat(36)}1` },
    raw: { B: Uint8Array.from([i % 256, 0, 255, 10, 13]) },
    flag: { BOOL: i % 2 === 0 },
    nothing: { NULL: true },
    tags: { SS: ['coffee', `t${i % 3}`] },
    scores: { NS: ['1', `${i + 2}`, '0.5'] },
    blobs: { BS: [Uint8Array.from([1, 2, 3]), Uint8Array.from([i % 256, 9])] },
    nested: {
      M: {
        list: { L: [{ NULL: true }, { BOOL: i % 2 === 1 }, { NS: ['1', '2'] }, { B: Uint8Array.from([7]) }, { L: [{ S: 'deep' }, { M: { n: { N: `${i}` } } }] }] },
        set: { BS: [Uint8Array.from([4])] },
        name: { SS: ['a', 'b'] },
      },
    },
  }));
}
