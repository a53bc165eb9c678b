/**
 * What the rollback and unpin do to an Argo CD Application: read it, wait until no operation is in
 * progress, change its desired revision together with a sync operation of their own, and wait until
 * that operation has finished at the revision with the instance healthy (common/argocd.ts judges).
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { V1Deployment } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined, MERGE_PATCH } from './client';
import { deploymentAvailable } from './platform';
import { assessRollout, describeOperation, snapshotOf, SYNC_CHANGE_INFO } from '../../common/argocd';
import type { DeploymentView } from '../../common/argocd';
import { argoApplicationName } from '../../common/instance';
import { APPLICATION, ARGOCD_NAMESPACE, INSTANCE_DEPLOYMENTS } from '../../common/platform';
import type { Application } from '../../common/platform';
import { APPLICATION_ANNOTATIONS } from '../../common/rollback';
import type { ApplicationSnapshot, RevisionChange, RolloutExpectation, RolloutState } from '../../common/rollback';

export class ApplicationNotFoundError extends Error {
  override readonly name = 'ApplicationNotFoundError';
}

function deploymentView(name: string, d: V1Deployment | undefined): DeploymentView {
  if (!d) return { name, exists: false, available: false };
  const current = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  const stalled = d.status?.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded');
  return { name, exists: true, available: deploymentAvailable(d), progressDeadlineExceeded: current && stalled ? (stalled.message ?? 'no message') : undefined };
}

export function createArgoCdActivities({ kube }: { kube: KubeClients }) {
  async function read(instance: string): Promise<Application> {
    const name = argoApplicationName(instance);
    const app = (await getOrUndefined(kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name }))) as
      | Application
      | undefined;
    if (!app) {
      throw ApplicationFailure.create({
        type: ApplicationNotFoundError.name,
        message: `Argo CD Application ${ARGOCD_NAMESPACE}/${name} does not exist`,
        nonRetryable: true,
      });
    }
    return app;
  }

  return {
    /** The Application as the rollback plans on it; read-only. */
    async inspectApplication(instance: string): Promise<ApplicationSnapshot> {
      return snapshotOf(await read(instance));
    },

    /**
     * One poll of "no operation in progress": a sync requested now would be dropped. "Still running"
     * throws a retryable failure, so the retry policy waits it out (a failing sync that retries too).
     */
    async checkNoOperation(instance: string): Promise<ApplicationSnapshot> {
      const s = snapshotOf(await read(instance));
      if (s.operationInProgress) {
        heartbeat(s);
        throw ApplicationFailure.create({
          type: 'OperationInProgress',
          message: `${s.name} has ${describeOperation(s)}`,
          details: [s],
          category: ApplicationFailureCategory.BENIGN,
        });
      }
      return s;
    },

    /**
     * Sets the desired revision and requests a sync of the change's revision in one JSON merge patch,
     * refusing while an operation is in progress (Argo CD would drop the request). Argo CD starts no
     * sync by itself when the manifests do not change, so the sync is always requested; it prunes as
     * the plan says and carries the change ID in `operation.info`, which the controller copies into
     * operationState: the wait recognizes its own sync by it. Idempotent: a retried attempt finds the
     * change ID on the Application and requests nothing more.
     */
    async setDesiredRevision(change: RevisionChange): Promise<{ changeId: string; changedAt: string }> {
      const app = await read(change.instance);
      if (app.metadata.annotations?.[APPLICATION_ANNOTATIONS.changeId] === change.changeId) {
        return { changeId: change.changeId, changedAt: new Date().toISOString() };
      }
      const current = snapshotOf(app);
      if (current.desiredRevision !== change.expectedDesiredRevision) {
        throw ApplicationFailure.create({
          type: 'PlanNoLongerHolds',
          message: `${current.name} now wants revision ${current.desiredRevision}, not ${change.expectedDesiredRevision} as planned; re-plan`,
          nonRetryable: true,
        });
      }
      if (current.operationInProgress) {
        throw ApplicationFailure.create({
          type: 'OperationInProgress',
          message: `${current.name} has ${describeOperation(current)}; a sync requested now would be dropped`,
          nonRetryable: true,
          details: [current],
        });
      }
      const source = current.multiSource
        ? { sources: (app.spec.sources ?? []).map((s, i) => (i === 0 ? { ...s, targetRevision: change.toRevision } : s)) }
        : { source: { targetRevision: change.toRevision } };
      const body = {
        metadata: {
          // Optimistic concurrency: if the Application changed since the read (an operation started), the patch fails and is retried.
          resourceVersion: app.metadata.resourceVersion,
          annotations: { [APPLICATION_ANNOTATIONS.changeId]: change.changeId, ...change.annotations },
        },
        spec: source,
        operation: {
          sync: { revision: change.requestSyncOf, prune: change.prune, ...(current.syncOptions.length > 0 ? { syncOptions: current.syncOptions } : {}) },
          initiatedBy: { username: change.initiatedBy },
          info: [
            { name: 'Reason', value: change.reason },
            { name: SYNC_CHANGE_INFO, value: change.changeId },
          ],
        },
      };
      await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: current.name, body }, MERGE_PATCH);
      return { changeId: change.changeId, changedAt: new Date().toISOString() };
    },

    /**
     * One poll of the rollout (see assessRollout): "not yet" throws a retryable failure, so the
     * activity's retry policy does the polling, and the heartbeat keeps what it waits for, which a
     * timeout reports; a failure Argo CD reports is final, with its reason.
     */
    async checkRollout(expect: RolloutExpectation): Promise<RolloutState> {
      const app = await read(expect.instance);
      const namespace = app.spec.destination.namespace ?? expect.instance;
      const deployments = await Promise.all(
        INSTANCE_DEPLOYMENTS.map(async (name) => deploymentView(name, await getOrUndefined(kube.apps.readNamespacedDeployment({ name, namespace })))),
      );
      // What an earlier attempt of this poll saw (its heartbeat): whether this change's sync had succeeded.
      const earlier = activityInfo().heartbeatDetails as Partial<RolloutState> | undefined;
      const verdict = assessRollout(app, deployments, { ...expect, oursSucceeded: expect.oursSucceeded === true || earlier?.oursSucceeded === true });
      heartbeat(verdict.state);
      if (verdict.kind === 'failed') {
        throw ApplicationFailure.create({ type: verdict.type, message: verdict.message, nonRetryable: true, details: [verdict.state] });
      }
      if (verdict.kind === 'waiting') {
        // Benign: "not yet" is the normal answer of a poll, not an error to log or count.
        throw ApplicationFailure.create({ type: 'RolloutNotReady', message: `not ready yet: ${verdict.why}`, details: [verdict.state], category: ApplicationFailureCategory.BENIGN });
      }
      return verdict.state;
    },
  };
}
