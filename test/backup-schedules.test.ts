/**
 * Scheduled backups on the real stack: Temporal Schedules on the dev server start `scheduledBackup` on
 * the test's own worker; each run exports every table of a seeded instance (dynalite) to moto S3 as a
 * verified backup. Pause stops the firings, resume restarts them, delete removes the schedule; a run
 * that finds a recovery holding the instance is skipped, naming it, and writes no backup. Every table
 * of the instance is left as it was, item by item.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDynamoDbBackupActivities } from '../activities/aws/dynamodb-backup';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { BackupScheduleNotFound, deleteBackups, describeBackupSchedule, listBackupSchedules, pauseBackups, resumeBackups, scheduleBackups } from '../client/backup-schedules';
import { startDynamoDbRecovery } from '../client/runbooks';
import { backupScheduleId, scheduledBackupChildId } from '../common/backup-schedule';
import type { ScheduledBackupDetails } from '../common/backup-schedule';
import { parseS3Url, verificationKey } from '../common/dynamodb-backup';
import type { AuditRecord, RunbookResult } from '../common/runbook';
import { destructiveWorkflowId } from '../common/workflows';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { generateApproverKey } from '../common/approval';
import { awaitApprovalGate, keys } from '../test-support/approvers';
import { messages } from '../test-support/recovery';
import { instanceItems } from '../test-support/dynamodb';
import { startDynamoDbFaultProxy } from '../test-support/dynamodb-fault-proxy';
import { expectSameItems } from '../test-support/recovery-run';
import { until } from '../test-support/runs';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const bob = { user: 'bob', via: 'test' as const };
const EVERY_MS = 10_000;

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

type ScheduledResult = RunbookResult<ScheduledBackupDetails>;

/** After the test, whatever happened (the test's worker and client are gone by then: a client of its own). */
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

/** The schedule is deleted when the test ends, whatever happened. */
async function schedule(client: Client, taskQueue: string, instance: string, everyMs = EVERY_MS): Promise<{ created: boolean }> {
  afterTest((c) => deleteBackups(c, instance));
  return scheduleBackups(client, taskQueue, { instance, everyMs, requestedBy: bob }, keys.bob.privateKey);
}

/** The runs the schedule started so far, oldest first. */
async function runsOf(client: Client, instance: string): Promise<WorkflowHandle[]> {
  const described = await client.schedule.getHandle(backupScheduleId(instance)).describe();
  return described.info.recentActions.map((a) => client.workflow.getHandle(a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId));
}

async function finished(handle: WorkflowHandle): Promise<boolean> {
  return (await handle.describe()).status.name !== 'RUNNING';
}

async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

async function auditRecordAt(location: string | undefined): Promise<AuditRecord> {
  const { bucket, key } = parseS3Url(location ?? '');
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await object.Body!.transformToString()) as AuditRecord;
}

async function backupsOf(instance: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: `dynamodb-backups/${instance}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

describe('scheduled backups (Temporal Schedules)', { timeout: 300_000 }, () => {
  it('a schedule every 10 s makes verified backups; scheduling again updates it; pause stops firings, resume restarts them, delete removes it; tables unchanged', async () => {
    const instance = uniqueInstance('sched');
    await seedForTest(instance, { sizes: { users: 8, matches: 3, feedback: 2 } });
    const before = await instanceItems(dynamodb, instance);
    const tables = Object.keys(before).map((base) => `${base}-${instance}`);

    await withWorker(async ({ client, taskQueue }) => {
      expect(await schedule(client, taskQueue, instance)).toMatchObject({ created: true });
      // Two firings, both finished.
      await until('two scheduled runs finished', async () => {
        const runs = await runsOf(client, instance);
        return runs.length >= 2 && (await finished(runs[0]!)) && (await finished(runs[1]!));
      }, 60_000, 500);
      const runs = (await runsOf(client, instance)).slice(0, 2);
      for (const run of runs) {
        expect(run.workflowId).toMatch(new RegExp(`^scheduled-backup/${instance}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
        const result = (await run.result()) as ScheduledResult;
        expect(result.outcome, result.reason).toBe('succeeded');
        // Authenticated by the schedule's signature (bob's key), not a start request.
        expect(result.audit.requester).toMatchObject({ user: 'bob', authenticated: true });
        const { backup, tables: exported, workflowId } = result.details!.export;
        expect(workflowId).toBe(scheduledBackupChildId(run.workflowId, 'export'));
        expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('COMPLETED');
        expect(exported.map((t) => [t.tableName, t.items]).sort()).toEqual(tables.map((t) => [t, before[t.slice(0, t.indexOf('-'))]!.size]).sort());
        // The manifest and a verification record per table exist in S3.
        expect(await objectExists(backup.bucket, backup.manifestKey)).toBe(true);
        for (const table of tables) expect(await objectExists(backup.bucket, verificationKey(backup.manifestKey, table)), table).toBe(true);
        expect(result.details!.retention).toBeUndefined();
        expect(result.details!.drill).toBeUndefined();
      }
      // The runs carry the runbook search attributes: `runbook list --runbook scheduled-backup --instance` finds them.
      await until('the runs listed by RunbookName and RunbookInstance', async () => {
        const listed: string[] = [];
        for await (const wf of client.workflow.list({ query: `RunbookName = "scheduled-backup" AND RunbookInstance = "${instance}"` })) listed.push(wf.workflowId);
        return runs.every((r) => listed.includes(r.workflowId));
      }, 20_000, 500);

      // Scheduling again updates the one schedule.
      expect(await schedule(client, taskQueue, instance, 12_000)).toMatchObject({ created: false });
      const updated = await describeBackupSchedule(client, instance);
      expect(updated).toMatchObject({ every: '12s', catchupWindow: '12s', paused: false, scheduledBy: 'bob' });
      expect((await listBackupSchedules(client)).filter((s) => s.instance === instance)).toHaveLength(1);

      // Paused: no new run within two intervals.
      await pauseBackups(client, instance, 'paused by bob: maintenance');
      const paused = await describeBackupSchedule(client, instance);
      expect(paused).toMatchObject({ paused: true, note: 'paused by bob: maintenance' });
      const taken = paused.runsTaken;
      await new Promise((resolve) => setTimeout(resolve, 2 * 12_000 + 2_000));
      expect((await describeBackupSchedule(client, instance)).runsTaken).toBe(taken);

      // Resumed: it fires again.
      await resumeBackups(client, instance, 'resumed by bob');
      await until('a run after the resume', async () => (await describeBackupSchedule(client, instance)).runsTaken > taken, 30_000, 500);
      const view = await describeBackupSchedule(client, instance);
      expect(view.paused).toBe(false);
      expect(view.nextRuns.length).toBeGreaterThan(0);
      const last = (await runsOf(client, instance)).at(-1)!;
      await until('the run after the resume finished', () => finished(last), 60_000, 500);
      expect(((await last.result()) as ScheduledResult).outcome).toBe('succeeded');

      // Deleted: gone, and a missing schedule is its own error.
      await deleteBackups(client, instance);
      await expect(describeBackupSchedule(client, instance)).rejects.toThrow(BackupScheduleNotFound);
      await expect(pauseBackups(client, instance, 'x')).rejects.toThrow(BackupScheduleNotFound);
      await expect(deleteBackups(client, instance)).rejects.toThrow(/no backup schedule for/);
    });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a scheduled run while a recovery holds the instance is skipped, naming the recovery in its result, audit record and UI details; no backup is written', async () => {
    const instance = uniqueInstance('sched-busy');
    await seedForTest(instance, { sizes: { users: 6, matches: 2, feedback: 1 } });
    const before = await instanceItems(dynamodb, instance);

    await withWorker(async ({ client, taskQueue }) => {
      // A real recovery under the instance's lock, waiting at its approval gate (it has changed nothing yet).
      const recovery = await startDynamoDbRecovery(client, taskQueue, { instance, options: { requestedBy: bob, reason: 'holds the lock for the test' } });
      afterTest((c) => c.workflow.getHandle(destructiveWorkflowId(instance)).cancel());
      await awaitApprovalGate(recovery);
      const holderRunId = (await recovery.describe()).runId;

      // A daily schedule, triggered now.
      await schedule(client, taskQueue, instance, 86_400_000);
      await client.schedule.getHandle(backupScheduleId(instance)).trigger();
      await until('the triggered run finished', async () => {
        const runs = await runsOf(client, instance);
        return runs.length === 1 && (await finished(runs[0]!));
      }, 60_000, 500);
      const run = (await runsOf(client, instance))[0]!;
      const result = (await run.result()) as ScheduledResult;

      const reason = new RegExp(`^skipped: the instance is held by dynamodb-recovery run destructive/${instance} \\(run ${holderRunId}`);
      expect(result.outcome).toBe('skipped');
      expect(result.reason).toMatch(reason);
      expect(result.audit).toMatchObject({ outcome: 'skipped', outcomeReason: result.reason });
      expect(await auditRecordAt(result.auditLocation)).toMatchObject({ runbook: 'scheduled-backup', outcome: 'skipped', outcomeReason: result.reason });
      const metadata = await run.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toContain('**Skipped**');
      expect(metadata.currentDetails).toContain(result.reason);
      // No export started and no backup written.
      await expect(client.workflow.getHandle(scheduledBackupChildId(run.workflowId, 'export')).describe()).rejects.toThrow(WorkflowNotFoundError);
      expect(await backupsOf(instance)).toEqual([]);
      // The schedule's view shows the skip and why.
      expect((await describeBackupSchedule(client, instance)).lastRun).toMatchObject({ outcome: 'skipped', reason: result.reason });

      await recovery.cancel();
      expect((await recovery.result()).outcome).toBe('cancelled');
    });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });
  it('a recovery that takes the instance during a scheduled export is not delayed: the export is cancelled and the run ends as yielded, with no backup', async () => {
    const instance = uniqueInstance('sched-yield');
    await seedForTest(instance, { sizes: { users: 6, matches: 2, feedback: 1 } });
    const before = await instanceItems(dynamodb, instance);
    // The backup's worker reads DynamoDB through a proxy that makes each Scan take seconds, so the export is still running when the recovery starts.
    const slow = await startDynamoDbFaultProxy({ target: process.env.AWS_ENDPOINT_URL_DYNAMODB!, delayMs: 5_000, operations: ['Scan'] });
    const slowDynamoDb = new DynamoDBClient({ region: config.aws.region, endpoint: slow.url });
    onTestFinished(async () => {
      slowDynamoDb.destroy();
      await slow.close();
    });

    await withWorker(async ({ client, taskQueue }) => {
      await schedule(client, taskQueue, instance, 86_400_000);
      await client.schedule.getHandle(backupScheduleId(instance)).trigger();
      let run: WorkflowHandle | undefined;
      await until('the scheduled export under way', async () => {
        run = (await runsOf(client, instance))[0];
        return run !== undefined && (await client.workflow.getHandle(scheduledBackupChildId(run.workflowId, 'export')).describe()).status.name === 'RUNNING';
      }, 30_000, 200);

      // The recovery runs on a worker of its own, at full speed: it reaches its approval gate while the export still scans.
      const { reason, holderRunId } = await withWorker(async (other) => {
        const recovery = await startDynamoDbRecovery(other.client, other.taskQueue, { instance, options: { requestedBy: bob, reason: 'takes the instance mid-backup' } });
        afterTest((c) => c.workflow.getHandle(destructiveWorkflowId(instance)).cancel());
        await awaitApprovalGate(recovery);
        const holderRunId = (await recovery.describe()).runId;
        const result = (await run!.result()) as ScheduledResult;
        expect(result.outcome, result.reason).toBe('skipped');
        await recovery.cancel();
        expect((await recovery.result()).outcome).toBe('cancelled');
        return { reason: result.reason, holderRunId };
      });
      expect(reason).toMatch(new RegExp(`^yielded: dynamodb-recovery run destructive/${instance} \\(run ${holderRunId}.*took the instance during the export, which then failed \\(cancelled to make way for it\\); no backup was made`));
      const exportRun = await client.workflow.getHandle(scheduledBackupChildId(run!.workflowId, 'export')).describe();
      expect(exportRun.status.name).toBe('COMPLETED');
      expect(((await client.workflow.getHandle(exportRun.workflowId).result()) as RunbookResult<unknown>).outcome).toBe('cancelled');
      expect((await backupsOf(instance)).filter((k) => k.endsWith('manifest.json'))).toEqual([]);
    }, { overrides: { dynamodb: slowDynamoDb } });
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });
  it('a schedule whose request is unsigned, or signed by a key not on the keyring, starts runs that refuse before reading anything', async () => {
    const instance = uniqueInstance('sched-unsigned');
    await withWorker(async ({ client, taskQueue }) => {
      const outcomes: string[] = [];
      for (const key of [undefined, generateApproverKey().privateKey]) {
        afterTest((c) => deleteBackups(c, instance));
        await scheduleBackups(client, taskQueue, { instance, everyMs: 86_400_000, requestedBy: bob }, key);
        await client.schedule.getHandle(backupScheduleId(instance)).trigger();
        let run: WorkflowHandle | undefined;
        await until('the triggered run finished', async () => {
          run = (await runsOf(client, instance)).at(-1);
          return run !== undefined && (await finished(run));
        }, 30_000, 300);
        outcomes.push(messages(await run!.result().catch((err: unknown) => err)));
        expect(await runsOf(client, instance)).toHaveLength(1);
        await deleteBackups(client, instance);
      }
      expect(outcomes[0]).toMatch(new RegExp(`schedule backups/${instance} carries no signed request`));
      expect(outcomes[1]).toMatch(new RegExp(`schedule backups/${instance}'s request does not verify against bob's key`));
      expect(await backupsOf(instance)).toEqual([]);
    });
  });
  it("a cancelled export segment (a backup yielding) stops at its next page and frees the worker's segment slot, so a recovery's segment waiting behind it starts at once", async () => {
    const instance = uniqueInstance('sched-slot');
    await seedForTest(instance, { sizes: { users: 60, matches: 4, feedback: 1 } });
    const slow = await startDynamoDbFaultProxy({ target: process.env.AWS_ENDPOINT_URL_DYNAMODB!, delayMs: 1_000, operations: ['Scan'] });
    const slowDynamoDb = new DynamoDBClient({ region: config.aws.region, endpoint: slow.url });
    onTestFinished(async () => {
      slowDynamoDb.destroy();
      await slow.close();
    });
    // One segment slot on this worker: the backup's segment holds it, the recovery's waits for it.
    const activities = createDynamoDbBackupActivities({ dynamodb: slowDynamoDb, s3, backupBucket: config.aws.backupBucket, maxConcurrentSegments: 1 });
    const prefix = (who: string) => `dynamodb-backups/${instance}/${who}`;
    const backupEnv = new MockActivityEnvironment();
    const recoveryEnv = new MockActivityEnvironment();
    const started = Date.now();
    // 60 items, 5 a page: 12 pages of a second each.
    const backup = backupEnv.run(() => activities.exportTableSegment({ tableName: `users-${instance}`, segment: 0, totalSegments: 1, prefix: prefix('backup'), chunkMaxItems: 5 }));
    const backupEnded = backup.then(() => Date.now() - started, (err: unknown) => ({ err, at: Date.now() - started }));
    const recovery = recoveryEnv.run(() => activities.exportTableSegment({ tableName: `matches-${instance}`, segment: 0, totalSegments: 1, prefix: prefix('recovery') }));
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    backupEnv.cancel();
    const ended = await backupEnded;
    const recovered = (await recovery) as { items: number };
    const recoveryDone = Date.now() - started;

    expect(ended).toMatchObject({ err: expect.objectContaining({ name: 'CancelledFailure' }) as unknown });
    expect(recovered.items).toBe(4);
    // The backup stopped at its next page instead of reading the rest: its pages before the cancel, at most one
    // more, and the recovery's one or two, against 13 for the backup alone had it read on.
    expect(slow.stats.forwarded).toBeLessThan(9);
    expect((ended as { at: number }).at).toBeLessThan(recoveryDone);
  });
});
