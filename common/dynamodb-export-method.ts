/**
 * How a backup reads its tables: our parallel Scan, or DynamoDB's native export to S3
 * (`ExportTableToPointInTime`), and the pure decisions around it. Pure code: the workflow imports it.
 *
 * - `scan` (the default): consumes read capacity, and is not of one instant (segments read while the
 *   others, and the writers, go on).
 * - `native`: every table is exported at ONE ExportTime chosen by the workflow, so the backup is one
 *   consistent point in time across tables, read from the point-in-time recovery (PITR) log without
 *   consuming read capacity. It needs PITR on every table and an endpoint with the API; without them
 *   the run is refused before anything is exported.
 * - `auto`: native when every table qualifies, else scan; the reason is recorded.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import { InvalidInputError } from './instance';

export const EXPORT_METHODS = ['scan', 'native', 'auto'] as const;
export type ExportMethod = (typeof EXPORT_METHODS)[number];

/** What a backup was taken with, as its manifest and result record it. */
export interface ExportMethodRecord {
  method: 'scan' | 'native';
  requested: ExportMethod;
  /** Why `auto` chose scan (or native). */
  reason?: string;
}

/** A native backup's one point in time, and each table's export. */
export interface PointInTime {
  exportTime: string;
  tables: { tableName: string; exportArn: string }[];
}

/** What the endpoint said about one table's point-in-time recovery. */
export interface TablePitr {
  tableName: string;
  tableArn: string;
  status: 'ENABLED' | 'DISABLED';
  /** The PITR window (ISO times), when enabled. */
  earliestRestorable?: string;
  latestRestorable?: string;
}

/** The endpoint's answer: the tables' PITR, or that it has no such API (dynalite). */
export type NativeExportSupport = { supported: true; tables: TablePitr[] } | { supported: false; unsupportedOperation: string };

export function validateExportMethod(method: unknown): ExportMethod {
  if (method === undefined) return 'scan';
  if (typeof method !== 'string' || !(EXPORT_METHODS as readonly string[]).includes(method)) {
    throw new InvalidInputError(`method ${JSON.stringify(method)} is not one of ${EXPORT_METHODS.join(', ')}`);
  }
  return method as ExportMethod;
}

export const UNSUPPORTED_MESSAGE = 'this DynamoDB endpoint does not support ExportTableToPointInTime; use --method scan';

/** Why native export cannot be used for these tables, or undefined when it can. */
export function nativeRefusal(support: NativeExportSupport): string | undefined {
  if (!support.supported) return `${UNSUPPORTED_MESSAGE} (it does not implement ${support.unsupportedOperation})`;
  const without = support.tables.filter((t) => t.status !== 'ENABLED').map((t) => t.tableName);
  if (without.length === 0) return undefined;
  return (
    `point-in-time recovery is not enabled on ${without.join(', ')}: a native export reads the PITR log. Enable it with ` +
    without.map((t) => `\`aws dynamodb update-continuous-backups --table-name ${t} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true\``).join(', ') +
    ', or use --method scan'
  );
}

export type ChosenMethod = { method: 'scan'; record: ExportMethodRecord } | { method: 'native'; record: ExportMethodRecord; exportTime: string };
export type MethodChoice = ChosenMethod | { refused: string };

/**
 * The method and, for native, the one ExportTime: the run's start, or the end of the tightest PITR
 * window if that is earlier (AWS's window ends a few minutes before now). A time before a table's
 * window began (PITR enabled after the run started) is refused: the tables would not share it.
 */
export function chooseExportMethod(requested: ExportMethod, startedAt: Date, support?: NativeExportSupport): MethodChoice {
  if (requested === 'scan') return { method: 'scan', record: { method: 'scan', requested } };
  if (!support) throw new Error('a native or auto export needs the endpoint checked first');
  let refusal = nativeRefusal(support);
  let exportTime: string | undefined;
  if (!refusal && support.supported) {
    const ms = (iso: string | undefined, fallback: number) => (iso === undefined ? fallback : Date.parse(iso));
    const latest = Math.min(startedAt.getTime(), ...support.tables.map((t) => ms(t.latestRestorable, Number.POSITIVE_INFINITY)));
    const earliest = Math.max(...support.tables.map((t) => ms(t.earliestRestorable, Number.NEGATIVE_INFINITY)));
    if (latest < earliest) {
      const late = support.tables.filter((t) => ms(t.earliestRestorable, Number.NEGATIVE_INFINITY) > latest).map((t) => t.tableName);
      refusal = `the point-in-time recovery windows of the tables do not overlap at ${new Date(latest).toISOString()} (${late.join(', ')} enabled later): run the backup again`;
    } else {
      exportTime = new Date(latest).toISOString();
    }
  }
  if (refusal === undefined && exportTime !== undefined) {
    return { method: 'native', exportTime, record: { method: 'native', requested, ...(requested === 'auto' ? { reason: 'every table has point-in-time recovery and the endpoint supports native export' } : {}) } };
  }
  if (requested === 'native') return { refused: refusal! };
  return { method: 'scan', record: { method: 'scan', requested, reason: `native export not possible: ${refusal!}` } };
}

/**
 * ExportTableToPointInTime's ClientToken: from the workflow ID, run ID and table, so a retried
 * activity re-sends the same token and DynamoDB returns the export already started, never a second.
 * The run ID too: a later run under a reused workflow ID (within the token's 8-hour window) asks for
 * another ExportTime, which under the same token would be an IdempotentParameterMismatch. The API
 * Reference gives only the pattern `^[^$]+$`; 64 hex characters stays within what AWS client tokens take.
 */
export function exportClientToken(workflowId: string, runId: string, tableName: string): string {
  return bytesToHex(sha256(utf8ToBytes(`${workflowId}\n${runId}\n${tableName}`)));
}

/** Where a table's native export is written: inside the backup's own folder, so retention deletes it with the backup. */
export function nativeExportPrefix(backupPrefix: string, tableName: string): string {
  return `${backupPrefix}/native/${tableName}`;
}

/** The export's summary key, as the Developer Guide lays an export out: `<S3Prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json`. */
export function nativeSummaryKey(s3Prefix: string, exportArn: string): string {
  const match = /\/export\/([^/]+)$/.exec(exportArn);
  if (!match) throw new InvalidInputError(`${exportArn} is not an export ARN (…/table/<name>/export/<ExportId>)`);
  return `${s3Prefix}/AWSDynamoDB/${match[1]}/manifest-summary.json`;
}

