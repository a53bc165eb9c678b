/**
 * Scheduled backups: what the schedule client, the CLI and the `scheduledBackup` workflow share. The
 * schedule's ID and its runs' ID prefix, how `--every` is read, the catch-up window, the schedule's
 * signed request, and the pure decisions of a scheduled run (yield to a run holding the instance, or
 * back up). Pure code: safe in workflows.
 */
import { ed25519 } from '@noble/curves/ed25519';
import type { ApproverKeyring } from './approval';
import { keyFingerprint } from './approval';
import { decodeBase64, encodeBase64 } from './base64';
import { canonicalJson } from './canonical';
import type { DynamoDbExportDetails } from './dynamodb-backup';
import { validateExportMethod } from './dynamodb-export-method';
import type { ExportMethod } from './dynamodb-export-method';
import { InvalidInputError } from './instance';
import type { RunbookOptions } from './runbook';
import type { AuthenticatedRequester, Requester } from './start-request';
import { StartRequestRefused } from './start-request';

export interface ScheduledBackupInput {
  instance: string;
  /** Retention after the new backup is verified (child workflow `backupRetention`): keep the newest N. */
  keep?: number;
  /** Retention: keep backups younger than D days. */
  keepDays?: number;
  /** Restore-drill the new backup (child workflow `backupDrill`). */
  drill?: boolean;
  /** How each backup reads the tables (`export-dynamodb --method`); absent in older schedules: scan. */
  method?: ExportMethod;
  options: RunbookOptions;
}

/** Which run holds an instance's destructive lock (`destructive/<instance>`). */
export interface LockHolder {
  workflowId: string;
  runId: string;
  /** The runbook (RunbookName search attribute, else the workflow type). */
  runbook: string;
  startedAt: string;
  /** Open, or how it ended (a run that took the lock and finished during the export). */
  status: string;
}

export interface InstanceLockState {
  /** The run holding the lock now, if one does. */
  holder?: LockHolder;
  /** Runs under the lock that started at or after `since` (when asked): they changed the instance during the export. */
  startedSince: LockHolder[];
}

export interface ScheduledBackupDetails {
  /** The export child's run and its result (the backup, verified). */
  export: { workflowId: string; backup: DynamoDbExportDetails['backup']; tables: DynamoDbExportDetails['tables'] };
  retention?: { workflowId: string; outcome: string };
  drill?: { workflowId: string; outcome: string };
}

// ---------------------------------------------------------------------------------------------
// IDs

/** One schedule per instance. */
export function backupScheduleId(instance: string): string {
  return `backups/${instance}`;
}

/** The instance a schedule ID names, or undefined for a schedule that is not a backup schedule. */
export function instanceOfBackupSchedule(scheduleId: string): string | undefined {
  return scheduleId.startsWith('backups/') ? scheduleId.slice('backups/'.length) : undefined;
}

/**
 * The workflow ID a schedule's runs start under: Temporal appends `-<scheduled time, RFC 3339>`
 * (e.g. `scheduled-backup/demo-2026-12-03T18:00:00Z`), so each firing has its own ID.
 */
export function scheduledBackupWorkflowIdPrefix(instance: string): string {
  return `scheduled-backup/${instance}`;
}

/** The children of a scheduled run: derived from the parent's ID, so a retried start finds its own child. */
export function scheduledBackupChildId(parentWorkflowId: string, child: 'export' | 'retention' | 'drill'): string {
  return `${parentWorkflowId}/${child}`;
}

// ---------------------------------------------------------------------------------------------
// --every and the catch-up window

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Temporal's own floor for an interval is a second; a backup more often than every 10 s is a mistake. */
export const MIN_INTERVAL_MS = 10_000;
/** A schedule fires at least once a year, or it is not a backup schedule. */
export const MAX_INTERVAL_MS = 366 * UNIT_MS.d;

/** `30s`, `15m`, `6h`, `1d`, `7d` → milliseconds; anything else is refused with what is accepted. */
export function parseEvery(text: string): number {
  const match = /^([1-9][0-9]{0,5})([smhd])$/.exec(text.trim());
  if (!match) throw new InvalidInputError(`--every ${JSON.stringify(text)} is not an interval: a whole number and one unit of s, m, h or d (30s, 15m, 6h, 1d, 7d)`);
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms < MIN_INTERVAL_MS) throw new InvalidInputError(`--every ${text} is too often: at least every ${MIN_INTERVAL_MS / 1000}s`);
  if (ms > MAX_INTERVAL_MS) throw new InvalidInputError(`--every ${text} is too rare: at most every 366d`);
  return ms;
}

/** Milliseconds back in the shortest `--every` text that says them (`21600000` → `6h`). */
export function formatEvery(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * How late a missed firing may still run (after the Temporal server or every worker was down at its
 * time): one interval. A firing missed by less still backs up before the next one is due; one missed by
 * more is superseded by a later firing, so an outage never leaves a queue of backups behind it (and
 * overlap SKIP lets at most one run at a time anyway). Not capped at an hour: a daily schedule whose
 * firing fell in a two-hour outage still backs up that day instead of waiting a day. Temporal's own
 * floor for the window is 10 s.
 */
export function catchupWindowMs(intervalMs: number): number {
  return Math.max(intervalMs, 10_000);
}

export function validateRetention(keep: number | undefined, keepDays: number | undefined): void {
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 1 || keep > 10_000)) throw new InvalidInputError(`--keep ${keep} must be a whole number from 1 to 10000`);
  if (keepDays !== undefined && (!Number.isInteger(keepDays) || keepDays < 1 || keepDays > 3660)) throw new InvalidInputError(`--keep-days ${keepDays} must be a whole number of days from 1 to 3660`);
}

// ---------------------------------------------------------------------------------------------
// The plan of a scheduled run

/** What the run does after the export, as its steps list it. */
export interface ScheduledBackupPlan {
  retention?: { keep?: number; keepDays?: number };
  drill: boolean;
  /** The export's method when the schedule names one (else the export's default, scan). */
  method?: ExportMethod;
}

export function planScheduledBackup(input: Pick<ScheduledBackupInput, 'keep' | 'keepDays' | 'drill' | 'method'>): ScheduledBackupPlan {
  validateRetention(input.keep, input.keepDays);
  const method = input.method === undefined ? undefined : validateExportMethod(input.method);
  const retention = input.keep !== undefined || input.keepDays !== undefined ? { keep: input.keep, keepDays: input.keepDays } : undefined;
  return { ...(retention ? { retention } : {}), drill: input.drill === true, ...(method ? { method } : {}) };
}

function describeHolder(h: LockHolder): string {
  return `${h.runbook} run ${h.workflowId} (run ${h.runId}, started ${h.startedAt})`;
}

/** Before the export: a run holding the instance means this backup is skipped, naming that run. */
export function skipBeforeExport(lock: InstanceLockState): string | undefined {
  return lock.holder ? `skipped: the instance is held by ${describeHolder(lock.holder)}; a backup never runs beside a change of the instance` : undefined;
}

/**
 * After the export failed: when a run took the instance meanwhile (a recovery deleting the tables, an
 * import), the backup yielded to it, and that is not a backup failure. Otherwise undefined: the run fails.
 */
export function yieldAfterExportFailure(lock: InstanceLockState, exportError: string): string | undefined {
  const taker = lock.holder ?? lock.startedSince[0];
  return taker ? `yielded: ${describeHolder(taker)} took the instance during the export, which then failed (${exportError}); no backup was made` : undefined;
}

/**
 * After the export succeeded: a run that took the instance during it may have changed the tables
 * mid-scan, so the backup is kept (it verified as written) but counts for nothing: no retention
 * deletes older backups because of it, and no drill.
 */
export function yieldAfterExport(lock: InstanceLockState, backupUrl: string): string | undefined {
  const taker = lock.holder ?? lock.startedSince[0];
  return taker
    ? `yielded: ${describeHolder(taker)} took the instance during the export; the backup ${backupUrl} was kept but may mix states, so retention and the drill were not run`
    : undefined;
}

// ---------------------------------------------------------------------------------------------
// The schedule's signed request

const SCHEDULE_DOMAIN = 'vcp-runbooks/schedule/v1';

interface WithRequester {
  options: { requestedBy: Requester };
}

function scheduleMessage(scheduleId: string, input: WithRequester): Uint8Array {
  const { signature: _signature, ...requestedBy } = input.options.requestedBy;
  return new TextEncoder().encode(`${SCHEDULE_DOMAIN}\n${canonicalJson({ scheduleId, input: { ...input, options: { ...input.options, requestedBy } } })}`);
}

/**
 * A person's key signs the schedule's action input together with the schedule ID when they create or
 * update the schedule. A start request's signature (common/start-request.ts) is bound to one workflow
 * ID and holds ten minutes; a schedule starts runs under new IDs for months, so its runs verify this
 * instead: the same person, the same input, this schedule, and their key still on the keyring.
 */
export function signScheduleRequest<T extends WithRequester>(scheduleId: string, input: T, privateKey: Uint8Array, now = Date.now()): T {
  const stamped = { ...input, options: { ...input.options, requestedBy: { ...input.options.requestedBy, via: 'schedule' as const, signedAt: new Date(now).toISOString() } } };
  const signature = encodeBase64(ed25519.sign(scheduleMessage(scheduleId, stamped), privateKey));
  return { ...stamped, options: { ...stamped.options, requestedBy: { ...stamped.options.requestedBy, signature } } };
}

export function verifyScheduleRequest(keyring: ApproverKeyring, scheduleId: string, input: WithRequester): AuthenticatedRequester {
  const requester = input.options.requestedBy;
  if (typeof requester?.user !== 'string' || requester.signature === undefined) throw new StartRequestRefused(`schedule ${scheduleId} carries no signed request: schedule it again with \`runbook backups schedule\``);
  const key = keyring.approvers.find((k) => k.user === requester.user);
  if (!key) throw new StartRequestRefused(`schedule ${scheduleId} was signed by ${requester.user}, who has no key on the keyring (any more): schedule it again`);
  let valid = false;
  try {
    valid = ed25519.verify(decodeBase64(requester.signature), scheduleMessage(scheduleId, input), decodeBase64(key.publicKey));
  } catch {
    valid = false;
  }
  if (!valid) throw new StartRequestRefused(`schedule ${scheduleId}'s request does not verify against ${requester.user}'s key (${keyFingerprint(key.publicKey)})`);
  return { user: requester.user, authenticated: true, publicKey: key.publicKey, keyFingerprint: keyFingerprint(key.publicKey) };
}
