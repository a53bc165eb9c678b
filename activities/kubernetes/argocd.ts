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
import { canonicalJson } from '../../common/canonical';
import { argoApplicationName } from '../../common/instance';
import { APPLICATION, ARGOCD_NAMESPACE, INSTANCE_DEPLOYMENTS, REFRESH_ANNOTATION } from '../../common/platform';
import type { Application } from '../../common/platform';
import { APPLICATION_ANNOTATIONS } from '../../common/rollback';
import type { ApplicationSnapshot, RevisionChange, RolloutExpectation, RolloutState } from '../../common/rollback';
import { REFRESH_TIMESTAMP_ANNOTATION } from '../../common/sync-plan';
import type { AutomatedPolicy } from '../../common/sync-plan';
import { notYet } from '../not-ready';

export class ApplicationNotFoundError extends Error {
  override readonly name = 'ApplicationNotFoundError';
}

function deploymentView(name: string, d: V1Deployment | undefined): DeploymentView {
  if (!d) return { name, exists: false, available: false };
  const current = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  const stalled = d.status?.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded');
  return { name, exists: true, available: deploymentAvailable(d), progressDeadlineExceeded: current && stalled ? (stalled.message ?? 'no message') : undefined };
}

/** Whether an Application's automated-sync policy is the one wanted (its own keys compared, `enabled` absent meaning true). */
function samePolicy(live: AutomatedPolicy | undefined, wanted: AutomatedPolicy): boolean {
  return live !== undefined && Object.entries(wanted).every(([k, v]) => (live as Record<string, unknown>)[k] === v) && live.enabled !== false;
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
     * Asks the application controller for a hard refresh (manifest cache invalidated, the target
     * resolved again), as `argocd app get --hard-refresh` does in v3.6: the refresh annotation and a
     * refresh timestamp unique to this request (`token`). Returns status.reconciledAt as it was.
     */
    async requestHardRefresh(input: { instance: string; token: string }): Promise<{ reconciledAtBefore?: string }> {
      const app = await read(input.instance);
      const body = { metadata: { annotations: { [REFRESH_ANNOTATION]: 'hard', [REFRESH_TIMESTAMP_ANNOTATION]: input.token } } };
      await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: app.metadata.name, body }, MERGE_PATCH);
      return { reconciledAtBefore: app.status?.reconciledAt };
    },

    /**
     * Polled: the controller has consumed the hard refresh. It removes both annotations only after it
     * persisted the status of a reconcile that began with them (persistReconciliationStatus, v3.6.1;
     * the timestamp guards a request that arrives mid-reconcile), so their absence means the refresh
     * ran; status.reconciledAt (whole seconds) is then no older than before.
     */
    async checkHardRefreshed(input: { instance: string; token: string; reconciledAtBefore?: string }): Promise<{ reconciledAt?: string }> {
      const app = await read(input.instance);
      const annotations = app.metadata.annotations ?? {};
      const reconciledAt = app.status?.reconciledAt;
      if (annotations[REFRESH_ANNOTATION] !== undefined || annotations[REFRESH_TIMESTAMP_ANNOTATION] === input.token) {
        throw notYet(`Argo CD has not consumed the hard refresh of ${app.metadata.name} yet (reconciled at ${reconciledAt ?? 'never'})`);
      }
      if (!reconciledAt || (input.reconciledAtBefore && Date.parse(reconciledAt) < Date.parse(input.reconciledAtBefore))) {
        throw notYet(`${app.metadata.name} has no reconciliation newer than ${input.reconciledAtBefore ?? 'none'} yet`);
      }
      return { reconciledAt };
    },

    /**
     * The guide's `kubectl patch ... '{"spec":{"syncPolicy":{"automated":{"prune":true,"selfHeal":true}}}}'`:
     * a JSON merge patch of `patch`, only onto the policy the plan saw (`expected`; null: none) and only
     * while no parent manages the Application. Idempotent: a policy already as wanted is left alone.
     */
    async enableAutomatedSync(input: { instance: string; expected: AutomatedPolicy | null; automated: AutomatedPolicy }): Promise<{ before: AutomatedPolicy | null; after: AutomatedPolicy | null; changed: boolean }> {
      const app = await read(input.instance);
      const live = app.spec.syncPolicy?.automated;
      if (samePolicy(live, input.automated)) return { before: live ?? null, after: live ?? null, changed: false };
      const current = snapshotOf(app);
      if (current.owners.length > 0) {
        const by = current.owners.map((o) => `${o.kind} ${o.name}`).join(', ');
        throw ApplicationFailure.create({ type: 'ApplicationOwned', message: `not changing ${app.metadata.name}'s sync policy: it is managed by ${by}, which would undo it`, nonRetryable: true });
      }
      if (canonicalJson(live ?? null) !== canonicalJson(input.expected)) {
        throw ApplicationFailure.create({
          type: 'PlanNoLongerHolds',
          message: `${app.metadata.name}'s automated sync policy is now ${JSON.stringify(live ?? null)}, not ${JSON.stringify(input.expected)} as planned; re-plan`,
          nonRetryable: true,
        });
      }
      const body = { metadata: { resourceVersion: app.metadata.resourceVersion }, spec: { syncPolicy: { automated: input.automated } } };
      const patched = (await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: app.metadata.name, body }, MERGE_PATCH)) as Application;
      return { before: live ?? null, after: patched.spec.syncPolicy?.automated ?? null, changed: true };
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
