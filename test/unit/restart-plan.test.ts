/**
 * The restart runbook's pure parts (common/restart-plan.ts): which Deployment, when a rollout counts
 * as in progress (refused) or complete (verified), and the approval guard's rule for the patch.
 */
import { describe, expect, it } from 'vitest';
import { DESTRUCTIVE_RULES } from '../../activities/destructive';
import { InvalidInputError } from '../../common/instance';
import { chooseProviderDeployment, planRestart, restartIncomplete, rolloutInProgress, validateRestartTarget } from '../../common/restart-plan';
import type { DeploymentState, RestartChange } from '../../common/restart-plan';
import { restartWorkflow, runMatchingJobWorkflow, workflowIdFor } from '../../common/workflows';

function deployment(extra: Partial<DeploymentState> = {}): DeploymentState {
  return {
    namespace: 'demo',
    name: 'virtual-coffee-api',
    uid: 'uid-1',
    generation: 3,
    observedGeneration: 3,
    replicas: 2,
    paused: false,
    currentReplicaSet: 'virtual-coffee-api-aaa',
    templateHash: 'aaa',
    status: { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 },
    conditions: [
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
    ],
    replicaSets: [{ name: 'virtual-coffee-api-aaa', templateHash: 'aaa', replicas: 2, statusReplicas: 2 }],
    ...extra,
  };
}

describe('restart plan', () => {
  it('plans the Deployment as it is: namespace, name, UID, generation, replicas, template hash', () => {
    expect(planRestart('demo', 'api', deployment())).toMatchObject({
      instance: 'demo',
      target: 'api',
      deployment: { namespace: 'demo', name: 'virtual-coffee-api', uid: 'uid-1' },
      generation: 3,
      replicas: 2,
      templateHash: 'aaa',
      currentReplicaSet: 'virtual-coffee-api-aaa',
    });
  });

  it.each([
    ['the controller has not observed the spec', { observedGeneration: 2 }, /has not observed generation 3/],
    ['too few pods run the current template', { status: { replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 } }, /1 of 2 replicas run the current template/],
    ['old pods remain', { status: { replicas: 3, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3 } }, /1 old replicas are still running/],
    ['too few are available', { status: { replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 } }, /1 of 2 replicas are available/],
    ['Progressing is not complete', { conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }] }, /Progressing is True \(ReplicaSetUpdated/],
    ['the rollout is stuck', { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }, /ProgressDeadlineExceeded/],
    ['it is paused', { paused: true }, /is paused/],
  ])('refuses while a rollout is in progress: %s', (_, extra, message) => {
    expect(rolloutInProgress(deployment(extra as Partial<DeploymentState>))).toMatch(message);
    expect(() => planRestart('demo', 'api', deployment(extra as Partial<DeploymentState>))).toThrow(InvalidInputError);
  });

  it('takes exactly one provider-aws Deployment in crossplane-system, refusing none or several by name', () => {
    expect(chooseProviderDeployment(['crossplane', 'provider-aws-0a1b2c', 'crossplane-rbac-manager'])).toBe('provider-aws-0a1b2c');
    expect(() => chooseProviderDeployment(['crossplane'])).toThrow('no Deployment in crossplane-system starts with provider-aws (found: crossplane)');
    expect(() => chooseProviderDeployment(['provider-aws-b', 'provider-aws-a'])).toThrow('2 Deployments in crossplane-system start with provider-aws (provider-aws-a, provider-aws-b)');
  });

  it('accepts only the three targets', () => {
    expect(validateRestartTarget('frontend')).toBe('frontend');
    expect(() => validateRestartTarget('database')).toThrow('target "database" is not one of api, frontend, provider-aws');
  });
});

describe('restart verification', () => {
  const rolled = (extra: Partial<DeploymentState> = {}) =>
    deployment({
      generation: 4,
      observedGeneration: 4,
      currentReplicaSet: 'virtual-coffee-api-bbb',
      templateHash: 'bbb',
      replicaSets: [
        { name: 'virtual-coffee-api-aaa', replicas: 0, statusReplicas: 0 },
        { name: 'virtual-coffee-api-bbb', replicas: 2, statusReplicas: 2 },
      ],
      ...extra,
    });

  it('is complete once the patched generation is observed, every replica is updated and available, the old ReplicaSet is at 0 and the Deployment Available', () => {
    expect(restartIncomplete(rolled(), 4, 'virtual-coffee-api-aaa')).toBeUndefined();
  });

  it('says where the rollout stands until then', () => {
    expect(restartIncomplete(rolled({ observedGeneration: 3 }), 4, 'virtual-coffee-api-aaa')).toMatch(/observe generation 4 \(observed 3\)/);
    expect(restartIncomplete(rolled({ status: { replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 } }), 4, 'virtual-coffee-api-aaa')).toMatch(/1 updated, 2 available, 3 in all of 2 desired/);
    expect(restartIncomplete(rolled({ currentReplicaSet: 'virtual-coffee-api-aaa' }), 4, 'virtual-coffee-api-aaa')).toMatch(/no new ReplicaSet yet/);
    const old = [{ name: 'virtual-coffee-api-aaa', replicas: 0, statusReplicas: 1 }];
    expect(restartIncomplete(rolled({ replicaSets: old }), 4, 'virtual-coffee-api-aaa')).toMatch(/old ReplicaSet virtual-coffee-api-aaa still has 1 pods/);
    expect(restartIncomplete(rolled({ conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }] }), 4, 'virtual-coffee-api-aaa')).toMatch(/not Available \(MinimumReplicasUnavailable\)/);
  });
});

describe('the restart patch guard', () => {
  const plan = planRestart('demo', 'api', deployment());
  const change = (extra: Partial<RestartChange> = {}): RestartChange => ({
    instance: 'demo',
    namespace: 'demo',
    name: 'virtual-coffee-api',
    uid: 'uid-1',
    generation: 3,
    restartedAt: '2026-12-03T10:00:00.000Z',
    ...extra,
  });
  const outside = (c: RestartChange, p: unknown = plan) => DESTRUCTIVE_RULES.restartDeployment.outsidePlan(p, c);

  it('allows the planned Deployment at the planned generation', () => {
    expect(outside(change())).toBeUndefined();
  });

  it('refuses another instance, another Deployment, another UID or another generation', () => {
    expect(outside(change({ instance: 'other' }))).toBe('the approved plan is for instance demo, not other');
    expect(outside(change({ name: 'virtual-coffee-frontend' }))).toMatch(/restarts Deployment demo\/virtual-coffee-api \(uid uid-1\), not demo\/virtual-coffee-frontend/);
    expect(outside(change({ namespace: 'crossplane-system' }))).toMatch(/not crossplane-system\/virtual-coffee-api/);
    expect(outside(change({ uid: 'uid-2' }))).toMatch(/\(uid uid-2\)/);
    expect(outside(change({ generation: 4 }))).toBe('the approved plan restarts generation 3, not 4');
    expect(outside(change(), null)).toMatch(/the approved plan is for instance undefined/);
  });
});

describe('restart and run-matching-job workflow IDs', () => {
  const options = { requestedBy: { user: 'bob', via: 'test' as const } };
  it('the instance\'s Deployments take the instance\'s lock; the AWS provider its own, whatever the instance', () => {
    expect(workflowIdFor(restartWorkflow, { instance: 'demo', target: 'api', options } as never, 'n')).toBe('destructive/demo');
    expect(workflowIdFor(restartWorkflow, { instance: 'demo', target: 'provider-aws', options } as never, 'n')).toBe('shared/provider-aws');
    expect(workflowIdFor(restartWorkflow, { instance: 'other', target: 'provider-aws', options } as never, 'n')).toBe('shared/provider-aws');
    expect(workflowIdFor(restartWorkflow, { instance: 'demo', target: 'provider-aws', options: { ...options, dryRun: true } } as never, 'n')).toBe('plan/restart/demo/n');
    expect(workflowIdFor(runMatchingJobWorkflow, { instance: 'demo', options }, 'n')).toBe('destructive/demo');
  });
});
