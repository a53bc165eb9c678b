/** Scheduled backups' pure parts: --every, the catch-up window, the run's plan, when it yields, and the schedule's signature. */
import { describe, expect, it } from 'vitest';
import { generateApproverKey } from '../../common/approval';
import {
  backupScheduleId,
  catchupWindowMs,
  formatEvery,
  instanceOfBackupSchedule,
  parseEvery,
  planScheduledBackup,
  scheduledBackupChildId,
  signScheduleRequest,
  skipBeforeExport,
  verifyScheduleRequest,
  yieldAfterExport,
  yieldAfterExportFailure,
} from '../../common/backup-schedule';
import type { InstanceLockState, ScheduledBackupInput } from '../../common/backup-schedule';
import { StartRequestRefused } from '../../common/start-request';

const recovery = { workflowId: 'destructive/a', runId: 'r1', runbook: 'dynamodb-recovery', startedAt: '2026-12-03T18:00:00.000Z', status: 'RUNNING' };
const free: InstanceLockState = { startedSince: [] };

describe('--every', () => {
  it('reads a whole number and one unit of s, m, h or d', () => {
    expect(parseEvery('30s')).toBe(30_000);
    expect(parseEvery('15m')).toBe(900_000);
    expect(parseEvery('6h')).toBe(21_600_000);
    expect(parseEvery('1d')).toBe(86_400_000);
    expect(parseEvery('7d')).toBe(604_800_000);
  });

  it.each(['', '6', 'h', '6x', '1.5h', '-1h', '6h30m', '0s', '06h ', 'six hours'])('refuses %j, saying what it accepts', (text) => {
    expect(() => parseEvery(text)).toThrow(/not an interval|too often/);
  });

  it('refuses an interval under 10 s or over a year', () => {
    expect(() => parseEvery('5s')).toThrow(/too often: at least every 10s/);
    expect(() => parseEvery('400d')).toThrow(/too rare/);
  });

  it('prints milliseconds back in the unit that says them', () => {
    expect(['30s', '15m', '6h', '1d', '7d', '90m'].map((t) => formatEvery(parseEvery(t)))).toEqual(['30s', '15m', '6h', '1d', '7d', '90m']);
  });
});

describe('the catch-up window', () => {
  it('is one interval, never under Temporal\'s 10 s floor, and not capped at an hour', () => {
    expect(catchupWindowMs(30_000)).toBe(30_000);
    expect(catchupWindowMs(86_400_000)).toBe(86_400_000);
  });
});

describe('IDs', () => {
  it('name one schedule per instance, and the children after their parent', () => {
    expect(backupScheduleId('demo')).toBe('backups/demo');
    expect(instanceOfBackupSchedule('backups/demo')).toBe('demo');
    expect(instanceOfBackupSchedule('something-else')).toBeUndefined();
    expect(scheduledBackupChildId('scheduled-backup/demo-2026-12-03T18:00:00Z', 'export')).toBe('scheduled-backup/demo-2026-12-03T18:00:00Z/export');
  });
});

describe('a scheduled run\'s plan', () => {
  it('runs retention only when keep or keepDays is given, and the drill only when asked', () => {
    expect(planScheduledBackup({})).toEqual({ drill: false });
    expect(planScheduledBackup({ keep: 7 })).toEqual({ retention: { keep: 7, keepDays: undefined }, drill: false });
    expect(planScheduledBackup({ keepDays: 30, drill: true })).toEqual({ retention: { keep: undefined, keepDays: 30 }, drill: true });
  });

  it('carries the export method when the schedule names one; a schedule from before the option has none (scan); another value is refused', () => {
    expect(planScheduledBackup({ method: 'native' })).toEqual({ drill: false, method: 'native' });
    expect(planScheduledBackup({})).not.toHaveProperty('method');
    expect(() => planScheduledBackup({ method: 'snapshot' as never })).toThrow('method "snapshot" is not one of scan, native, auto');
  });

  it('refuses retention that is not a positive whole number', () => {
    expect(() => planScheduledBackup({ keep: 0 })).toThrow(/--keep 0/);
    expect(() => planScheduledBackup({ keep: 1.5 })).toThrow(/--keep/);
    expect(() => planScheduledBackup({ keepDays: -1 })).toThrow(/--keep-days/);
  });
});

describe('yielding to a run that holds the instance', () => {
  it('skips before the export when the lock is held, naming the holder', () => {
    expect(skipBeforeExport(free)).toBeUndefined();
    const reason = skipBeforeExport({ holder: recovery, startedSince: [] });
    expect(reason).toMatch(/^skipped: the instance is held by dynamodb-recovery run destructive\/a \(run r1/);
  });

  it('calls a failed export a yield when a run took the instance meanwhile, and a failure otherwise', () => {
    expect(yieldAfterExportFailure(free, 'TablesMissing')).toBeUndefined();
    expect(yieldAfterExportFailure({ holder: recovery, startedSince: [] }, 'table not found')).toMatch(/^yielded: dynamodb-recovery run destructive\/a .* export, which then failed \(table not found\); no backup was made/);
    // The run that took the instance may have ended before the export failed.
    expect(yieldAfterExportFailure({ startedSince: [{ ...recovery, status: 'COMPLETED' }] }, 'x')).toMatch(/^yielded: dynamodb-recovery/);
  });

  it('keeps a backup made while a run took the instance, but runs no retention or drill on it', () => {
    expect(yieldAfterExport(free, 's3://b/m.json')).toBeUndefined();
    expect(yieldAfterExport({ startedSince: [recovery] }, 's3://b/m.json')).toMatch(/the backup s3:\/\/b\/m.json was kept but may mix states, so retention and the drill were not run/);
  });
});

describe("the schedule's signed request", () => {
  const alice = generateApproverKey();
  const keyring = { approvers: [{ user: 'alice', groups: ['sre'], publicKey: alice.publicKey }] };
  const input: ScheduledBackupInput = { instance: 'a', keep: 3, options: { requestedBy: { user: 'alice', via: 'cli' } } };

  it('verifies for the schedule and input it was signed for, with no time limit', () => {
    const signed = signScheduleRequest('backups/a', input, alice.privateKey, Date.parse('2020-01-01T00:00:00Z'));
    expect(verifyScheduleRequest(keyring, 'backups/a', signed)).toMatchObject({ user: 'alice', authenticated: true });
  });

  it('refuses another schedule, a changed input, an unsigned one, and a signer no longer on the keyring', () => {
    const signed = signScheduleRequest('backups/a', input, alice.privateKey);
    expect(() => verifyScheduleRequest(keyring, 'backups/b', signed)).toThrow(StartRequestRefused);
    expect(() => verifyScheduleRequest(keyring, 'backups/a', { ...signed, keep: 1 } as ScheduledBackupInput)).toThrow(/does not verify/);
    expect(() => verifyScheduleRequest(keyring, 'backups/a', input)).toThrow(/no signed request/);
    expect(() => verifyScheduleRequest({ approvers: [] }, 'backups/a', signed)).toThrow(/no key on the keyring/);
  });
});
