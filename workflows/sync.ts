/**
 * The guide's "ArgoCD Application Not Syncing" fixes: "Refresh the application" (a hard refresh) and
 * "Force a sync operation". Around them, what a careful operator does: plan, approval, an explicit
 * sync of the target revision once nothing else is syncing, and a wait until it is Synced and Healthy
 * there. Turning automated sync on, which is all the guide's "force sync" command does, is an option
 * the plan shows with its exact patch, applied after the sync (common/sync-plan.ts).
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import type { ApplicationSnapshot, RolloutState } from '../common/rollback';
import type { ChangeRun } from '../common/rollback-plan';
import type { RunbookResult } from '../common/runbook';
import { planSync, syncChange, syncPlannedState, validateSyncInput } from '../common/sync-plan';
import type { SyncDetails, SyncInput, SyncPlan } from '../common/sync-plan';
import { pollRollout, requestRevision, rolloutFailureReason, whenNoOperation } from './argocd/revision-change';
import { hardRefresh } from './argocd/refresh';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const DEFAULT_ROLLOUT_TIMEOUT_MS = 10 * 60 * 1000;

const SYNC_STEPS = [
  { name: 'read', title: 'Read the Application: target revision, sync, health, sync policy' },
  { name: 'approve', title: 'Approval' },
  { name: 'hard-refresh', title: 'Hard refresh, and wait until Argo CD has refreshed' },
  { name: 'sync', title: 'Request a sync of the target revision (once no operation is in progress)' },
  { name: 'wait', title: 'Wait for the sync: Synced, Healthy, Deployments available' },
  { name: 'enable-auto-sync', title: "Turn automated sync on with the guide's patch (only if asked)" },
] as const;

/** One sync run, as its steps share it. */
interface Sync {
  runbook: Runbook<StepsOf<typeof SYNC_STEPS>>;
  input: SyncInput;
  enableAutomatedSync: boolean;
  timeoutMs: number;
  run: ChangeRun;
}

const inspectApplication = activity('inspectApplication', 'Read the Argo CD Application');

export async function sync(input: SyncInput): Promise<RunbookResult<SyncDetails>> {
  const s = setup(input);
  return s.runbook.run(async () => {
    const { app, plan } = await readApplication(s);
    await s.runbook.step('approve', () => s.runbook.approve(plan));
    const refresh = await s.runbook.step('hard-refresh', () => hardRefresh(s.runbook, plan.application, s.run.instance, s.timeoutMs));
    const changeId = await requestSync(s, app, plan);
    const final = await waitForSync(s, plan, changeId);
    const automatedSync = await enableAutomatedSync(s, plan);
    return report(plan, refresh, changeId, final, automatedSync);
  });
}

function setup(input: SyncInput): Sync {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const { reason, enableAutomatedSync } = validateInput(() => validateSyncInput(input));
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.sync,
    title: 'Sync',
    instance,
    options: { ...input.options, reason },
    destructive: true,
    startInput: input,
    steps: SYNC_STEPS,
  });
  const run = { instance, workflowId: info.workflowId, runId: info.runId, requester: input.options.requestedBy.user, reason };
  return { runbook, input, enableAutomatedSync, timeoutMs: input.rolloutTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS, run };
}

/** 1. The guide's `kubectl describe application ...`, planned: what is synced, how it prunes, what the policy becomes. */
async function readApplication(s: Sync): Promise<{ app: ApplicationSnapshot; plan: SyncPlan }> {
  const { runbook } = s;
  const app = await runbook.step('read', () => inspectApplication(s.run.instance));
  const plan = planSync(app, s.run.instance, { enableAutomatedSync: s.enableAutomatedSync });
  if (!runbook.dryRun && plan.refusals.length > 0) {
    throw ApplicationFailure.create({ type: 'SyncRefused', message: `sync refused, nothing changed: ${plan.refusals.join(' ')}`, nonRetryable: true, details: [plan] });
  }
  runbook.note(`Sync ${plan.application} at ${plan.sync.revision}${plan.sync.prune ? ' with prune' : ''} (now ${app.syncStatus}, ${app.health})`);
  return { app, plan };
}

/** 3. The sync of the target revision, with the run's change ID, once nothing else is syncing and the plan still holds. */
async function requestSync(s: Sync, app: ApplicationSnapshot, plan: SyncPlan): Promise<string> {
  const { runbook, run } = s;
  const change = await runbook.step('sync', () =>
    whenNoOperation(plan.application, run.instance, s.timeoutMs, async () => {
      const live = await inspectApplication(run.instance);
      // A parent that adopted the Application, or a changed revision or policy, since the approval: not what was approved.
      runbook.confirmUnchanged(`Application ${plan.application}`, plan.planned, syncPlannedState(live));
      return requestRevision(runbook, plan.application, syncChange(plan, run), `Sync ${plan.application} at ${plan.sync.revision}`, {
        action: `request operation.sync of the target revision${plan.sync.prune ? ' with prune' : ''}`,
        before: app.syncedRevision ?? app.desiredRevision,
      });
    }),
  );
  return change.changeId;
}

/** 4. Synced and Healthy at the target, or the run fails with Argo CD's reason (nothing to revert: the revision did not change). */
async function waitForSync(s: Sync, plan: SyncPlan, changeId: string): Promise<RolloutState> {
  try {
    return await s.runbook.step('wait', () =>
      pollRollout(s.timeoutMs, `Wait for ${plan.application} to sync ${plan.sync.revision}`)({ instance: s.run.instance, changeId, prune: plan.sync.prune }),
    );
  } catch (err) {
    s.runbook.skip('enable-auto-sync', 'not done: the sync did not succeed');
    throw ApplicationFailure.create({
      type: 'SyncFailed',
      message: `the sync of ${plan.application} at ${plan.sync.revision} did not become Synced and Healthy: ${rolloutFailureReason(err, s.timeoutMs)}`,
      nonRetryable: true,
    });
  }
}

/** 5. The guide's patch, only when asked, once the Application is Synced and Healthy. */
async function enableAutomatedSync(s: Sync, plan: SyncPlan): Promise<SyncDetails['automatedSync']> {
  const { runbook } = s;
  const current = plan.automatedSync.current;
  const patch = plan.automatedSync.patch;
  if (!plan.automatedSync.enable || !patch) {
    runbook.skip('enable-auto-sync', plan.automatedSync.enable ? 'already on as the guide sets it' : 'not asked for');
    return { before: current, after: current, changed: false };
  }
  return runbook.step('enable-auto-sync', async () => {
    const automated = patch.spec.syncPolicy.automated;
    const result = await activity('enableAutomatedSync', `Turn automated sync of ${plan.application} on`)({ instance: s.run.instance, expected: current, automated, approval: runbook.approvalEvidence() });
    if (result.changed) runbook.recordChange({ object: `applications.argoproj.io/argocd/${plan.application}`, action: 'patch spec.syncPolicy.automated (the guide\'s force sync)', before: result.before, after: result.after });
    return result;
  });
}

function report(plan: SyncPlan, refresh: SyncDetails['refresh'], changeId: string, final: RolloutState, automatedSync: SyncDetails['automatedSync']): SyncDetails {
  const op = final.lastOperation;
  return {
    application: plan.application,
    refresh,
    operation: { changeId, phase: op?.phase, message: op?.message, revision: op?.revision, startedAt: op?.startedAt, finishedAt: op?.finishedAt, prune: plan.sync.prune },
    final: {
      syncStatus: final.syncStatus,
      health: final.health,
      syncedRevision: final.syncedRevision,
      resolvedRevision: final.resolvedRevision,
      ...(final.leftToPrune.length > 0 ? { leftToPrune: final.leftToPrune } : {}),
    },
    automatedSync,
  };
}
