/**
 * DynamoDB's own export to S3 (`ExportTableToPointInTime`), read as an import source. Pure code:
 * the workflow and the client recognise the source by its URL, the activity checks the manifests.
 *
 * The layout, as the DynamoDB Developer Guide documents it ("DynamoDB table export output format"):
 *
 *   <export-prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json      one JSON document
 *   <export-prefix>/AWSDynamoDB/<ExportId>/manifest-summary.checksum
 *   <export-prefix>/AWSDynamoDB/<ExportId>/manifest-files.json        JSON lines, one per data file:
 *        {"itemCount", "md5Checksum" (base64 MD5 of the object), "etag", "dataFileS3Key"}
 *   <export-prefix>/AWSDynamoDB/<ExportId>/manifest-files.checksum
 *   <export-prefix>/AWSDynamoDB/<ExportId>/data/<name>.json.gz       gzip, JSON lines `{"Item": {...}}`
 *
 * The summary names the table (`tableArn`), the export (`exportArn`, ending in `/export/<ExportId>`),
 * `exportTime`, `itemCount`, `outputFormat` (DYNAMODB_JSON or ION) and `manifestFilesS3Key`. One
 * export holds one table. Only a full export in DynamoDB JSON is a table's contents: an ION export
 * or an incremental export (changes between two times, lines of Keys/NewImage/OldImage) is refused.
 */
import { parseS3Url } from './dynamodb-backup';
import { InvalidInputError } from './instance';

export const NATIVE_SUMMARY_FILE = 'manifest-summary.json';

/** What a native export says about itself, as checked. */
export interface NativeExportSummary {
  exportArn: string;
  exportId: string;
  /** `<prefix>/AWSDynamoDB/<ExportId>`: every key is resolved inside it. */
  folder: string;
  tableArn: string;
  tableName: string;
  exportTime: string;
  itemCount: number;
  outputFormat: 'DYNAMODB_JSON';
  /** Where the export was written (it may have been copied since; keys are resolved in the export's own folder). */
  s3Bucket?: string;
  s3Prefix?: string;
  /** The files manifest, resolved inside the export's folder. */
  filesManifestKey: string;
}

/** One line of manifest-files.json, its key resolved inside the export's folder. */
export interface NativeExportFile {
  key: string;
  itemCount: number;
  md5Checksum: string;
}

/** The native export a staged manifest was made from: what the approver sees, pinned by SHA-256. */
export interface NativeExportSource {
  kind: 'dynamodb-native-export';
  url: string;
  exportArn: string;
  tableArn: string;
  tableName: string;
  exportTime: string;
  itemCount: number;
  files: number;
  summarySha256: string;
  filesManifestSha256: string;
}

/** The native export's problems are the backup's problems: corrupt, never retried. */
export class NativeExportError extends Error {
  override readonly name = 'BackupCorruptError';
}

/** True for `s3://…/AWSDynamoDB/<ExportId>/manifest-summary.json` (any key ending in manifest-summary.json). */
export function isNativeExportKey(key: string): boolean {
  return key === NATIVE_SUMMARY_FILE || key.endsWith(`/${NATIVE_SUMMARY_FILE}`);
}

/** The export's folder (`<prefix>/AWSDynamoDB/<ExportId>`) and its ExportId, from the summary's key. */
export function exportFolder(summaryKey: string): { folder: string; exportId: string } {
  const match = /^(?:(.*)\/)?AWSDynamoDB\/([^/]+)\/manifest-summary\.json$/.exec(summaryKey);
  if (!match) {
    throw new InvalidInputError(`${summaryKey} is not where a DynamoDB export writes its summary (<prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json)`);
  }
  const prefix = match[1];
  return { folder: `${prefix ? `${prefix}/` : ''}AWSDynamoDB/${match[2]}`, exportId: match[2]! };
}

/**
 * A key the export's manifests name, resolved inside the export's folder. DynamoDB writes keys that
 * start with the export prefix (the Developer Guide's example omits it); either way the part from
 * `AWSDynamoDB/<ExportId>/` on is kept, so a copied export still resolves, and nothing outside the
 * export's own folder is ever read.
 */
export function resolveExportKey(folder: string, exportId: string, key: string, what: string): string {
  const marker = `AWSDynamoDB/${exportId}/`;
  const inside = key.startsWith(marker) ? 0 : key.indexOf(`/${marker}`);
  if (inside < 0) throw new NativeExportError(`${what} ${JSON.stringify(key)} is not inside export ${exportId}`);
  const at = inside === 0 && key.startsWith(marker) ? 0 : inside + 1;
  const rest = key.slice(at + marker.length);
  if (rest.length === 0 || rest.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new NativeExportError(`${what} ${JSON.stringify(key)} is not a file of export ${exportId}`);
  }
  return `${folder}/${rest}`;
}

function field<T>(doc: Record<string, unknown>, name: string, check: (v: unknown) => v is T, what: string): T {
  const value = doc[name];
  if (!check(value)) throw new NativeExportError(`manifest-summary.json: ${name} is ${JSON.stringify(value)}, expected ${what}`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The table's name from `arn:aws:dynamodb:<region>:<account>:table/<name>`. */
export function tableNameOfArn(arn: string): string {
  const match = /^arn:aws[a-z-]*:dynamodb:[^:]*:[^:]*:table\/([a-zA-Z0-9_.-]{3,255})$/.exec(arn);
  if (!match) throw new NativeExportError(`manifest-summary.json: tableArn ${JSON.stringify(arn)} is not a DynamoDB table ARN`);
  return match[1]!;
}

/** Parses and checks manifest-summary.json read from `summaryKey`: a full export in DynamoDB JSON of one table. */
export function parseNativeSummary(text: string, summaryKey: string): NativeExportSummary {
  const { folder, exportId } = exportFolder(summaryKey);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new NativeExportError(`${summaryKey} is not JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new NativeExportError(`${summaryKey} is not a JSON object`);
  const d = doc as Record<string, unknown>;
  const outputFormat = field(d, 'outputFormat', isString, 'a format');
  if (outputFormat !== 'DYNAMODB_JSON') {
    throw new NativeExportError(`${summaryKey}: outputFormat ${outputFormat} is not supported: only DYNAMODB_JSON exports can be imported (export again with --export-format DYNAMODB_JSON)`);
  }
  const exportType = d.exportType;
  if ((exportType !== undefined && exportType !== 'FULL_EXPORT') || d.exportFromTime !== undefined || d.exportToTime !== undefined) {
    throw new NativeExportError(
      `${summaryKey}: exportType ${JSON.stringify(exportType)} is an incremental export (the changes between two times, not the table's contents): only a FULL_EXPORT can be imported`,
    );
  }
  const exportArn = field(d, 'exportArn', isString, 'an export ARN');
  if (!exportArn.endsWith(`/export/${exportId}`)) {
    throw new NativeExportError(`${summaryKey}: exportArn ${exportArn} is not export ${exportId}, whose folder holds this summary`);
  }
  const tableArn = field(d, 'tableArn', isString, 'a table ARN');
  if (!exportArn.startsWith(`${tableArn}/export/`)) throw new NativeExportError(`${summaryKey}: exportArn ${exportArn} is not an export of ${tableArn}`);
  return {
    exportArn,
    exportId,
    folder,
    tableArn,
    tableName: tableNameOfArn(tableArn),
    exportTime: field(d, 'exportTime', isString, 'a time'),
    itemCount: field(d, 'itemCount', isCount, 'an item count'),
    outputFormat: 'DYNAMODB_JSON',
    s3Bucket: typeof d.s3Bucket === 'string' ? d.s3Bucket : undefined,
    s3Prefix: typeof d.s3Prefix === 'string' ? d.s3Prefix : undefined,
    filesManifestKey: resolveExportKey(folder, exportId, field(d, 'manifestFilesS3Key', isString, 'a key'), 'manifestFilesS3Key'),
  };
}

/** Parses manifest-files.json (JSON lines); every file in the export's data/ folder, the counts adding up to the summary's. */
export function parseNativeFiles(text: string, summary: NativeExportSummary): NativeExportFile[] {
  const { folder } = summary;
  const files: NativeExportFile[] = [];
  const where = (i: number) => `manifest-files.json line ${i + 1}`;
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim().length === 0) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (err) {
      throw new NativeExportError(`${where(i)} is not JSON`, { cause: err });
    }
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    if (!isCount(e.itemCount)) throw new NativeExportError(`${where(i)}: itemCount ${JSON.stringify(e.itemCount)} is not a count`);
    if (typeof e.md5Checksum !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(e.md5Checksum)) {
      throw new NativeExportError(`${where(i)}: md5Checksum ${JSON.stringify(e.md5Checksum)} is not a base64 MD5`);
    }
    if (!isString(e.dataFileS3Key)) throw new NativeExportError(`${where(i)}: dataFileS3Key is missing`);
    const key = resolveExportKey(folder, summary.exportId, e.dataFileS3Key, `${where(i)}: dataFileS3Key`);
    if (!key.startsWith(`${folder}/data/`)) throw new NativeExportError(`${where(i)}: ${e.dataFileS3Key} is not in the export's data/ folder`);
    files.push({ key, itemCount: e.itemCount, md5Checksum: e.md5Checksum });
  }
  const keys = new Set(files.map((f) => f.key));
  if (keys.size !== files.length) throw new NativeExportError('manifest-files.json lists a data file twice');
  const total = files.reduce((n, f) => n + f.itemCount, 0);
  if (total !== summary.itemCount) {
    throw new NativeExportError(`manifest-files.json lists ${total} items in ${files.length} files, manifest-summary.json says ${summary.itemCount}`);
  }
  return files;
}

/**
 * A manifest's `.checksum` file: the Developer Guide names it but not its encoding, so the MD5 of the
 * manifest is accepted as hex or base64 (both are seen in tools that write the layout).
 */
export function checksumMatches(checksumText: string, md5: { hex: string; base64: string }): boolean {
  const value = checksumText.trim();
  return value === md5.hex || value.toLowerCase() === md5.hex || value === md5.base64;
}

/** One data-file line, `{"Item": {...}}`, to the item in DynamoDB JSON; anything else is refused. */
export function itemOfExportLine(line: string, where: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    throw new NativeExportError(`${where} is not JSON`, { cause: err });
  }
  const keys = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? Object.keys(doc) : [];
  if (keys.length !== 1 || keys[0] !== 'Item') {
    throw new NativeExportError(`${where} is not {"Item": …} (keys ${JSON.stringify(keys)}): not a full export in DynamoDB JSON`);
  }
  return (doc as { Item: unknown }).Item;
}

/**
 * A recovery's resume restores every table the claim owns and recreates the claim from the spec our
 * manifest captured; a native export holds one table and no claim, so it is refused there.
 */
export function nativeResumeRefusal(url: string): string | undefined {
  if (!isNativeExportKey(url)) return undefined;
  return (
    `${url} is a DynamoDB native export: it holds one table and no claim spec, and a resume must restore every table the claim owns ` +
    'from one verified manifest of ours. Resume from our backup manifest (s3://…/manifest.json), or recreate the claim and load each table with ' +
    '`runbook import-dynamodb <instance> --from s3://…/manifest-summary.json --tables <table>`'
  );
}

/** A recovery's `resumeFrom`: an s3:// URL of one of our manifests; a native export is refused with the reason. */
export function parseResumeFrom(url: string): { bucket: string; key: string } {
  const parsed = parseS3Url(url);
  const refusal = nativeResumeRefusal(url);
  if (refusal) throw new InvalidInputError(refusal);
  return parsed;
}
