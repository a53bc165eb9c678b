/**
 * The guide's `kubectl rollout restart` of the API, the frontend, or the AWS provider: plan (which
 * Deployment, as it is), approval, the restart annotation, and a wait until the new rollout is complete
 * and the Deployment Available. Refused while a rollout is already in progress, before the approval
 * and again after it.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { validateReason } from '../common/rollback';
import { plannedDeployment, planRestart, rolloutInProgress, validateRestartTarget } from '../common/restart-plan';
import type { DeploymentState, RestartDetails, RestartInput, RestartPlan } from '../common/restart-plan';
import type { RunbookResult } from '../common/runbook';
import { restartWorkflow } from '../common/workflows';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const RESTART_STEPS = [
  { name: 'read', title: 'Read the Deployment (no rollout may be in progress)' },
  { name: 'approve', title: 'Approval' },
  { name: 'restart', title: 'kubectl rollout restart (re-checked first)' },
  { name: 'wait', title: 'Wait for the rollout: all replicas updated and available, old ReplicaSet at 0' },
] as const;

interface Restart {
  runbook: Runbook<StepsOf<typeof RESTART_STEPS>>;
  input: RestartInput;
  instance: string;
  timeoutMs: number;
}

export async function restart(input: RestartInput): Promise<RunbookResult<RestartDetails>> {
  const r = setup(input);
  return r.runbook.run(async () => {
    const before = await r.runbook.step('read', () => readTarget(r, 'Read the Deployment to restart'));
    const plan = validateInput(() => planRestart(r.instance, input.target, before));
    await r.runbook.step('approve', () => r.runbook.approve(plan));
    const approvedAt = Date.now();
    const { generation, restartedAt } = await restartDeployment(r, plan);
    const patchedAt = Date.now();
    const after = await waitForRollout(r, plan, generation);
    return {
      deployment: plan.deployment.name,
      namespace: plan.deployment.namespace,
      restartedAt,
      before: { replicaSet: before.currentReplicaSet, templateHash: before.templateHash, generation: before.generation },
      after: { replicaSet: after.currentReplicaSet, templateHash: after.templateHash, generation: after.generation },
      durationsMs: { patch: patchedAt - approvedAt, rollout: Date.now() - patchedAt },
    };
  });
}

function setup(input: RestartInput): Restart {
  const instance = validateInput(() => validateInstanceName(input.instance));
  validateInput(() => validateRestartTarget(input.target));
  const reason = input.reason === undefined ? undefined : validateInput(() => validateReason(input.reason));
  const provider = input.target === 'provider-aws';
  // The AWS provider serves every instance: its restart holds the provider's own lock, not the instance's.
  const lock = restartWorkflow.sharedLock?.(input);
  if (provider && !input.options.dryRun && workflowInfo().workflowId !== lock) {
    throw ApplicationFailure.create({ type: 'InvalidInputError', message: `a restart of the AWS provider must run as workflow ${lock}, so only one runs at a time`, nonRetryable: true });
  }
  const runbook = new Runbook({
    name: RUNBOOKS.restart,
    title: provider ? 'Restart of the AWS provider' : `Restart of ${input.target}`,
    instance,
    options: { ...input.options, reason },
    destructive: !provider,
    startInput: input,
    steps: RESTART_STEPS,
  });
  return { runbook, input, instance, timeoutMs: input.rolloutTimeoutMs ?? 10 * 60 * 1000 };
}

function readTarget(r: Restart, summary: string): Promise<DeploymentState> {
  return activity('readRestartTarget', summary)({ instance: r.instance, target: r.input.target });
}

/**
 * After the approval: the Deployment must still be the planned one with no rollout in progress; then
 * the restart annotation, whose value is this run's (the workflow's time now, the same on every
 * replay and activity retry), so a retried patch finds it set and changes nothing.
 */
async function restartDeployment(r: Restart, plan: RestartPlan): Promise<{ generation: number; restartedAt: string }> {
  const { runbook } = r;
  return runbook.step('restart', async () => {
    const live = await readTarget(r, 'Re-read the Deployment');
    const busy = rolloutInProgress(live);
    if (busy) throw ApplicationFailure.create({ type: 'RolloutInProgress', message: `a rollout started after the approval, not restarting: ${busy}`, nonRetryable: true });
    runbook.confirmUnchanged(`Deployment ${plan.deployment.namespace}/${plan.deployment.name}`, plannedDeployment({ ...plan.deployment, generation: plan.generation, templateHash: plan.templateHash }), plannedDeployment(live));
    const restartedAt = new Date().toISOString();
    const { generation } = await activity('restartDeployment', `kubectl rollout restart deployment/${plan.deployment.name} -n ${plan.deployment.namespace}`)({
      instance: r.instance,
      ...plan.deployment,
      generation: plan.generation,
      restartedAt,
      approval: runbook.approvalEvidence(),
    });
    runbook.recordChange({
      object: `deployments.apps/${plan.deployment.namespace}/${plan.deployment.name}`,
      action: 'rollout restart (spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"])',
      before: live.restartedAt ?? null,
      after: restartedAt,
    });
    return { generation, restartedAt };
  });
}

/** Polling is the retry policy: each attempt checks once; "not yet" is retried every 2 s until the deadline. */
function pollRestart(timeoutMs: number, summary: string): Activities['checkRestartRollout'] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 1, maximumInterval: '2 seconds', nonRetryableErrorTypes: ['DeploymentNotFound'] },
  }).checkRestartRollout;
}

async function waitForRollout(r: Restart, plan: RestartPlan, generation: number): Promise<DeploymentState> {
  const { namespace, name } = plan.deployment;
  try {
    return await r.runbook.step('wait', () => pollRestart(r.timeoutMs, `Wait for ${name}'s rollout`)({ namespace, name, generation, oldReplicaSet: plan.currentReplicaSet }));
  } catch (err) {
    let where = err instanceof Error ? err.message : String(err);
    if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
      const seen = (err.cause.lastHeartbeatDetails as { waitingFor?: string } | undefined)?.waitingFor;
      where = `not complete within ${Math.round(r.timeoutMs / 1000)}s${seen ? `; it stopped at: ${seen}` : ''}`;
    } else if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      where = err.cause.message;
    }
    throw ApplicationFailure.create({ type: 'RestartNotComplete', message: `Deployment ${namespace}/${name} was restarted but its rollout did not complete (${where})`, nonRetryable: true });
  }
}
