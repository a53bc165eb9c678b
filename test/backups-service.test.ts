/**
 * The backup service end to end on the real stack (Temporal Schedules, dynalite, moto): a schedule
 * every 10 s with keep 2 and drills starts `scheduledBackup` runs on the test's own worker; each one
 * exports and verifies a backup (child `dynamodbExport`), applies retention (child `backupRetention`)
 * and restore-drills the new backup (child `backupDrill`). The catalog (workflow and CLI) shows what
 * the runs left: the newest 2 verified backups, each drilled and labelled not point-in-time; the
 * older ones are gone from S3, each deletion in a retention run's audit record; no scratch table
 * remains; and every table of the instance is left as it was, item by item.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { deleteBackups, scheduleBackups } from '../client/backup-schedules';
import { EXIT } from '../client/commands/context';
import { startBackupCatalog, startDynamoDbRecovery } from '../client/runbooks';
import type { BackupCatalog, BackupRetentionDetails } from '../common/backup-catalog';
import { backupScheduleId, scheduledBackupChildId } from '../common/backup-schedule';
import type { ScheduledBackupDetails } from '../common/backup-schedule';
import { parseS3Url } from '../common/dynamodb-backup';
import { destructiveWorkflowId } from '../common/workflows';
import type { BackupDrillDetails } from '../common/dynamodb-drill';
import type { AuditRecord, RunbookResult } from '../common/runbook';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awaitApprovalGate, keys } from '../test-support/approvers';
import { allTableNames, instanceItems } from '../test-support/dynamodb';
import { expectSameItems } from '../test-support/recovery-run';
import { until } from '../test-support/runs';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const bucket = config.aws.backupBucket;
const bob = { user: 'bob', via: 'test' as const };
const EVERY_MS = 10_000;
const KEEP = 2;
const RUNS = 3;

beforeAll(() => ensureBackupBucket(s3, bucket));
afterAll(() => aws.close());

/** The runs the schedule started so far, oldest first. */
async function runsOf(client: Client, instance: string): Promise<WorkflowHandle[]> {
  const described = await client.schedule.getHandle(backupScheduleId(instance)).describe();
  return described.info.recentActions.map((a) => client.workflow.getHandle(a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId));
}

async function finished(handle: WorkflowHandle): Promise<boolean> {
  return (await handle.describe()).status.name !== 'RUNNING';
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

async function auditRecordAt(location: string | undefined): Promise<AuditRecord> {
  const { bucket: b, key } = parseS3Url(location ?? '');
  const object = await s3.send(new GetObjectCommand({ Bucket: b, Key: key }));
  return JSON.parse(await object.Body!.transformToString()) as AuditRecord;
}


/** After the test, whatever happened, with a client of its own (the test's worker and client are gone by then). */
function afterTest(cleanup: (client: Client) => Promise<unknown>): void {
  onTestFinished(async () => {
    const { client, close } = await temporalClient();
    try {
      await cleanup(client).catch(() => undefined);
    } finally {
      await close();
    }
  });
}

/** The CLI as a user runs it, against the test's worker. */
async function cli(args: string[], taskQueue: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
      env: { ...process.env, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1' },
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: `${e.stdout}${e.stderr}` };
  }
}

async function cliJson<T>(args: string[], taskQueue: string): Promise<{ code: number; stdout: string; json?: T }> {
  const ran = await cli(args, taskQueue);
  return { ...ran, json: ran.code === 0 ? (JSON.parse(ran.stdout) as T) : undefined };
}

const idOf = (backup: { prefix: string }) => backup.prefix.split('/').pop()!;

describe('the backup service: schedule, export, retention, drill and catalog together', { timeout: 600_000 }, () => {
  it('a schedule every 10 s (keep 2, drill) makes verified, drilled backups; retention keeps the newest 2 and audits each deletion; no scratch table remains; tables unchanged', async () => {
    const instance = uniqueInstance('bk-svc');
    await seedForTest(instance, { sizes: { users: 8, matches: 3, feedback: 2 } });
    const before = await instanceItems(dynamodb, instance);
    const items = Object.values(before).reduce((sum, t) => sum + t.size, 0);

    await withWorker(async ({ client, taskQueue }) => {
      afterTest((c) => deleteBackups(c, instance));
      expect(await scheduleBackups(client, taskQueue, { instance, everyMs: EVERY_MS, keep: KEEP, drill: true, requestedBy: bob }, keys.bob.privateKey)).toMatchObject({ created: true });
      await until(`${RUNS} scheduled runs finished`, async () => {
        const runs = await runsOf(client, instance);
        if (runs.length < RUNS) return false;
        for (const run of runs.slice(0, RUNS)) if (!(await finished(run))) return false;
        return true;
      }, 300_000, 1_000);
      // No more firings while the test reads what the runs left.
      await deleteBackups(client, instance);
      // Every run the schedule started, each to its end (one may have started just before the delete).
      const done = await Promise.all(
        (await listScheduledRuns(client, instance)).map(async (run) => ({ run, result: (await run.result()) as RunbookResult<ScheduledBackupDetails> })),
      );
      expect(done.length).toBeGreaterThanOrEqual(RUNS);

      const backups: ScheduledBackupDetails['export']['backup'][] = [];
      const deletedByAudit = new Map<string, string>();
      const scratch: string[] = [];
      for (const { run, result } of done) {
        expect(result.outcome, `${run.workflowId}: ${result.reason}`).toBe('succeeded');
        const details = result.details!;
        expect(details.export.workflowId).toBe(scheduledBackupChildId(run.workflowId, 'export'));
        expect(details.export.tables.reduce((sum, t) => sum + t.items, 0)).toBe(items);
        expect(details.retention).toEqual({ workflowId: scheduledBackupChildId(run.workflowId, 'retention'), outcome: 'succeeded' });
        expect(details.drill).toEqual({ workflowId: scheduledBackupChildId(run.workflowId, 'drill'), outcome: 'succeeded' });
        backups.push(details.export.backup);
        for (const child of ['export', 'retention', 'drill'] as const) {
          expect((await client.workflow.getHandle(scheduledBackupChildId(run.workflowId, child)).describe()).status.name, child).toBe('COMPLETED');
        }

        // The drill restored this run's backup, passed, and its scratch tables are named in its result.
        const drill = (await client.workflow.getHandle(details.drill!.workflowId).result()) as RunbookResult<BackupDrillDetails>;
        expect(drill.outcome, drill.reason).toBe('succeeded');
        expect(drill.details).toMatchObject({ passed: true, items, backup: { url: details.export.backup.url } });
        scratch.push(...drill.details!.tables.map((t) => t.scratchTable));

        // Retention's deletions, each in its audit record.
        const retention = (await client.workflow.getHandle(details.retention!.workflowId).result()) as RunbookResult<BackupRetentionDetails>;
        expect(retention.outcome, retention.reason).toBe('succeeded');
        const audit = await auditRecordAt(retention.auditLocation);
        expect(audit).toMatchObject({ runbook: 'backup-retention', outcome: 'succeeded' });
        for (const d of retention.details!.deleted) {
          expect(audit.changes.map((c) => c.object), `audit of ${details.retention!.workflowId}`).toContain(d.url);
          deletedByAudit.set(d.id, details.retention!.workflowId);
        }
      }

      // Newest first: the newest 2 verified are kept, every older one is gone from S3 and was deleted by an audited retention run.
      const newestFirst = [...backups].sort((a, b) => idOf(b).localeCompare(idOf(a)));
      const kept = newestFirst.slice(0, KEEP);
      const gone = newestFirst.slice(KEEP);
      expect(gone.length).toBeGreaterThan(0);
      for (const b of gone) {
        expect(await keysUnder(`${b.prefix}/`), `${idOf(b)} deleted`).toEqual([]);
        expect(deletedByAudit.has(idOf(b)), `${idOf(b)} in a retention audit`).toBe(true);
      }
      for (const b of kept) expect(await keysUnder(`${b.prefix}/`), `${idOf(b)} kept`).not.toEqual([]);

      // The catalog lists exactly the kept backups: verified, drill passed, not point-in-time (Scan).
      const catalog = await (await startBackupCatalog(client, taskQueue, instance)).result();
      expect(catalog.entries.map((e) => e.id)).toEqual(kept.map(idOf));
      for (const entry of catalog.entries) {
        expect(entry, entry.id).toMatchObject({ state: 'complete', verified: true, items, pointInTime: false, method: 'scan', consistency: 'not point-in-time (Scan)' });
        expect(entry.drill, entry.id).toMatchObject({ passed: true });
      }

      // The CLI shows the same: JSON, and the table's columns.
      const listed = await cliJson<BackupCatalog>(['-o', 'json', 'backups', 'list', instance], taskQueue);
      expect(listed.code, listed.stdout).toBe(0);
      expect(listed.json!.entries.map((e) => [e.id, e.verified, e.drill?.passed, e.pointInTime])).toEqual(kept.map((b) => [idOf(b), true, true, false]));
      const table = await cli(['backups', 'list', instance], taskQueue);
      expect(table.code, table.stdout).toBe(0);
      for (const b of kept) expect(table.stdout).toMatch(new RegExp(`${idOf(b)}\\s.*\\s${items}\\s.*\\syes\\s+passed \\S+\\s+no \\(Scan\\)`));

      // No scratch table of the drills remains, nor any drill table named for this instance.
      const tables = await allTableNames(dynamodb);
      expect(scratch.length).toBeGreaterThan(0);
      expect(tables.filter((t) => scratch.includes(t))).toEqual([]);
      expect(tables.filter((t) => t.startsWith('drill-') && t.includes(instance))).toEqual([]);
    });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('`runbook watch` and `runbook show` of a scheduled run skipped for a recovery print skipped with its reason and exit 0; of a cancelled run, exit 3', async () => {
    const instance = uniqueInstance('bk-skip');
    await seedForTest(instance, { sizes: { users: 4, matches: 1, feedback: 1 } });
    const before = await instanceItems(dynamodb, instance);

    await withWorker(async ({ client, taskQueue }) => {
      // A recovery holds the instance at its approval gate; a scheduled run triggered now yields to it.
      const recovery = await startDynamoDbRecovery(client, taskQueue, { instance, options: { requestedBy: bob, reason: 'holds the lock for the test' } });
      afterTest((c) => c.workflow.getHandle(destructiveWorkflowId(instance)).cancel());
      await awaitApprovalGate(recovery);
      afterTest((c) => deleteBackups(c, instance));
      await scheduleBackups(client, taskQueue, { instance, everyMs: 86_400_000, keep: KEEP, drill: true, requestedBy: bob }, keys.bob.privateKey);
      await client.schedule.getHandle(backupScheduleId(instance)).trigger();
      let run: WorkflowHandle | undefined;
      await until('the triggered run finished', async () => {
        run = (await runsOf(client, instance))[0];
        return run !== undefined && (await finished(run));
      }, 60_000, 500);
      const result = (await run!.result()) as RunbookResult<ScheduledBackupDetails>;
      expect(result.outcome).toBe('skipped');
      expect(result.reason).toMatch(/^skipped: the instance is held by dynamodb-recovery run /);

      const watched = await cli(['watch', run!.workflowId, '--interval', '200'], taskQueue);
      expect(watched.code, watched.stdout).toBe(EXIT.ok);
      expect(watched.stdout.trimEnd().split('\n').at(-1)).toBe(`${run!.workflowId}: skipped (${result.reason!.replace(/^skipped: /, '')})`);
      const watchedJson = await cli(['watch', run!.workflowId, '-o', 'json'], taskQueue);
      expect(watchedJson.code, watchedJson.stdout).toBe(EXIT.ok);
      expect(JSON.parse(watchedJson.stdout.trimEnd().split('\n').at(-1)!)).toMatchObject({ event: 'end', outcome: 'skipped', succeeded: true, reason: result.reason });
      const shown = await cli(['show', run!.workflowId], taskQueue);
      expect(shown.code, shown.stdout).toBe(EXIT.ok);
      expect(shown.stdout).toContain(`  outcome: skipped (${result.reason!.replace(/^skipped: /, '')})`);

      // A run that returned an outcome other than succeeded, planned or skipped exits 3 from both.
      await recovery.cancel();
      expect((await recovery.result()).outcome).toBe('cancelled');
      expect((await cli(['watch', recovery.workflowId], taskQueue)).code).toBe(EXIT.notSucceeded);
      const shownCancelled = await cli(['show', recovery.workflowId], taskQueue);
      expect(shownCancelled.code, shownCancelled.stdout).toBe(EXIT.notSucceeded);
      expect(shownCancelled.stdout).toContain('  outcome: cancelled');
    });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });
});

/** Every run of the instance's schedule (the schedule itself is deleted by then): by their workflow ID prefix. */
async function listScheduledRuns(client: Client, instance: string): Promise<WorkflowHandle[]> {
  const runs: { id: string; runId: string; start: number }[] = [];
  await until('the scheduled runs listed', async () => {
    runs.length = 0;
    for await (const wf of client.workflow.list({ query: `WorkflowType = "scheduledBackup" AND RunbookInstance = "${instance}"` })) {
      runs.push({ id: wf.workflowId, runId: wf.runId, start: wf.startTime.getTime() });
    }
    return runs.length >= RUNS;
  }, 30_000, 500);
  return runs.sort((a, b) => a.start - b.start).map((r) => client.workflow.getHandle(r.id, r.runId));
}
