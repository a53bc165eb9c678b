/**
 * The guide's "Regularly backup DynamoDB tables", as a standing service: a Temporal Schedule
 * (client/backup-schedules.ts) starts this run; it backs the instance up with the read-only export
 * (a child `dynamodbExport` run, which exports and verifies), then applies retention and a restore drill
 * when the schedule asks for them. Backups yield to incidents: a run holding the instance's destructive
 * lock (a recovery, an import) is never waited for; this run ends as skipped, naming it.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { ApplicationFailure, CancellationScope, ChildWorkflowFailure, executeChild, ParentClosePolicy, sleep, workflowInfo } from '@temporalio/workflow';
import {
  backupScheduleId,
  planScheduledBackup,
  scheduledBackupChildId,
  skipBeforeExport,
  verifyScheduleRequest,
  yieldAfterExport,
  yieldAfterExportFailure,
} from '../common/backup-schedule';
import type { InstanceLockState, ScheduledBackupDetails, ScheduledBackupInput, ScheduledBackupPlan } from '../common/backup-schedule';
import { RUNBOOKS } from '../common/definitions';
import type { DynamoDbExportDetails } from '../common/dynamodb-backup';
import { validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { StartRequestRefused } from '../common/start-request';
import type { AuthenticatedRequester } from '../common/start-request';
import { dynamodbExport } from './dynamodb-export';
import { failureReason } from './runbook/checks';
import { RunbookStopped } from './runbook/definition';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { approvalSettings, authenticateStart } from './runbook/start-checks';
import { validateInput } from './runbook/validation';

const STEPS = [
  { name: 'check-lock', title: 'Check that no run holds the instance' },
  { name: 'export', title: 'Export and verify the backup (child run dynamodbExport)' },
  { name: 'confirm-lock', title: 'Check that no run took the instance during the export' },
  { name: 'retention', title: 'Apply retention (child run backupRetention)' },
  { name: 'drill', title: 'Restore-drill the new backup (child run backupDrill)' },
] as const;
type Step = StepsOf<typeof STEPS>;

/** Set by Temporal on every run a Schedule starts: the schedule's ID. */
const SCHEDULED_BY_ID = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

/** While the export runs, how often the run asks whether an incident took the instance (and then cancels the export). */
const LOCK_WATCH_INTERVAL = '10 seconds';

interface ScheduledRun {
  runbook: Runbook<Step>;
  input: ScheduledBackupInput;
  instance: string;
  plan: ScheduledBackupPlan;
  workflowId: string;
}

type ExportOutcome = { backup: DynamoDbExportDetails; workflowId: string } | { yielded: string };

export async function scheduledBackup(input: ScheduledBackupInput): Promise<RunbookResult<ScheduledBackupDetails>> {
  const s = setup(input);
  return s.runbook.run(async () => {
    const since = new Date().toISOString();
    const before = await s.runbook.step('check-lock', () => lockState(s.instance));
    const skipped = skipBeforeExport(before);
    if (skipped) yieldTo(s, skipped, ['export', 'confirm-lock', 'retention', 'drill']);
    const exported = await s.runbook.step('export', () => exportBackup(s));
    if ('yielded' in exported) yieldTo(s, exported.yielded, ['export', 'confirm-lock', 'retention', 'drill']);
    const after = await s.runbook.step('confirm-lock', () => lockState(s.instance, since));
    const overlapped = yieldAfterExport(after, exported.backup.backup.url);
    if (overlapped) yieldTo(s, overlapped, ['retention', 'drill']);
    const details: ScheduledBackupDetails = {
      export: { workflowId: exported.workflowId, backup: exported.backup.backup, tables: exported.backup.tables },
    };
    details.retention = await applyRetention(s);
    details.drill = await drillBackup(s, exported.backup.backup.url);
    return details;
  });
}

function setup(input: ScheduledBackupInput): ScheduledRun {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const plan = validateInput(() => planScheduledBackup(input));
  const runbook: Runbook<Step> = new Runbook({
    name: RUNBOOKS.scheduledBackup,
    title: 'Scheduled backup',
    instance,
    options: input.options,
    destructive: false,
    startInput: input,
    steps: STEPS,
    authenticate: () => authenticateScheduled(instance, input),
  });
  return { runbook, input, instance, plan, workflowId: workflowInfo().workflowId };
}

/**
 * A run its schedule started verifies the schedule's signed request (signed by whoever scheduled it,
 * bound to `backups/<instance>`); a run started by hand, its signed start request like any other.
 */
async function authenticateScheduled(instance: string, input: ScheduledBackupInput): Promise<AuthenticatedRequester> {
  const scheduleId = workflowInfo().typedSearchAttributes.get(SCHEDULED_BY_ID);
  if (scheduleId === undefined) return authenticateStart(RUNBOOKS.scheduledBackup, input);
  const { keyring, policy } = await approvalSettings(RUNBOOKS.scheduledBackup, input.options.approvalPolicy);
  try {
    if (scheduleId !== backupScheduleId(instance)) throw new StartRequestRefused(`a backup of ${instance} was started by schedule ${scheduleId}, not ${backupScheduleId(instance)}`);
    if (input.options.requestedBy.signature === undefined && policy.allowUnsigned) return { user: input.options.requestedBy.user, authenticated: false };
    return verifyScheduleRequest(keyring, scheduleId, input);
  } catch (err) {
    if (err instanceof StartRequestRefused) throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
    throw err;
  }
}

function lockState(instance: string, since?: string): Promise<InstanceLockState> {
  return activity('instanceLockState', since ? 'Which runs took the instance since the export began' : 'Which run holds the instance')(instance, since);
}

/** Ends the run as skipped, not failed: the reason is its result's, its audit record's and the UI's. */
function yieldTo(s: ScheduledRun, reason: string, remaining: Step[]): never {
  for (const step of remaining) s.runbook.skip(step, 'yielded to the run holding the instance');
  s.runbook.note(reason);
  throw new RunbookStopped('skipped', reason);
}

/**
 * The export as a child run, watched: every LOCK_WATCH_INTERVAL the run asks whether a run took the
 * instance, and if one did, cancels the export at once, so an incident never shares the tables with a
 * backup scan. A failed export while the instance is held (a recovery deleted the tables) yielded too.
 */
async function exportBackup(s: ScheduledRun): Promise<ExportOutcome> {
  const workflowId = scheduledBackupChildId(s.workflowId, 'export');
  const scope = new CancellationScope();
  const child = scope.run(() =>
    executeChild(dynamodbExport, {
      workflowId,
      args: [{ instance: s.instance, ...(s.plan.method ? { method: s.plan.method } : {}), options: { requestedBy: s.input.options.requestedBy, reason: `scheduled backup ${s.workflowId}` } }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    }),
  );
  let holder: InstanceLockState | undefined;
  const watchScope = new CancellationScope();
  const watch = watchScope
    .run(async () => {
      for (;;) {
        await sleep(LOCK_WATCH_INTERVAL);
        const lock = await lockState(s.instance);
        if (lock.holder) {
          holder = lock;
          scope.cancel();
          return;
        }
      }
    })
    // Ends by cancellation when the export ends; a lock check that fails for good only stops the watch.
    .catch(() => undefined);
  try {
    const result = await child;
    if (result.outcome !== 'succeeded') throw ApplicationFailure.create({ type: 'ExportNotSucceeded', message: `the export ${workflowId} ended ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`, nonRetryable: true });
    s.runbook.note(`Backup: ${result.details!.backup.url} (verified by ${workflowId})`);
    return { backup: result.details!, workflowId };
  } catch (err) {
    const lock = holder ?? (await lockState(s.instance));
    const why = holder ? 'cancelled to make way for it' : failureReason(err instanceof ChildWorkflowFailure && err.cause ? err.cause : err);
    const yielded = yieldAfterExportFailure(lock, why);
    if (yielded) return { yielded };
    throw err;
  } finally {
    watchScope.cancel();
    await watch;
  }
}

/** Retention by count and age after the new backup is verified, as a child run `backupRetention`. */
async function applyRetention(s: ScheduledRun): Promise<ScheduledBackupDetails['retention']> {
  const retention = s.plan.retention;
  if (!retention) {
    s.runbook.skip('retention', 'no --keep or --keep-days');
    return undefined;
  }
  const workflowId = scheduledBackupChildId(s.workflowId, 'retention');
  return s.runbook.step('retention', async () => {
    const result = await executeChild<(input: unknown) => Promise<RunbookResult<unknown>>>('backupRetention', {
      workflowId,
      args: [{ instance: s.instance, ...retention, options: { requestedBy: s.input.options.requestedBy, reason: `retention after ${s.workflowId}` } }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    });
    if (result.outcome !== 'succeeded') throw ApplicationFailure.create({ type: 'RetentionNotSucceeded', message: `retention ${workflowId} ended ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`, nonRetryable: true });
    return { workflowId, outcome: result.outcome };
  });
}

/** A restore drill of the new backup, as a child run `backupDrill`; a failed drill fails this run, loudly. */
async function drillBackup(s: ScheduledRun, backup: string): Promise<ScheduledBackupDetails['drill']> {
  if (!s.plan.drill) {
    s.runbook.skip('drill', 'no --drill');
    return undefined;
  }
  const workflowId = scheduledBackupChildId(s.workflowId, 'drill');
  return s.runbook.step('drill', async () => {
    const result = await executeChild<(input: unknown) => Promise<RunbookResult<unknown>>>('backupDrill', {
      workflowId,
      args: [{ instance: s.instance, backup, options: { requestedBy: s.input.options.requestedBy, reason: `drill after ${s.workflowId}` } }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    });
    if (result.outcome !== 'succeeded') throw ApplicationFailure.create({ type: 'DrillNotSucceeded', message: `the drill ${workflowId} ended ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`, nonRetryable: true });
    return { workflowId, outcome: result.outcome };
  });
}
