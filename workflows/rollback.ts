/**
 * The guide's "Rollback to Previous Version": read the Application's history, set
 * spec.source.targetRevision to an earlier commit. Around those two commands, what a careful operator
 * does: plan, get approval, request the sync, wait for a sync that started after the change to
 * finish healthy, and revert if it does not.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { planRollback, plannedState, validateReason, validateRollbackTarget } from '../common/rollback';
import type { RollbackDetails, RollbackInput, RollbackPlan } from '../common/rollback';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const DEFAULT_ROLLOUT_TIMEOUT_MS = 10 * 60 * 1000;
const PINNED_FROM = 'vcp-runbooks.io/pinned-from';
const PINNED_BY = 'vcp-runbooks.io/pinned-by';

const inspectApplication = activity('inspectApplication', 'Read the Argo CD Application and its history');

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

export async function rollback(input: RollbackInput): Promise<RunbookResult<RollbackDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const target = validateInput(() => validateRollbackTarget(input.target));
  const reason = validateInput(() => validateReason(input.reason));
  const timeoutMs = input.rolloutTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS;
  const info = workflowInfo();

  const runbook = new Runbook({
    name: RUNBOOKS.rollback,
    title: 'Rollback',
    instance,
    options: { ...input.options, reason },
    destructive: true,
    startInput: input,
    steps: [
      { name: 'read-history', title: 'Read the Application and its history' },
      { name: 'approve', title: 'Approval' },
      { name: 'patch', title: 'Set the target revision (and request the sync)' },
      { name: 'wait', title: 'Wait for the sync: Synced, Healthy, Deployments available' },
      { name: 'revert', title: 'Revert to the original revision (only on failure)' },
    ],
  });

  return runbook.run(async () => {
    const app = await runbook.step('read-history', () => inspectApplication(instance));
    const plan: RollbackPlan = validateInput(() =>
      planRollback(app, target, { owned: input.acceptOwnedApplication, multiSource: input.acceptMultiSource }),
    );
    if (!runbook.dryRun && plan.refusals.length > 0) {
      throw ApplicationFailure.create({ type: 'RollbackRefused', message: plan.refusals.join(' '), nonRetryable: true, details: [plan] });
    }
    const planReadyAt = new Date().toISOString();
    runbook.note(`Rollback ${plan.application}: ${plan.from.syncedRevision?.slice(0, 12) ?? '?'} → ${plan.to.revision.slice(0, 12)}`);

    await runbook.step('approve', () => runbook.approve(plan));
    const approvedAt = new Date().toISOString();

    const requester = input.options.requestedBy.user;
    const changeId = `${info.workflowId}/${info.runId}/rollback`;
    const change = await runbook.step('patch', () =>
      whenNoOperation(plan.application, instance, timeoutMs, async () => {
        const live = await inspectApplication(instance);
        // Owners too: an Application adopted by an ApplicationSet or a parent app after the approval
        // would have its rollback undone by the parent, which is not what was approved.
        runbook.confirmUnchanged(`Application ${plan.application}`, { ...plan.planned, owners: app.owners }, { ...plannedState(live), owners: live.owners });
        const result = await activity('setDesiredRevision', `Set ${plan.application} to ${plan.to.revision.slice(0, 12)} and sync it`)({
          instance,
          changeId,
          expectedDesiredRevision: plan.from.desiredRevision,
          toRevision: plan.to.revision,
          requestSyncOf: plan.to.revision,
          prune: plan.sync.prune,
          initiatedBy: `vcp-runbooks:${requester}`,
          reason,
          approval: runbook.approvalEvidence(),
          // Remember what the pin replaced, so unpin can return to it (kept when already pinned).
          annotations: app.pinnedFrom ? { [PINNED_BY]: info.workflowId } : { [PINNED_FROM]: plan.from.desiredRevision, [PINNED_BY]: info.workflowId },
        });
        runbook.recordChange({
          object: `applications.argoproj.io/argocd/${plan.application}`,
          action: `set spec.source.targetRevision and request operation.sync${plan.sync.prune ? ' with prune' : ''}`,
          before: plan.from.desiredRevision,
          after: plan.to.revision,
        });
        return result;
      }),
    );

    let final;
    try {
      final = await runbook.step('wait', () =>
        pollRollout(timeoutMs, `Wait for ${plan.application} to sync ${plan.to.revision.slice(0, 12)}`)({
          instance,
          changeId: change.changeId,
          revision: plan.to.revision,
          prune: plan.sync.prune,
        }),
      );
    } catch (err) {
      const why = rolloutFailureReason(err, timeoutMs);
      await runbook.step('revert', () => revert(runbook, instance, plan, requester, reason, timeoutMs, why));
      throw ApplicationFailure.create({
        type: 'RollbackFailed',
        message: `rollback of ${plan.application} to ${plan.to.revision} failed (${why}); reverted to ${plan.from.desiredRevision} (${plan.from.syncedRevision ?? 'unknown'}), which is Synced and Healthy`,
        nonRetryable: true,
      });
    }
    runbook.skip('revert', 'not needed');
    return {
      application: plan.application,
      from: plan.from,
      to: plan.to.revision,
      timings: {
        planReadyAt,
        approvedAt,
        patchedAt: change.changedAt,
        syncedAt: final.lastOperation?.finishedAt ?? new Date().toISOString(),
        rolloutSeconds: Math.round((Date.now() - Date.parse(change.changedAt)) / 1000),
      },
      final: {
        syncStatus: final.syncStatus,
        health: final.health,
        syncedRevision: final.syncedRevision,
        ...(final.leftToPrune.length > 0 ? { leftToPrune: final.leftToPrune } : {}),
      },
    };
  });
}

/** Back to the recorded revision; if that fails too, say loudly what state is left behind. */
async function revert(
  runbook: Runbook<string>,
  instance: string,
  plan: RollbackPlan,
  requester: string,
  reason: string,
  timeoutMs: number,
  why: string,
): Promise<void> {
  const info = workflowInfo();
  const original = plan.from.syncedRevision;
  try {
    // The sync goes to what ran before (not the branch's head, which may have moved since the plan).
    const change = await whenNoOperation(plan.application, instance, timeoutMs, async () => {
      const result = await activity('setDesiredRevision', `Revert ${plan.application} to ${plan.from.desiredRevision}`)({
        instance,
        changeId: `${info.workflowId}/${info.runId}/revert`,
        expectedDesiredRevision: plan.to.revision,
        toRevision: plan.from.desiredRevision,
        requestSyncOf: original ?? plan.from.desiredRevision,
        prune: plan.sync.prune,
        initiatedBy: `vcp-runbooks:${requester}`,
        reason: `revert: ${why} (${reason})`,
        approval: runbook.approvalEvidence(),
        annotations: { [PINNED_FROM]: null, [PINNED_BY]: null },
      });
      runbook.recordChange({
        object: `applications.argoproj.io/argocd/${plan.application}`,
        action: 'revert spec.source.targetRevision and request operation.sync',
        before: plan.to.revision,
        after: plan.from.desiredRevision,
      });
      return result;
    });
    await pollRollout(timeoutMs, `Wait for ${plan.application} to sync back to ${original?.slice(0, 12) ?? plan.from.desiredRevision}`)({
      instance,
      changeId: change.changeId,
      revision: original,
      prune: plan.sync.prune,
    });
  } catch (err) {
    const revertWhy = rolloutFailureReason(err, timeoutMs);
    const left = await inspectApplication(instance).catch(() => undefined);
    const state = left
      ? `desired ${left.desiredRevision}, synced ${left.syncedRevision ?? '?'}, sync ${left.syncStatus}, health ${left.health}, last operation ${left.lastOperation?.phase ?? 'none'} at ${left.lastOperation?.revision ?? '?'}`
      : 'unknown (the Application could not be read)';
    throw ApplicationFailure.create({
      type: 'RevertFailed',
      message: `ROLLBACK FAILED AND THE REVERT FAILED: rollback of ${plan.application} to ${plan.to.revision} failed (${why}); reverting to ${plan.from.desiredRevision} failed too (${revertWhy}). State left behind: ${state}. Act now.`,
      nonRetryable: true,
      details: [left],
    });
  }
}
