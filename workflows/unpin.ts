/**
 * After a rollback pinned the Application to a commit: once the fix is out, return it to following
 * its branch. Same care as the rollback: plan, approval, change, a sync started after the change,
 * Synced and Healthy.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { plannedState, validateReason } from '../common/rollback';
import type { ApplicationSnapshot, UnpinDetails, UnpinInput } from '../common/rollback';
import { planUnpin, unpinChange } from '../common/rollback-plan';
import type { ChangeRun, UnpinPlan } from '../common/rollback-plan';
import type { RunbookResult } from '../common/runbook';
import { pollRollout, requestRevision, rolloutFailureReason, whenNoOperation } from './argocd/revision-change';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const UNPIN_STEPS = [
  { name: 'read', title: 'Read the Application' },
  { name: 'approve', title: 'Approval' },
  { name: 'patch', title: 'Follow the branch again (and request the sync)' },
  { name: 'wait', title: 'Wait for the sync: Synced, Healthy, Deployments available' },
] as const;

/** One unpin run, as its steps share it. */
interface Unpin {
  runbook: Runbook<StepsOf<typeof UNPIN_STEPS>>;
  input: UnpinInput;
  timeoutMs: number;
  run: ChangeRun;
}

export async function unpin(input: UnpinInput): Promise<RunbookResult<UnpinDetails>> {
  const u = setup(input);
  return u.runbook.run(async () => {
    const app = await u.runbook.step('read', () => activity('inspectApplication', 'Read the Argo CD Application')(u.run.instance));
    const plan = validateInput(() => planUnpin(app, input.branch));
    await u.runbook.step('approve', () => u.runbook.approve(plan));
    const changeId = await followBranch(u, app, plan);
    const syncedRevision = await waitForSync(u, plan, changeId);
    return { application: plan.application, from: plan.from, to: plan.to, syncedRevision };
  });
}

function setup(input: UnpinInput): Unpin {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const reason = validateInput(() => validateReason(input.reason));
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.unpin,
    title: 'Unpin',
    instance,
    options: { ...input.options, reason },
    destructive: true,
    startInput: input,
    steps: UNPIN_STEPS,
  });
  const run = { instance, workflowId: info.workflowId, runId: info.runId, requester: input.options.requestedBy.user, reason };
  return { runbook, input, timeoutMs: input.rolloutTimeoutMs ?? 10 * 60 * 1000, run };
}

/** Sets the branch as the target revision with a sync of it, once nothing else is syncing and the plan still holds. */
async function followBranch(u: Unpin, app: ApplicationSnapshot, plan: UnpinPlan): Promise<string> {
  const { runbook, run } = u;
  const change = await runbook.step('patch', () =>
    whenNoOperation(plan.application, run.instance, u.timeoutMs, async () => {
      const live = await activity('inspectApplication', 'Re-read the Application')(run.instance);
      runbook.confirmUnchanged(`Application ${plan.application}`, { ...plan.planned, owners: app.owners }, { ...plannedState(live), owners: live.owners });
      return requestRevision(runbook, plan.application, unpinChange(plan, run), `Set ${plan.application} to follow ${plan.to} and sync it`, {
        action: 'set spec.source.targetRevision and request operation.sync',
        before: plan.from,
      });
    }),
  );
  return change.changeId;
}

/** Waits for the branch's sync to be Synced and Healthy; the branch stays set if it is not (roll back again if needed). */
async function waitForSync(u: Unpin, plan: UnpinPlan, changeId: string): Promise<string | undefined> {
  try {
    const final = await u.runbook.step('wait', () =>
      pollRollout(u.timeoutMs, `Wait for ${plan.application} to sync ${plan.to}`)({ instance: u.run.instance, changeId, prune: plan.prune }),
    );
    return final.syncedRevision;
  } catch (err) {
    throw ApplicationFailure.create({
      type: 'UnpinFailed',
      message: `${plan.application} now follows ${plan.to} but did not become Synced and Healthy (${rolloutFailureReason(err, u.timeoutMs)}); roll back again if needed`,
      nonRetryable: true,
    });
  }
}
