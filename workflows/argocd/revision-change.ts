/**
 * The Argo CD steps rollback and unpin share: request a change of the Application's revision with a
 * sync of the runbook's own once no operation is in progress, and wait for that sync to finish
 * Synced and Healthy (activities/kubernetes/argocd.ts reads, common/argocd.ts judges).
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RevisionChange } from '../../common/rollback';
import { activity } from '../runbook/runbook';
import type { Runbook } from '../runbook/runbook';

/** Polling is the retry policy: each attempt checks once; "not yet" is retried every 2 s until the deadline. */
export function pollRollout(timeoutMs: number, summary: string): Activities['checkRollout'] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 1,
      maximumInterval: '2 seconds',
      nonRetryableErrorTypes: ['SyncFailed', 'SyncLost', 'Degraded', 'ApplicationNotFoundError'],
    },
  }).checkRollout;
}

function pollNoOperation(timeoutMs: number, summary: string): Activities['checkNoOperation'] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 1, maximumInterval: '2 seconds', nonRetryableErrorTypes: ['ApplicationNotFoundError'] },
  }).checkNoOperation;
}

/** What a timed-out poll last saw (its heartbeat), for the report. */
function lastSeen(err: TimeoutFailure): string {
  const details = err.lastHeartbeatDetails as { waitingFor?: string; lastOperation?: { message?: string } } | undefined;
  return details?.waitingFor ?? details?.lastOperation?.message ?? '';
}

/** Why a wait ended without success, in words for the report. */
export function rolloutFailureReason(err: unknown, timeoutMs: number): string {
  if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
    const seen = lastSeen(err.cause);
    return `the rollout did not finish within ${Math.round(timeoutMs / 1000)}s${seen ? ` (last: ${seen})` : ''}`;
  }
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Requests a change once no operation is in progress: Argo CD drops a sync requested while another
 * runs, so a running one (a failing sync that retries included) is waited out, up to `timeoutMs`, and
 * the change is refused if it does not end. `change` re-checks the plan and patches; should an
 * operation start between the wait and the patch, the wait starts over.
 */
export async function whenNoOperation<T>(application: string, instance: string, timeoutMs: number, change: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      await pollNoOperation(timeoutMs, `Wait until ${application} has no operation in progress`)(instance);
    } catch (err) {
      const still = err instanceof ActivityFailure && err.cause instanceof TimeoutFailure ? lastSeen(err.cause) : rolloutFailureReason(err, timeoutMs);
      throw ApplicationFailure.create({
        type: 'OperationInProgress',
        message: `${application} still has an operation in progress after ${Math.round(timeoutMs / 1000)}s (${still}); nothing was changed, as a sync requested now would be dropped`,
        nonRetryable: true,
      });
    }
    try {
      return await change();
    } catch (err) {
      const raced = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'OperationInProgress';
      if (!raced || attempt >= 3) throw err;
    }
  }
}

/** Sets the revision and requests the sync (the activity checks the approval), and records it for the audit. */
export async function requestRevision(
  runbook: Runbook<string>,
  application: string,
  change: RevisionChange,
  summary: string,
  audit: { action: string; before: string },
): Promise<Awaited<ReturnType<Activities['setDesiredRevision']>>> {
  const result = await activity('setDesiredRevision', summary)({ ...change, approval: runbook.approvalEvidence() });
  runbook.recordChange({ object: `applications.argoproj.io/argocd/${application}`, action: audit.action, before: audit.before, after: change.toRevision });
  return result;
}
