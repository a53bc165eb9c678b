/**
 * Scheduled backups as Temporal Schedules: one per instance (`backups/<instance>`), whose action starts
 * `scheduledBackup` on the workers' task queue. Overlap SKIP (a backup still running when the next is
 * due makes that one skip, never queue), a catch-up window of one interval, and the RunbookName and
 * RunbookInstance search attributes on the schedule and on every run it starts, so `runbook list`, the
 * Temporal UI's Schedules page and `temporal schedule list` show them. Scheduling again updates.
 */
import type { ExportMethod } from '../common/dynamodb-export-method';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Client, ScheduleDescription, ScheduleHandle, ScheduleOptionsAction } from '@temporalio/client';
import {
  backupScheduleId,
  catchupWindowMs,
  formatEvery,
  instanceOfBackupSchedule,
  planScheduledBackup,
  scheduledBackupWorkflowIdPrefix,
  signScheduleRequest,
} from '../common/backup-schedule';
import type { ScheduledBackupInput } from '../common/backup-schedule';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import type { Requester } from '../common/start-request';
import { scheduledBackupWorkflow } from '../common/workflows';

export class BackupScheduleNotFound extends Error {
  override readonly name = 'BackupScheduleNotFound';
  constructor(readonly instance: string, options?: { cause?: unknown }) {
    super(`no backup schedule for ${instance} (schedule ${backupScheduleId(instance)}): create one with \`runbook backups schedule ${instance} --every 6h\``, options);
  }
}

export interface BackupScheduleRequest {
  instance: string;
  everyMs: number;
  keep?: number;
  keepDays?: number;
  drill?: boolean;
  method?: ExportMethod;
  requestedBy: Requester;
}

/** A backup schedule as `runbook backups schedules` shows it. */
export interface BackupScheduleView {
  instance: string;
  scheduleId: string;
  every: string;
  paused: boolean;
  note?: string;
  keep?: number;
  keepDays?: number;
  drill: boolean;
  /** The backups' export method (scan when the schedule names none). */
  method: ExportMethod;
  catchupWindow: string;
  scheduledBy?: string;
  nextRuns: string[];
  /** The newest run the schedule started, and how it ended (skipped runs say why). */
  lastRun?: { workflowId: string; scheduledAt: string; status: string; outcome?: string; reason?: string };
  runsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
}

function action(taskQueue: string, input: ScheduledBackupInput): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: scheduledBackupWorkflow.workflowType,
    // Temporal appends `-<scheduled time>` to this for each run.
    workflowId: scheduledBackupWorkflowIdPrefix(input.instance),
    taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: scheduledBackupWorkflow.runbook },
      { key: RUNBOOK_INSTANCE, value: input.instance },
    ],
    staticSummary: scheduledBackupWorkflow.summary(input),
  };
}

/**
 * Creates the instance's schedule, or updates it when it exists (interval, retention, drill, who
 * scheduled it); an update keeps its paused state. The action's input is signed by the requester's key
 * (common/backup-schedule.ts): its runs verify that signature, not a start request.
 */
export async function scheduleBackups(
  client: Client,
  taskQueue: string,
  request: BackupScheduleRequest,
  signingKey: Uint8Array | undefined,
): Promise<{ scheduleId: string; created: boolean }> {
  const instance = validateInstanceName(request.instance);
  planScheduledBackup(request);
  const scheduleId = backupScheduleId(instance);
  const unsigned: ScheduledBackupInput = {
    instance,
    ...(request.keep !== undefined ? { keep: request.keep } : {}),
    ...(request.keepDays !== undefined ? { keepDays: request.keepDays } : {}),
    ...(request.drill ? { drill: true } : {}),
    ...(request.method !== undefined ? { method: request.method } : {}),
    options: { requestedBy: { ...request.requestedBy, via: 'schedule' }, reason: `backups every ${formatEvery(request.everyMs)}` },
  };
  const input = signingKey ? signScheduleRequest(scheduleId, unsigned, signingKey) : unsigned;
  const spec = { intervals: [{ every: request.everyMs }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupWindowMs(request.everyMs), pauseOnFailure: false };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action: action(taskQueue, input),
      policies,
      state: { note: `scheduled by ${request.requestedBy.user}` },
      memo: { scheduledBy: request.requestedBy.user },
      typedSearchAttributes: [
        { key: RUNBOOK_NAME, value: scheduledBackupWorkflow.runbook },
        { key: RUNBOOK_INSTANCE, value: instance },
      ],
    });
    return { scheduleId, created: true };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action: action(taskQueue, input), policies }));
  return { scheduleId, created: false };
}

async function existing<T>(client: Client, instance: string, fn: (handle: ScheduleHandle) => Promise<T>): Promise<T> {
  const handle = client.schedule.getHandle(backupScheduleId(validateInstanceName(instance)));
  try {
    return await fn(handle);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new BackupScheduleNotFound(instance, { cause: err });
    throw err;
  }
}

export function pauseBackups(client: Client, instance: string, note: string): Promise<void> {
  return existing(client, instance, (h) => h.pause(note));
}

export function resumeBackups(client: Client, instance: string, note: string): Promise<void> {
  return existing(client, instance, (h) => h.unpause(note));
}

/** Deletes the schedule; its runs so far, and their backups, stay. */
export function deleteBackups(client: Client, instance: string): Promise<void> {
  return existing(client, instance, (h) => h.delete());
}

export function describeBackupSchedule(client: Client, instance: string): Promise<BackupScheduleView> {
  return existing(client, instance, async (h) => view(client, await h.describe()));
}

/** Every backup schedule of the namespace, by instance. */
export async function listBackupSchedules(client: Client): Promise<BackupScheduleView[]> {
  const views: BackupScheduleView[] = [];
  for await (const summary of client.schedule.list()) {
    const instance = instanceOfBackupSchedule(summary.scheduleId);
    if (instance === undefined) continue;
    try {
      views.push(await describeBackupSchedule(client, instance));
    } catch (err) {
      // Deleted between the list and the describe.
      if (!(err instanceof BackupScheduleNotFound)) throw err;
    }
  }
  return views.sort((a, b) => a.instance.localeCompare(b.instance));
}

async function view(client: Client, d: ScheduleDescription): Promise<BackupScheduleView> {
  const instance = instanceOfBackupSchedule(d.scheduleId)!;
  const input = (d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined) as ScheduledBackupInput | undefined;
  const every = d.spec.intervals?.[0]?.every;
  const last = d.info.recentActions.at(-1);
  return {
    instance,
    scheduleId: d.scheduleId,
    every: typeof every === 'number' ? formatEvery(every) : String(every ?? '?'),
    paused: d.state.paused,
    note: d.state.note,
    keep: input?.keep,
    keepDays: input?.keepDays,
    drill: input?.drill === true,
    method: input?.method ?? 'scan',
    catchupWindow: formatEvery(d.policies.catchupWindow),
    scheduledBy: input?.options.requestedBy.user,
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    lastRun: last ? await lastRun(client, last.action.workflow.workflowId, last.action.workflow.firstExecutionRunId, last.scheduledAt) : undefined,
    runsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
  };
}

async function lastRun(client: Client, workflowId: string, runId: string, scheduledAt: Date): Promise<NonNullable<BackupScheduleView['lastRun']>> {
  const handle = client.workflow.getHandle<(i: ScheduledBackupInput) => Promise<RunbookResult<unknown>>>(workflowId, runId);
  const run = { workflowId, scheduledAt: scheduledAt.toISOString() };
  try {
    const d = await handle.describe();
    if (d.status.name !== 'COMPLETED') return { ...run, status: d.status.name };
    const result = await handle.result();
    return { ...run, status: d.status.name, outcome: result.outcome, ...(result.reason ? { reason: result.reason } : {}) };
  } catch (err) {
    // Past the namespace's retention: the run is gone, its audit record stays in S3.
    return { ...run, status: `unknown (${err instanceof Error ? err.message : String(err)})` };
  }
}
