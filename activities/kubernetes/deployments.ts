/**
 * Deployments for the restart runbook: read one with its ReplicaSets, patch the restart annotation as
 * `kubectl rollout restart` does, and poll its rollout (common/restart-plan.ts judges).
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined, isConflict, MERGE_PATCH } from './client';
import { notYet } from '../not-ready';
import { chooseProviderDeployment, CROSSPLANE_NAMESPACE, instanceDeploymentOf, RESTARTED_AT_ANNOTATION, restartIncomplete } from '../../common/restart-plan';
import type { DeploymentState, RestartChange } from '../../common/restart-plan';
import type { RestartTarget } from '../../common/triage';

const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
const TEMPLATE_HASH_LABEL = 'pod-template-hash';

function notFound(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'DeploymentNotFound', message, nonRetryable: true });
}

export function createDeploymentActivities({ kube }: { kube: KubeClients }) {
  async function deploymentState(namespace: string, name: string): Promise<DeploymentState | undefined> {
    const d: V1Deployment | undefined = await getOrUndefined(kube.apps.readNamespacedDeployment({ name, namespace }));
    if (!d) return undefined;
    const uid = d.metadata?.uid ?? '';
    const owned = (await kube.apps.listNamespacedReplicaSet({ namespace })).items.filter((rs: V1ReplicaSet) =>
      (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === uid),
    );
    const revision = d.metadata?.annotations?.[REVISION_ANNOTATION];
    const current = owned.find((rs) => revision !== undefined && rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision);
    return {
      namespace,
      name,
      uid,
      generation: d.metadata?.generation ?? 0,
      observedGeneration: d.status?.observedGeneration ?? 0,
      replicas: d.spec?.replicas ?? 1,
      paused: Boolean(d.spec?.paused),
      restartedAt: d.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION],
      currentReplicaSet: current?.metadata?.name,
      templateHash: current?.metadata?.labels?.[TEMPLATE_HASH_LABEL],
      status: {
        replicas: d.status?.replicas ?? 0,
        updatedReplicas: d.status?.updatedReplicas ?? 0,
        readyReplicas: d.status?.readyReplicas ?? 0,
        availableReplicas: d.status?.availableReplicas ?? 0,
      },
      conditions: (d.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
      replicaSets: owned
        .map((rs) => ({ name: rs.metadata?.name ?? '', templateHash: rs.metadata?.labels?.[TEMPLATE_HASH_LABEL], replicas: rs.spec?.replicas ?? 0, statusReplicas: rs.status?.replicas ?? 0 }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  return {
    /** The Deployment a restart target names, as it is now: the instance's own, or the one AWS provider Deployment in crossplane-system. */
    async readRestartTarget(input: { instance: string; target: RestartTarget }): Promise<DeploymentState> {
      let namespace = input.instance;
      let name: string;
      if (input.target === 'provider-aws') {
        namespace = CROSSPLANE_NAMESPACE;
        const names = (await kube.apps.listNamespacedDeployment({ namespace })).items.map((d) => d.metadata?.name ?? '');
        try {
          name = chooseProviderDeployment(names);
        } catch (err) {
          throw ApplicationFailure.create({ type: 'InvalidInputError', message: (err as Error).message, nonRetryable: true });
        }
      } else {
        name = instanceDeploymentOf(input.target);
      }
      const state = await deploymentState(namespace, name);
      if (!state) throw notFound(`Deployment ${namespace}/${name} does not exist`);
      return state;
    },

    /**
     * `kubectl rollout restart`: sets the pod-template restart annotation to the run's value. Idempotent:
     * a retry that finds its own value set does nothing more; any other change to the Deployment since
     * the plan (generation, UID) refuses it. The patch carries the resourceVersion it was read at, so a
     * concurrent write makes it fail with a conflict and retry against the new state.
     */
    async restartDeployment(change: RestartChange): Promise<{ generation: number; alreadyDone: boolean }> {
      const d = await getOrUndefined(kube.apps.readNamespacedDeployment({ name: change.name, namespace: change.namespace }));
      if (!d || d.metadata?.uid !== change.uid) throw notFound(`Deployment ${change.namespace}/${change.name} (uid ${change.uid}) no longer exists`);
      const generation = d.metadata?.generation ?? 0;
      if (d.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] === change.restartedAt) return { generation, alreadyDone: true };
      if (generation !== change.generation) {
        throw ApplicationFailure.create({
          type: 'PlanNoLongerHolds',
          message: `Deployment ${change.namespace}/${change.name} changed after the plan was approved (generation ${change.generation}, now ${generation}); start a new run to re-plan`,
          nonRetryable: true,
        });
      }
      try {
        const patched = await kube.apps.patchNamespacedDeployment(
          {
            name: change.name,
            namespace: change.namespace,
            body: { metadata: { resourceVersion: d.metadata?.resourceVersion }, spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: change.restartedAt } } } } },
          },
          MERGE_PATCH,
        );
        return { generation: patched.metadata?.generation ?? generation + 1, alreadyDone: false };
      } catch (err) {
        if (isConflict(err)) throw ApplicationFailure.create({ type: 'Conflict', message: `Deployment ${change.namespace}/${change.name} was written meanwhile; reading it again`, cause: err as Error });
        throw err;
      }
    },

    /** Polled: the restarted rollout is complete and the Deployment Available; else "not yet", saying where it stands. */
    async checkRestartRollout(input: { namespace: string; name: string; generation: number; oldReplicaSet?: string }): Promise<DeploymentState> {
      const state = await deploymentState(input.namespace, input.name);
      if (!state) throw notFound(`Deployment ${input.namespace}/${input.name} disappeared during the restart`);
      const waiting = restartIncomplete(state, input.generation, input.oldReplicaSet);
      if (waiting) {
        heartbeat({ waitingFor: waiting });
        throw notYet(waiting);
      }
      return state;
    },
  };
}
