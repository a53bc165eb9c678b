/**
 * A DynamoDB native export as an import source (common/dynamodb-native-export.ts, activities/aws/native-export.ts):
 * fixtures built in memory to the documented layout, read through a fake S3; every attribute type
 * survives, and each way an export can be wrong is refused with the reason.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { canonicalItem, checkKeyAttributes, itemFromWire, itemToWire } from '../../activities/aws/dynamodb-items';
import { nativeExportItems, readNativeExport } from '../../activities/aws/native-export';
import type { NativeExport } from '../../activities/aws/native-export';
import { validateImport } from '../../common/dynamodb-import-plan';
import { exportFolder, parseResumeFrom, resolveExportKey } from '../../common/dynamodb-native-export';
import { importSource, parseManifestUrl } from '../../client/options';
import { importPlanLines } from '../../client/results';
import { buildNativeExport, everyTypeItems } from '../../test-support/native-export';
import type { NativeExportFixture, NativeExportOptions } from '../../test-support/native-export';

type Item = Record<string, AttributeValue>;

/** GetObject over the fixture's objects: Body is a stream that also answers transformToByteArray, like the SDK's. */
function fakeS3(objects: Map<string, Buffer>): S3Client {
  return {
    send: (command: { input: { Key: string } }) => {
      const body = objects.get(command.input.Key);
      if (!body) return Promise.reject(Object.assign(new Error(`NoSuchKey ${command.input.Key}`), { name: 'NoSuchKey' }));
      const stream = Readable.from([body.subarray(0, Math.floor(body.length / 2)), body.subarray(Math.floor(body.length / 2))]);
      return Promise.resolve({ Body: Object.assign(stream, { transformToByteArray: () => Promise.resolve(Uint8Array.from(body)) }) });
    },
  } as unknown as S3Client;
}

function fixture(items: Item[], extra: Partial<NativeExportOptions> = {}): NativeExportFixture {
  return buildNativeExport({ bucket: 'exports', prefix: 'ddb/2026-Dec', tableName: 'feedback-prod', items, ...extra });
}

async function readAll(f: NativeExportFixture): Promise<{ native: NativeExport; items: Item[] }> {
  const s3 = fakeS3(f.objects);
  const native = await readNativeExport(s3, f.bucket, f.summaryKey);
  const items: Item[] = [];
  for (const file of native.files) for await (const raw of nativeExportItems(s3, f.bucket, file)) items.push(itemFromWire(raw));
  return { native, items };
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** Replaces a data file and, when `consistent`, its manifest line's MD5 and the files manifest's checksum too. */
function replaceDataFile(f: NativeExportFixture, key: string, body: Buffer, manifest: { itemCount?: number; consistent: boolean }) {
  f.objects.set(key, body);
  if (!manifest.consistent) return;
  const filesKey = `${f.folder}/manifest-files.json`;
  const lines = f.objects.get(filesKey)!.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const line of lines) {
    if (line.dataFileS3Key !== key) continue;
    line.md5Checksum = md5(body).toString('base64');
    if (manifest.itemCount !== undefined) line.itemCount = manifest.itemCount;
  }
  const text = Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  f.objects.set(filesKey, text);
  f.objects.set(`${f.folder}/manifest-files.checksum`, Buffer.from(md5(text).toString('hex')));
}

describe('reading a DynamoDB native export', () => {
  it('restores every attribute type (S N B BOOL NULL M L SS NS BS, nested) item for item, across several data files and an empty one', async () => {
    const source = everyTypeItems(23);
    const f = fixture(source, { files: 4 });
    // The fourth file of 23 items split 4 ways holds 5; an export also writes empty files for empty partitions.
    const empty = fixture([], { files: 1 });
    expect((await readAll(empty)).items).toEqual([]);
    const { native, items } = await readAll(f);
    expect(native.summary).toMatchObject({ tableName: 'feedback-prod', itemCount: 23, exportId: f.exportId, folder: f.folder, outputFormat: 'DYNAMODB_JSON' });
    expect(native.files.map((x) => x.key).sort()).toEqual([...f.dataKeys].sort());
    expect(native.summarySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(items).toHaveLength(source.length);
    const byText = new Map(items.map((i) => [canonicalItem(i), i]));
    // The wire form compares every value exactly, binary as its bytes, sets and lists in their order.
    for (const item of source) expect(itemToWire(byText.get(canonicalItem(item))!)).toEqual(itemToWire(item));
    // Spot-check exactness where a lossy path would show: 38 digits, bytes, nesting.
    const first = byText.get(canonicalItem(source[0]!))!;
    expect(first.big).toEqual({ N: '12345678901234567890123456789012345678' });
    expect([...(first.raw!.B as Uint8Array)]).toEqual([0, 0, 255, 10, 13]);
    expect(first.nested!.M!.list!.L![4]).toEqual({ L: [{ S: 'deep' }, { M: { n: { N: '0' } } }] });
  });

  it('resolves keys written relative to the export prefix (the Developer Guide example) and keys of a copied export, inside the export folder only', () => {
    const { folder, exportId } = exportFolder('copies/ddb/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-summary.json');
    expect(folder).toBe('copies/ddb/AWSDynamoDB/01234567890123-a1b2c3d4');
    expect(resolveExportKey(folder, exportId, 'AWSDynamoDB/01234567890123-a1b2c3d4/data/x.json.gz', 'k')).toBe(`${folder}/data/x.json.gz`);
    expect(resolveExportKey(folder, exportId, 'ddb/AWSDynamoDB/01234567890123-a1b2c3d4/data/x.json.gz', 'k')).toBe(`${folder}/data/x.json.gz`);
    expect(() => resolveExportKey(folder, exportId, 'AWSDynamoDB/99999999999999-ffffffff/data/x.json.gz', 'k')).toThrow(/is not inside export 01234567890123-a1b2c3d4/);
    expect(() => resolveExportKey(folder, exportId, 'AWSDynamoDB/01234567890123-a1b2c3d4/data/../../../secrets.json.gz', 'k')).toThrow(/is not a file of export/);
    expect(() => exportFolder('ddb/exports/manifest-summary.json')).toThrow(/is not where a DynamoDB export writes its summary/);
  });

  it('refuses an ION export, an incremental export, and a summary of another export, naming why', async () => {
    await expect(readAll(fixture(everyTypeItems(2), { summary: (d) => (d.outputFormat = 'ION') }))).rejects.toThrow(/outputFormat ION is not supported: only DYNAMODB_JSON/);
    await expect(readAll(fixture(everyTypeItems(2), { summary: (d) => (d.exportType = 'INCREMENTAL_EXPORT') }))).rejects.toThrow(/incremental export .*only a FULL_EXPORT/);
    await expect(readAll(fixture(everyTypeItems(2), { summary: (d) => (d.exportFromTime = '2026-12-01T00:00:00Z') }))).rejects.toThrow(/incremental export/);
    await expect(readAll(fixture(everyTypeItems(2), { summary: (d) => (d.exportArn = `${String(d.tableArn)}/export/00000000000000-deadbeef`) }))).rejects.toThrow(/is not export .* whose folder holds this summary/);
    await expect(readAll(fixture(everyTypeItems(2), { summary: (d) => (d.itemCount = 3) }))).rejects.toThrow(/lists 2 items in 3 files, manifest-summary.json says 3/);
    await expect(readAll(fixture(everyTypeItems(2), { summary: (d) => (d.manifestFilesS3Key = 'elsewhere/manifest-files.json') }))).rejects.toThrow(/is not inside export/);
  });

  it('refuses a manifest that does not match its checksum file, or has none', async () => {
    const f = fixture(everyTypeItems(4));
    const filesKey = `${f.folder}/manifest-files.json`;
    f.objects.set(filesKey, Buffer.from(f.objects.get(filesKey)!.toString('utf8').replace('"itemCount":1', '"itemCount":2')));
    await expect(readAll(f)).rejects.toThrow(/manifest-files.json does not match .*manifest-files.checksum/);
    const g = fixture(everyTypeItems(4));
    g.objects.delete(`${g.folder}/manifest-summary.checksum`);
    await expect(readAll(g)).rejects.toThrow(/manifest-summary.checksum is missing/);
  });

  it('refuses a data file with one byte changed, a line removed (MD5), or a count that does not match its contents', async () => {
    const source = everyTypeItems(9);
    // One byte of the compressed object changed.
    const a = fixture(source);
    const bytes = Buffer.from(a.objects.get(a.dataKeys[1]!)!);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0x01, bytes.length - 10);
    replaceDataFile(a, a.dataKeys[1]!, bytes, { consistent: false });
    await expect(readAll(a)).rejects.toThrow(/data file .* (has MD5 .* manifest-files.json says|is not a whole gzip file)/);
    // A line removed, recompressed: the MD5 in the manifest no longer matches.
    const b = fixture(source);
    const lines = gunzipSync(b.objects.get(b.dataKeys[0]!)!).toString('utf8').split('\n');
    replaceDataFile(b, b.dataKeys[0]!, gzipSync(lines.slice(1).join('\n')), { consistent: false });
    await expect(readAll(b)).rejects.toThrow(new RegExp(`data file ${b.dataKeys[0]!.replace(/[.]/g, '\\.')} has MD5 .* manifest-files.json says`));
    // The same, with the manifests rewritten to match the file: the count still tells.
    const c = fixture(source);
    const cl = gunzipSync(c.objects.get(c.dataKeys[0]!)!).toString('utf8').split('\n');
    replaceDataFile(c, c.dataKeys[0]!, gzipSync(cl.slice(1).join('\n')), { consistent: true });
    await expect(readAll(c)).rejects.toThrow(/holds 2 items, manifest-files.json says 3/);
  });

  it('refuses a line that is not {"Item": …} (an incremental export\'s Keys/NewImage lines), and a line too long to be an item', async () => {
    const f = fixture(everyTypeItems(3), { files: 1 });
    replaceDataFile(f, f.dataKeys[0]!, gzipSync(`${JSON.stringify({ Keys: { feedback_id: { S: 'x' } }, NewImage: { feedback_id: { S: 'x' } } })}\n`), { consistent: true, itemCount: 1 });
    f.objects.set(`${f.folder}/manifest-summary.json`, Buffer.from(f.objects.get(`${f.folder}/manifest-summary.json`)!.toString('utf8').replace('"itemCount":3', '"itemCount":1')));
    f.objects.set(`${f.folder}/manifest-summary.checksum`, Buffer.from(md5(f.objects.get(`${f.folder}/manifest-summary.json`)!).toString('base64')));
    await expect(readAll(f)).rejects.toThrow(/line 1 is not \{"Item": …\} \(keys \["Keys","NewImage"\]\)/);
    const g = fixture(everyTypeItems(1), { files: 1 });
    replaceDataFile(g, g.dataKeys[0]!, gzipSync('x'.repeat(5 * 1024 * 1024)), { consistent: true });
    await expect(readAll(g)).rejects.toThrow(/a line longer than 4194304 characters is not an item/);
  });
});

describe('staged items fit the target table', () => {
  it('refuses an item without the table key, or with a key or index key of another type; an absent index key is fine', () => {
    const table = {
      keySchema: [{ AttributeName: 'pk' }, { AttributeName: 'sk' }],
      attributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'N' }, { AttributeName: 'gsi', AttributeType: 'B' }],
    };
    expect(() => checkKeyAttributes({ pk: { S: 'a' }, sk: { N: '1' }, other: { N: '2' } }, table, 'item 1')).not.toThrow();
    expect(() => checkKeyAttributes({ pk: { S: 'a' } }, table, 'item 2')).toThrow(/item 2: lacks the table's key attribute sk/);
    expect(() => checkKeyAttributes({ pk: { S: 'a' }, sk: { S: '1' } }, table, 'item 3')).toThrow(/item 3: sk is of type S, the table defines it as N/);
    expect(() => checkKeyAttributes({ pk: { S: 'a' }, sk: { N: '1' }, gsi: { S: 'x' } }, table, 'item 4')).toThrow(/gsi is of type S, the table defines it as B/);
  });
});

describe('where a native export is accepted', () => {
  const options = { requestedBy: { user: 'bob', via: 'test' as const } };
  const url = 's3://exports/ddb/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-summary.json';

  it('import-dynamodb: recognised by its manifest-summary.json, one target table required', () => {
    expect(validateImport({ instance: 'demo', from: url, tables: ['users-demo'], options }, 'demo')).toMatchObject({ kind: 'native-export', tables: ['users-demo'] });
    expect(() => validateImport({ instance: 'demo', from: url, options }, 'demo')).toThrow(/a DynamoDB native export holds one table: name the target with exactly one table/);
    expect(() => validateImport({ instance: 'demo', from: 's3://exports/ddb/manifest-summary.json', tables: ['users-demo'], options }, 'demo')).toThrow(/<prefix>\/AWSDynamoDB\/<ExportId>\/manifest-summary.json/);
    expect(importSource(url)).toEqual({ s3Url: url, manifest: false });
    expect(() => importSource('/tmp/AWSDynamoDB/x/manifest-summary.json')).toThrow(/import it by the s3:\/\/ URL of its manifest-summary.json/);
  });

  it('the printed plan names the native export the staged manifest came from', () => {
    const nativeExport = {
      kind: 'dynamodb-native-export' as const, url, exportArn: 'arn:aws:dynamodb:us-east-1:1:table/users-prod/export/01234567890123-a1b2c3d4', tableArn: 'arn:aws:dynamodb:us-east-1:1:table/users-prod',
      tableName: 'users-prod', exportTime: '2026-12-01T00:00:00.000Z', itemCount: 7, files: 2, summarySha256: 'a'.repeat(64), filesManifestSha256: 'b'.repeat(64),
    };
    const lines = importPlanLines({
      source: url, kind: 'native-export', sourceBucket: 'exports', nativeExport, allowNonEmptyTargets: false, allowOtherInstance: false,
      manifest: { url: 's3://backups/dynamodb-imports/demo/r/manifest.json', sha256: 'c'.repeat(64), createdAt: '2026-12-01T00:00:00.000Z' },
      tables: [{ tableName: 'users-demo', targetTable: 'users-demo', backupItems: 7, targetItemsBefore: 0, overwritesSameKeyItems: false }],
    });
    expect(lines.join('\n')).toMatch(/DynamoDB native export, full, DYNAMODB_JSON, bucket exports\)\n  native export: arn:aws:dynamodb:\S+\/export\/01234567890123-a1b2c3d4 of users-prod at 2026-12-01T00:00:00.000Z, 7 items in 2 files/);
  });

  it('recover-dynamodb --resume-from: refused with the reason and the way to do it instead', () => {
    expect(() => parseResumeFrom(url)).toThrow(/is a DynamoDB native export: it holds one table and no claim spec.*import-dynamodb <instance> --from s3:\/\/…\/manifest-summary.json --tables <table>/);
    expect(() => parseManifestUrl(url)).toThrow(/is a DynamoDB native export/);
    expect(parseResumeFrom('s3://backups/dynamodb-backups/demo/1/manifest.json')).toEqual({ bucket: 'backups', key: 'dynamodb-backups/demo/1/manifest.json' });
  });
});
