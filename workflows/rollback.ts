/**
 * The guide's "Rollback to Previous Version": read the Application's history, set
 * spec.source.targetRevision to an earlier commit. Around those two commands, what a careful operator
 * does: plan, get approval, request the sync, wait for a sync that started after the change to
 * finish healthy, and revert if it does not.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { planRollback, plannedState, validateReason, validateRollbackTarget } from '../common/rollback';
import type { ApplicationSnapshot, RollbackDetails, RollbackInput, RollbackPlan, RolloutState } from '../common/rollback';
import { revertChange, rollbackChange } from '../common/rollback-plan';
import type { ChangeRun } from '../common/rollback-plan';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { pollRollout, requestRevision, rolloutFailureReason, whenNoOperation } from './argocd/revision-change';

const DEFAULT_ROLLOUT_TIMEOUT_MS = 10 * 60 * 1000;

const ROLLBACK_STEPS = [
  { name: 'read-history', title: 'Read the Application and its history' },
  { name: 'approve', title: 'Approval' },
  { name: 'patch', title: 'Set the target revision (and request the sync)' },
  { name: 'wait', title: 'Wait for the sync: Synced, Healthy, Deployments available' },
  { name: 'revert', title: 'Revert to the original revision (only on failure)' },
] as const;

/** One rollback run, as its steps share it. */
interface Rollback {
  runbook: Runbook<StepsOf<typeof ROLLBACK_STEPS>>;
  input: RollbackInput;
  target: string;
  timeoutMs: number;
  /** Who asks, for which run: each change carries it. */
  run: ChangeRun;
  timings: { planReadyAt?: string; approvedAt?: string };
}

const inspectApplication = activity('inspectApplication', 'Read the Argo CD Application and its history');

export async function rollback(input: RollbackInput): Promise<RunbookResult<RollbackDetails>> {
  const r = setup(input);
  return r.runbook.run(async () => {
    const { app, plan } = await readHistory(r);
    await approve(r, plan);
    const change = await setTargetRevision(r, app, plan);
    const final = await waitForSyncOrRevert(r, plan, change.changeId);
    return report(r, plan, change.changedAt, final);
  });
}

function setup(input: RollbackInput): Rollback {
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
    steps: ROLLBACK_STEPS,
  });
  const run = { instance, workflowId: info.workflowId, runId: info.runId, requester: input.options.requestedBy.user, reason };
  return { runbook, input, target, timeoutMs, run, timings: {} };
}

/** 1. The guide's `kubectl get application ... -o jsonpath='{.status.history}'`, planned into a target. */
async function readHistory(r: Rollback): Promise<{ app: ApplicationSnapshot; plan: RollbackPlan }> {
  const { runbook, input } = r;
  const app = await runbook.step('read-history', () => inspectApplication(r.run.instance));
  const plan = validateInput(() => planRollback(app, r.target, { owned: input.acceptOwnedApplication, multiSource: input.acceptMultiSource }));
  if (!runbook.dryRun && plan.refusals.length > 0) {
    throw ApplicationFailure.create({ type: 'RollbackRefused', message: plan.refusals.join(' '), nonRetryable: true, details: [plan] });
  }
  r.timings.planReadyAt = new Date().toISOString();
  runbook.note(`Rollback ${plan.application}: ${plan.from.syncedRevision?.slice(0, 12) ?? '?'} → ${plan.to.revision.slice(0, 12)}`);
  return { app, plan };
}

/** 2. Approval of the plan (a dry run ends here with it). */
async function approve(r: Rollback, plan: RollbackPlan): Promise<void> {
  await r.runbook.step('approve', () => r.runbook.approve(plan));
  r.timings.approvedAt = new Date().toISOString();
}

/** 3. The guide's `kubectl patch ... targetRevision`, with the runbook's own sync, once nothing else is syncing. */
function setTargetRevision(r: Rollback, app: ApplicationSnapshot, plan: RollbackPlan) {
  const { runbook, run } = r;
  return runbook.step('patch', () =>
    whenNoOperation(plan.application, run.instance, r.timeoutMs, async () => {
      const live = await inspectApplication(run.instance);
      // Owners too: an Application adopted by an ApplicationSet or a parent app after the approval
      // would have its rollback undone by the parent, which is not what was approved.
      runbook.confirmUnchanged(`Application ${plan.application}`, { ...plan.planned, owners: app.owners }, { ...plannedState(live), owners: live.owners });
      return requestRevision(runbook, plan.application, rollbackChange(plan, run, Boolean(app.pinnedFrom)), `Set ${plan.application} to ${plan.to.revision.slice(0, 12)} and sync it`, {
        action: `set spec.source.targetRevision and request operation.sync${plan.sync.prune ? ' with prune' : ''}`,
        before: plan.from.desiredRevision,
      });
    }),
  );
}

/** 4. Wait for this change's sync to be Synced and Healthy; otherwise 5. revert, and fail saying why. */
async function waitForSyncOrRevert(r: Rollback, plan: RollbackPlan, changeId: string): Promise<RolloutState> {
  const { runbook, timeoutMs } = r;
  try {
    const final = await runbook.step('wait', () =>
      pollRollout(timeoutMs, `Wait for ${plan.application} to sync ${plan.to.revision.slice(0, 12)}`)({ instance: r.run.instance, changeId, revision: plan.to.revision, prune: plan.sync.prune }),
    );
    runbook.skip('revert', 'not needed');
    return final;
  } catch (err) {
    const why = rolloutFailureReason(err, timeoutMs);
    await runbook.step('revert', () => revert(r, plan, why));
    throw ApplicationFailure.create({
      type: 'RollbackFailed',
      message: `rollback of ${plan.application} to ${plan.to.revision} failed (${why}); reverted to ${plan.from.desiredRevision} (${plan.from.syncedRevision ?? 'unknown'}), which is Synced and Healthy`,
      nonRetryable: true,
    });
  }
}

/** Back to the recorded revision; if that fails too, say loudly what state is left behind. */
async function revert(r: Rollback, plan: RollbackPlan, why: string): Promise<void> {
  const { runbook, run, timeoutMs } = r;
  const original = plan.from.syncedRevision;
  try {
    const change = await whenNoOperation(plan.application, run.instance, timeoutMs, () =>
      requestRevision(runbook, plan.application, revertChange(plan, run, why), `Revert ${plan.application} to ${plan.from.desiredRevision}`, {
        action: 'revert spec.source.targetRevision and request operation.sync',
        before: plan.to.revision,
      }),
    );
    await pollRollout(timeoutMs, `Wait for ${plan.application} to sync back to ${original?.slice(0, 12) ?? plan.from.desiredRevision}`)({
      instance: run.instance,
      changeId: change.changeId,
      revision: original,
      prune: plan.sync.prune,
    });
  } catch (err) {
    const revertWhy = rolloutFailureReason(err, timeoutMs);
    const left = await inspectApplication(run.instance).catch(() => undefined);
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

function report(r: Rollback, plan: RollbackPlan, patchedAt: string, final: RolloutState): RollbackDetails {
  return {
    application: plan.application,
    from: plan.from,
    to: plan.to.revision,
    timings: {
      planReadyAt: r.timings.planReadyAt!,
      approvedAt: r.timings.approvedAt!,
      patchedAt,
      syncedAt: final.lastOperation?.finishedAt ?? new Date().toISOString(),
      rolloutSeconds: Math.round((Date.now() - Date.parse(patchedAt)) / 1000),
    },
    final: {
      syncStatus: final.syncStatus,
      health: final.health,
      syncedRevision: final.syncedRevision,
      ...(final.leftToPrune.length > 0 ? { leftToPrune: final.leftToPrune } : {}),
    },
  };
}
