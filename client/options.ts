/**
 * The CLI's option parsers: each option is checked before anything is started or uploaded, and a
 * bad value is a usage error (exit 2) that says what is expected. Commander calls the parsers
 * given to `.option()`; the rest are called by the commands before they connect.
 */
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { RUNBOOKS } from '../common/definitions';
import { MAX_PRESIGN_SECONDS } from '../common/diagnostics';
import { FLEET_CONCURRENCY, validateFleetStatusInput } from '../common/fleet-status';
import { parseS3Url, validateRecoveryTables } from '../common/dynamodb-backup';
import type { ExportTuning, ImportTuning } from '../common/dynamodb-backup';
import { EXPORT_METHODS } from '../common/dynamodb-export-method';
import { isNativeExportKey, nativeResumeRefusal } from '../common/dynamodb-native-export';
import { InvalidInputError, instanceTableNames } from '../common/instance';
import { validateRollbackTarget } from '../common/rollback';
import { DEFAULT_LINK_SECONDS } from './download-link';
import { checkScanFile } from './upload';
import type { ScanFile } from './upload';

/** Commander's way to say an option is bad; the message follows "option '--x <v>' argument 'y' is invalid." */
function invalid(message: string): never {
  throw new InvalidArgumentError(message);
}

/** A whole number option from `min` to `max`; anything else is a usage error naming the range. */
function wholeNumber(min: number, max: number, unit = ''): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) invalid(`a whole number${unit} from ${min} to ${max}`);
    return n;
  };
}

/** Scan segments per table: each is an activity, so a thousand is plenty (DynamoDB allows a million). */
export const parseSegments = wholeNumber(1, 1024);
/** Items per backup chunk: a chunk also closes at 8 MiB, which small items reach near 100 000. */
export const parseChunkMaxItems = wholeNumber(1, 100_000);
export const parseImportConcurrency = wholeNumber(1, 256);
/** A download link's lifetime: SigV4 signatures last at most 7 days. */
export const parseUrlExpiry = wholeNumber(1, MAX_PRESIGN_SECONDS, ' of seconds');
export const parseLimit = wholeNumber(1, 10_000);
/** Instances `status --all` reads at once. */
export const parseFleetConcurrency = wholeNumber(1, FLEET_CONCURRENCY.max);

/** `status --all --prefix`: the beginning of an instance name. */
export function parsePrefix(value: string): string {
  try {
    validateFleetStatusInput({ prefix: value });
    return value;
  } catch (err) {
    if (err instanceof InvalidInputError) invalid(err.message);
    throw err;
  }
}
/** Below 100 ms the polling would load the server for no visible gain. */
export const parseInterval = wholeNumber(100, 600_000, ' of milliseconds');

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** How long `approve` waits for a run to reach its gate: `0`, `90s`, `2m`, `1h` (at most 1 hour), in milliseconds. */
export function parseWaitDuration(value: string): number {
  const m = /^(\d{1,7})(ms|s|m|h)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 's']! : NaN;
  if (!(ms >= 0 && ms <= 3_600_000)) invalid('a duration such as 0, 30s, 2m or 1h (at most 1h)');
  return ms;
}

// C0 and C1 controls, and the Unicode line separators and bidirectional overrides that make text
// in an audit record or a terminal read other than it is.
const CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Free text for the audit record (`--reason`, `--comment`): 1 to 1000 characters, no control characters. */
export function parseText(value: string): string {
  if (value.trim() === '') invalid('a non-empty text');
  if (CONTROL.test(value)) invalid('text without control characters (newlines, tabs, escapes)');
  if ([...value].length > 1000) invalid('at most 1000 characters');
  return value;
}

/** `--to`: what the rollback resolves against the Application's history. */
export function parseRevision(value: string): string {
  try {
    return validateRollbackTarget(value);
  } catch (err) {
    return invalid(err instanceof Error ? err.message : String(err));
  }
}

/** `--branch`: a git branch name (`git check-ref-format --branch` rules) and not a commit. */
export function parseBranch(value: string): string {
  const problem =
    value.length === 0 || value.length > 200 ? 'from 1 to 200 characters'
    : !/^[A-Za-z0-9._/-]+$/.test(value) ? 'letters, digits and . _ / - only'
    : value.startsWith('-') || value.startsWith('/') || value.endsWith('/') || value.endsWith('.') ? 'not starting with - or /, nor ending with / or .'
    : /\.\.|\/\/|(^|\/)\.|\.lock(\/|$)/.test(value) ? 'no "..", "//", component starting with "." or ending with ".lock"'
    : /^[0-9a-f]{7,40}$/.test(value) ? 'a branch, not a commit hash (use rollback --to for a commit)'
    : undefined;
  return problem ? invalid(`a git branch name: ${problem}`) : value;
}

/**
 * An identity (`--as`, $VCP_USER, the login): it names the requester in the audit record and the key
 * file, so it is a plain name of letters, digits and . _ @ - (up to 64, starting with a letter or digit).
 */
export function parseIdentity(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(value)) {
    invalid('an identity of 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');
  }
  return value;
}

/** `--as`, else $VCP_USER, else the login; each checked like `--as`. */
export function identity(as?: string): string {
  if (as !== undefined) return as;
  const fromEnv = process.env.VCP_USER;
  const [name, where] = fromEnv !== undefined ? [fromEnv, '$VCP_USER'] : [os.userInfo().username, 'your login name'];
  try {
    return parseIdentity(name);
  } catch (err) {
    throw new InvalidInputError(`${where} ${JSON.stringify(name)} is not ${err instanceof Error ? err.message : String(err)}; name yourself with --as`);
  }
}

/** A workflow ID argument (`show`, `watch`, `approve`, ...): non-empty, no control characters. */
export function validateWorkflowId(value: string): string {
  if (value.length === 0 || value.length > 1000 || CONTROL.test(value)) throw new InvalidInputError(`${JSON.stringify(value)} is not a workflow ID`);
  return value;
}

export const RUNBOOK_NAMES: string[] = Object.values(RUNBOOKS);

/** `--input key=value...`: approval inputs, keys as the runbooks name them, values as free text. */
export function parseInputs(pairs: string[] = []): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      const key = pair.slice(0, at);
      if (at <= 0 || !/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(key)) throw new InvalidInputError(`--input takes key=value with a name for a key, not ${JSON.stringify(pair)}`);
      const value = pair.slice(at + 1);
      if (CONTROL.test(value) || value.length > 1000) throw new InvalidInputError(`--input ${key}: at most 1000 characters, no control characters`);
      return [key, value];
    }),
  );
}

/** `--tables a,b`: the names; checked against the instance's tables once the instance is known. */
export function parseTableList(value: string): string[] {
  const names = value.split(',').map((t) => t.trim()).filter(Boolean);
  if (names.length === 0) invalid('a comma-separated list of table names');
  return names;
}

/** Full table names from `--tables`; the platform's short names (users, matches, feedback) are accepted too. */
export function resolveTables(instance: string, tables: string[] | undefined): string[] | undefined {
  if (!tables) return undefined;
  const known = instanceTableNames(instance);
  return validateRecoveryTables(instance, tables.map((t) => (known.includes(`${t}-${instance}`) ? `${t}-${instance}` : t)), known);
}

export function parseManifestUrl(value: string): string {
  try {
    parseS3Url(value);
  } catch (err) {
    invalid(err instanceof Error ? err.message : String(err));
  }
  const native = nativeResumeRefusal(value);
  if (native) invalid(native);
  if (!value.endsWith('/manifest.json')) invalid("the s3:// URL of a backup's manifest.json");
  return value;
}

/** Where an import reads from: an s3:// URL as given, or a local scan file (checked, not yet uploaded). */
export function importSource(from: string): { s3Url: string; manifest: boolean } | ScanFile {
  if (from.startsWith('s3://')) {
    const { key } = parseS3Url(from);
    return { s3Url: from, manifest: !isNativeExportKey(key) && key.endsWith('manifest.json') };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from)) throw new InvalidInputError(`--from ${from}: only s3:// URLs and local files are supported`);
  // Our manifests list chunks in S3, so a local one cannot be imported; only the guide's scan file can.
  if (path.basename(from).endsWith('manifest.json')) {
    throw new InvalidInputError(`--from ${from}: a local file must be \`aws dynamodb scan\` output; import a backup manifest by its s3:// URL`);
  }
  if (isNativeExportKey(path.basename(from))) {
    throw new InvalidInputError(`--from ${from}: a DynamoDB native export lists its data files in S3; import it by the s3:// URL of its manifest-summary.json`);
  }
  return checkScanFile(from);
}

/** Drops the fields left unset, and the whole object when none is set. */
export function tuning<T extends ExportTuning | ImportTuning>(values: T): T | undefined {
  const set = Object.entries(values).filter(([, v]) => v !== undefined);
  return set.length ? (Object.fromEntries(set) as T) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Options several commands share, built once so each reads and checks the same way everywhere.

/** `--as <user>`: the requester (or approver) identity, checked like any identity. */
export function identityOption(description = 'requester identity (default: $VCP_USER or your login)'): Option {
  return new Option('--as <user>', description).argParser(parseIdentity);
}

/** `--reason <text>`: why, for the audit record. */
export function reasonOption(): Option {
  return new Option('--reason <text>', 'why (goes into the audit record)').argParser(parseText);
}

/** `--url-expiry <seconds>`: a diagnostic bundle's download link lifetime. */
export function urlExpiryOption(description = "a diagnostic bundle's download link lifetime (at most 604800)"): Option {
  return new Option('--url-expiry <seconds>', description).argParser(parseUrlExpiry).default(DEFAULT_LINK_SECONDS);
}

/** `--method scan|native|auto`: how a backup reads the tables (absent: scan). */
export function exportMethodOption(): Option {
  return new Option(
    '--method <method>',
    'scan (default: a parallel Scan, not point-in-time, consumes read capacity), native (DynamoDB ExportTableToPointInTime: one point in time for all tables, needs PITR on each), auto (native when every table has PITR, else scan)',
  ).choices(EXPORT_METHODS);
}

/** `--chunk-max-items <n>` and `--segments <n>`: the export's tuning. */
export function exportTuningOptions(prefix = ''): Option[] {
  return [
    new Option('--chunk-max-items <n>', `${prefix}items per backup chunk at most (default 10000)`).argParser(parseChunkMaxItems),
    new Option('--segments <n>', `${prefix}parallel scan segments per table (default one per 25000 items, up to 16)`).argParser(parseSegments),
  ];
}

/** `--import-concurrency <n>`: the import's tuning. */
export function importConcurrencyOption(prefix = ''): Option {
  return new Option('--import-concurrency <n>', `${prefix}concurrent BatchWriteItem requests per segment (default 16)`).argParser(parseImportConcurrency);
}
