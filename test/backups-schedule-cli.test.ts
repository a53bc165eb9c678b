/**
 * `runbook backups schedule|schedules|pause|resume|delete` as a person runs them (the CLI process,
 * against the stack's Temporal server and a worker of the test's own): bad input creates nothing
 * (exit 2), a missing schedule is exit 8, and a schedule made by the CLI fires, signed by the CLI
 * user's key, and is paused, resumed and deleted.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { BackupScheduleView } from '../client/backup-schedules';
import { EXIT } from '../client/cli';
import { parseApprovalConfig } from '../common/approval-config';
import { backupScheduleId } from '../common/backup-schedule';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { until } from '../test-support/runs';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const exec = promisify(execFile);
const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-sched-cli-keys-'));
const aws = awsClients();

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

async function cli(args: string[], taskQueue = 'unused'): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
      env: { ...process.env, VCP_KEY_DIR: keyDir, VCP_TASK_QUEUE: taskQueue, VCP_USER: 'sched-op', NODE_NO_WARNINGS: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function scheduleExists(instance: string): Promise<boolean> {
  const { client, close } = await temporalClient();
  try {
    await client.schedule.getHandle(backupScheduleId(instance)).describe();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  } finally {
    await close();
  }
}

async function listed(instance: string, taskQueue: string): Promise<BackupScheduleView | undefined> {
  const out = await cli(['backups', 'schedules', '-o', 'json'], taskQueue);
  expect(out.code, out.stderr).toBe(EXIT.ok);
  return (JSON.parse(out.stdout) as BackupScheduleView[]).find((s) => s.instance === instance);
}

describe('runbook backups schedule|schedules|pause|resume|delete', { timeout: 180_000 }, () => {
  it('refuses a bad interval or retention before anything is created (exit 2), and a missing schedule is exit 8', async () => {
    const instance = uniqueInstance('sched-cli-bad');
    await cli(['keys', 'init', '--as', 'sched-op']);
    const bad = await cli(['backups', 'schedule', instance, '--every', '5x']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/--every "5x" is not an interval: a whole number and one unit of s, m, h or d/);
    const keep = await cli(['backups', 'schedule', instance, '--every', '6h', '--keep', '0']);
    expect(keep.code).toBe(EXIT.usage);
    expect(keep.stderr).toMatch(/--keep 0 must be a whole number from 1 to 10000/);
    expect((await cli(['backups', 'schedule', instance])).code).toBe(EXIT.usage);
    const method = await cli(['backups', 'schedule', instance, '--every', '6h', '--method', 'snapshot']);
    expect(method.code).toBe(EXIT.usage);
    expect(method.stderr).toMatch(/--method <method>' argument 'snapshot' is invalid\. Allowed choices are scan, native, auto/);
    expect(await scheduleExists(instance)).toBe(false);

    for (const sub of ['pause', 'resume', 'delete']) {
      const missing = await cli(['backups', sub, instance]);
      expect(missing.code, sub).toBe(EXIT.scheduleNotFound);
      expect(missing.stderr).toContain(`no backup schedule for ${instance} (schedule backups/${instance})`);
    }
    const asJson = await cli(['-o', 'json', 'backups', 'pause', instance]);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ exitCode: EXIT.scheduleNotFound, error: expect.stringContaining('no backup schedule') as unknown });
  });

  it('schedules an instance signed by the CLI user, lists it with its last run, pauses with a reason, resumes and deletes it', async () => {
    const instance = uniqueInstance('sched-cli');
    await seedForTest(instance, { sizes: { users: 3, matches: 1, feedback: 1 } });
    const key = JSON.parse((await cli(['keys', 'init', '--as', 'sched-op', '-o', 'json'])).stdout) as { publicKey: string };
    const approvals = parseApprovalConfig({
      approvers: [{ user: 'sched-op', groups: ['sre'], publicKey: key.publicKey }],
      policies: { default: { timeoutMs: 60_000, remindBeforeTimeoutMs: [], approvers: { users: [], groups: ['sre'] } } },
    });
    onTestFinished(async () => {
      const { client, close } = await temporalClient();
      await client.schedule.getHandle(backupScheduleId(instance)).delete().catch(() => undefined);
      await close();
    });

    await withWorker(async ({ taskQueue }) => {
      const created = await cli(['-o', 'json', 'backups', 'schedule', instance, '--every', '10s'], taskQueue);
      expect(created.code, created.stderr).toBe(EXIT.ok);
      expect(JSON.parse(created.stdout)).toMatchObject({ created: true, schedule: { instance, every: '10s', paused: false, scheduledBy: 'sched-op' } });
      await until('a scheduled run succeeded', async () => (await listed(instance, taskQueue))?.lastRun?.outcome === 'succeeded', 60_000, 1_000);

      const text = await cli(['backups', 'schedules'], taskQueue);
      expect(text.stdout).toMatch(/^INSTANCE\s+EVERY\s+STATE\s+KEEP\s+KEEP-DAYS\s+DRILL\s+NEXT RUN\s+LAST RUN$/m);
      expect(text.stdout).toMatch(new RegExp(`^${instance}\\s+10s\\s+active\\s+-\\s+-\\s+no\\s+\\d{4}-\\S+\\s+\\d{4}-\\S+ (succeeded|RUNNING)`, 'm'));

      const paused = await cli(['backups', 'pause', instance, '--reason', 'maintenance window'], taskQueue);
      expect(paused.code, paused.stderr).toBe(EXIT.ok);
      expect(await listed(instance, taskQueue)).toMatchObject({ paused: true, note: 'paused by sched-op: maintenance window' });
      expect((await cli(['backups', 'schedules'], taskQueue)).stdout).toMatch(new RegExp(`^${instance}\\s+10s\\s+paused: paused by sched-op: maintenance window`, 'm'));

      expect((await cli(['backups', 'resume', instance], taskQueue)).code).toBe(EXIT.ok);
      expect(await listed(instance, taskQueue)).toMatchObject({ paused: false });
      expect((await cli(['backups', 'delete', instance], taskQueue)).code).toBe(EXIT.ok);
      expect(await listed(instance, taskQueue)).toBeUndefined();
    }, { overrides: { approvals } });
  });
});
