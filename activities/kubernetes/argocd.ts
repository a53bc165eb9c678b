/**
 * What the rollback does to an Argo CD Application: read it, change its desired revision (with an
 * explicit sync request when automated sync is off), and wait until a sync that started after the
 * change has finished at that revision with the instance healthy.
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { KubeClients } from './client';
import { getOrUndefined, MERGE_PATCH } from './client';
import { deploymentAvailable } from './platform';
import { argoApplicationName } from '../../common/instance';
import { APPLICATION, ARGOCD_NAMESPACE, INSTANCE_DEPLOYMENTS } from '../../common/platform';
import type { Application } from '../../common/platform';
import type { ApplicationSnapshot, RevisionChange, RolloutState } from '../../common/rollback';

/** Annotations the runbook leaves on the Application: what a pin replaced, and which change it made. */
export const ROLLBACK_ANNOTATIONS = {
  pinnedFrom: 'vcp-runbooks.io/pinned-from',
  pinnedBy: 'vcp-runbooks.io/pinned-by',
  changeId: 'vcp-runbooks.io/change-id',
  previousOperation: 'vcp-runbooks.io/previous-operation-started-at',
} as const;

export class ApplicationNotFoundError extends Error {
  override readonly name = 'ApplicationNotFoundError';
}

export function snapshotOf(app: Application): ApplicationSnapshot {
  const automated = app.spec.syncPolicy?.automated;
  const owners = (app.metadata.ownerReferences ?? []).map((o) => ({ kind: o.kind, name: o.name }));
  const trackingId = app.metadata.annotations?.['argocd.argoproj.io/tracking-id'];
  if (trackingId) owners.push({ kind: 'Application', name: trackingId.split(':')[0] ?? trackingId });
  const op = app.status?.operationState;
  return {
    name: app.metadata.name,
    namespace: app.spec.destination.namespace,
    resourceVersion: app.metadata.resourceVersion ?? '',
    desiredRevision: app.spec.sources?.[0]?.targetRevision ?? app.spec.source?.targetRevision ?? 'HEAD',
    syncedRevision: app.status?.sync?.revision,
    syncStatus: app.status?.sync?.status ?? 'Unknown',
    health: app.status?.health?.status ?? 'Unknown',
    history: (app.status?.history ?? []).map((h) => ({ id: h.id, revision: h.revision ?? h.revisions?.[0] ?? '', deployedAt: h.deployedAt })),
    automatedSync: automated !== undefined && automated.enabled !== false,
    selfHeal: Boolean(automated?.selfHeal),
    multiSource: (app.spec.sources?.length ?? 0) > 0,
    owners,
    pinnedFrom: app.metadata.annotations?.[ROLLBACK_ANNOTATIONS.pinnedFrom],
    lastOperation: op
      ? { phase: op.phase, revision: op.syncResult?.revision ?? op.operation.sync?.revision, startedAt: op.startedAt, finishedAt: op.finishedAt, message: op.message }
      : undefined,
  };
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
     * Sets the desired revision with a JSON merge patch, and asks for a sync when automated sync is
     * off (a refresh alone only re-evaluates). Idempotent: the change ID stored with the patch makes
     * a retried attempt return the first attempt's result instead of requesting another sync.
     */
    async setDesiredRevision(change: RevisionChange): Promise<{ previousOperationStartedAt?: string; changedAt: string }> {
      const app = await read(change.instance);
      const annotations = app.metadata.annotations ?? {};
      if (annotations[ROLLBACK_ANNOTATIONS.changeId] === change.changeId) {
        return { previousOperationStartedAt: annotations[ROLLBACK_ANNOTATIONS.previousOperation] || undefined, changedAt: new Date().toISOString() };
      }
      const current = snapshotOf(app);
      if (current.desiredRevision !== change.expectedDesiredRevision) {
        throw ApplicationFailure.create({
          type: 'PlanNoLongerHolds',
          message: `${current.name} now wants revision ${current.desiredRevision}, not ${change.expectedDesiredRevision} as planned; re-plan`,
          nonRetryable: true,
        });
      }
      const previousOperationStartedAt = app.status?.operationState?.startedAt;
      const source = current.multiSource
        ? { sources: (app.spec.sources ?? []).map((s, i) => (i === 0 ? { ...s, targetRevision: change.toRevision } : s)) }
        : { source: { targetRevision: change.toRevision } };
      const body: Record<string, unknown> = {
        metadata: {
          // Optimistic concurrency: if the Application changed since the read, the patch fails and is retried.
          resourceVersion: app.metadata.resourceVersion,
          annotations: {
            [ROLLBACK_ANNOTATIONS.changeId]: change.changeId,
            [ROLLBACK_ANNOTATIONS.previousOperation]: previousOperationStartedAt ?? '',
            ...change.annotations,
          },
        },
        spec: source,
      };
      if (change.requestSyncOf) {
        body.operation = {
          sync: { revision: change.requestSyncOf },
          initiatedBy: { username: change.initiatedBy },
          info: [{ name: 'Reason', value: change.reason }],
        };
      }
      await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: current.name, body }, MERGE_PATCH);
      return { previousOperationStartedAt, changedAt: new Date().toISOString() };
    },

    /**
     * One poll of the rollout: succeeds once a sync that started after the change has Succeeded at the
     * revision, the app is Synced and Healthy, and every Deployment is available. "Not yet" throws a
     * retryable failure, so the activity's retry policy does the polling; a failed sync or Degraded
     * health is final.
     */
    async checkRollout(expect: { instance: string; revision?: string; previousOperationStartedAt?: string }): Promise<RolloutState> {
      const app = await read(expect.instance);
      const s = snapshotOf(app);
      const op = s.lastOperation;
      const newOperation =
        op !== undefined &&
        op.startedAt !== expect.previousOperationStartedAt &&
        (expect.previousOperationStartedAt === undefined || Date.parse(op.startedAt) >= Date.parse(expect.previousOperationStartedAt));
      const state: RolloutState = { ...s, deploymentsAvailable: false, newOperation };
      // Without an expected revision (following a branch again), the new operation's revision is the target.
      const revision = expect.revision ?? op?.revision ?? '';
      heartbeat(state);
      if (newOperation && op.revision === revision && (op.phase === 'Failed' || op.phase === 'Error')) {
        throw ApplicationFailure.create({ type: 'SyncFailed', message: `sync to ${revision} failed: ${op.message ?? op.phase}`, nonRetryable: true, details: [state] });
      }
      if (newOperation && op.phase === 'Succeeded' && op.revision === revision && s.health === 'Degraded') {
        throw ApplicationFailure.create({ type: 'Degraded', message: `${s.name} is Degraded at ${revision}`, nonRetryable: true, details: [state] });
      }
      const namespace = s.namespace ?? expect.instance;
      state.deploymentsAvailable = (
        await Promise.all(
          INSTANCE_DEPLOYMENTS.map(async (name) => {
            const d = await getOrUndefined(kube.apps.readNamespacedDeployment({ name, namespace }));
            return d !== undefined && deploymentAvailable(d);
          }),
        )
      ).every(Boolean);
      const done =
        newOperation && op.phase === 'Succeeded' && op.revision === revision && s.syncedRevision === revision && s.syncStatus === 'Synced' && s.health === 'Healthy' && state.deploymentsAvailable;
      if (!done) {
        const why = !newOperation
          ? 'no sync has started since the change'
          : `operation ${op.phase} at ${op.revision ?? '?'}, sync ${s.syncStatus} at ${s.syncedRevision ?? '?'}, health ${s.health}, deployments ${state.deploymentsAvailable ? 'available' : 'not available'}`;
        // Benign: "not yet" is the normal answer of a poll, not an error to log or count.
        throw ApplicationFailure.create({ type: 'RolloutNotReady', message: `not ready yet: ${why}`, details: [state], category: ApplicationFailureCategory.BENIGN });
      }
      return state;
    },
  };
}
