/**
 * How the runbooks read an Argo CD Application, as the application controller (v3.6) writes it.
 * Pure code, shared by the activities and their unit tests.
 *
 * - What runs now is the newest history entry: Argo CD appends one for each sync that succeeded.
 *   status.sync.revision is the target resolved at the last refresh, synced or not.
 * - An operation is in progress while `operation` is set or operationState is Running (a failing
 *   sync that retries stays Running, with finishedAt and retryCount set). A sync requested meanwhile
 *   is dropped: the controller finishes the running one and then clears `operation`.
 * - operationState.operation is a copy of the requested operation, `info` included, so a runbook
 *   finds its own sync by the change ID it put there; startedAt has whole seconds and cannot.
 * - Health turns Degraded only when a Deployment reports ProgressDeadlineExceeded (its
 *   progressDeadlineSeconds after the rollout stalled), never at once.
 */
import { APPLICATION_ANNOTATIONS } from './rollback';
import type { ApplicationSnapshot, RolloutExpectation, RolloutState } from './rollback';
import { deployedRevision } from './platform';
import type { Application } from './platform';

/** The `operation.info` entry carrying the runbook's change ID. */
export const SYNC_CHANGE_INFO = 'vcp-runbooks-change';

/** Condition types that stop Argo CD from generating or applying manifests, and a failed auto-sync. */
const ERROR_CONDITIONS = new Set(['ComparisonError', 'InvalidSpecError', 'SyncError']);

const TRACKING_ID = 'argocd.argoproj.io/tracking-id';

export function snapshotOf(app: Application): ApplicationSnapshot {
  const automated = app.spec.syncPolicy?.automated;
  const automatedSync = automated !== undefined && automated.enabled !== false;
  const owners = (app.metadata.ownerReferences ?? []).map((o) => ({ kind: o.kind, name: o.name }));
  const trackingId = app.metadata.annotations?.[TRACKING_ID];
  if (trackingId) owners.push({ kind: 'Application', name: trackingId.split(':')[0] ?? trackingId });
  const op = app.status?.operationState;
  const initiator = op?.operation.initiatedBy;
  return {
    name: app.metadata.name,
    namespace: app.spec.destination.namespace,
    resourceVersion: app.metadata.resourceVersion ?? '',
    desiredRevision: app.spec.sources?.[0]?.targetRevision ?? app.spec.source?.targetRevision ?? 'HEAD',
    syncedRevision: deployedRevision(app),
    resolvedRevision: app.status?.sync?.revision ?? app.status?.sync?.revisions?.[0],
    syncStatus: app.status?.sync?.status ?? 'Unknown',
    health: app.status?.health?.status ?? 'Unknown',
    healthMessage: app.status?.health?.message,
    history: (app.status?.history ?? []).map((h) => ({ id: h.id, revision: h.revision ?? h.revisions?.[0] ?? '', deployedAt: h.deployedAt })),
    automatedSync,
    selfHeal: Boolean(automated?.selfHeal),
    ...(automated ? { automatedPolicy: { ...automated } } : {}),
    ...(app.status?.reconciledAt ? { reconciledAt: app.status.reconciledAt } : {}),
    prune: automatedSync && Boolean(automated?.prune),
    syncOptions: app.spec.syncPolicy?.syncOptions ?? [],
    multiSource: (app.spec.sources?.length ?? 0) > 0,
    owners,
    pinnedFrom: app.metadata.annotations?.[APPLICATION_ANNOTATIONS.pinnedFrom],
    errors: (app.status?.conditions ?? []).filter((c) => ERROR_CONDITIONS.has(c.type)).map((c) => `${c.type}: ${c.message}`),
    lastOperation: op
      ? {
          phase: op.phase,
          revision: op.syncResult?.revision ?? op.operation.sync?.revision,
          startedAt: op.startedAt,
          finishedAt: op.finishedAt,
          message: op.message,
          retryCount: op.retryCount,
          initiatedBy: initiator?.automated ? 'automated sync' : initiator?.username,
          changeId: op.operation.info?.find((i) => i.name === SYNC_CHANGE_INFO)?.value,
        }
      : undefined,
    operationInProgress: app.operation !== undefined && app.operation !== null ? true : op?.phase === 'Running' || op?.phase === 'Terminating',
  };
}

/** The operation in progress, in words for a report. */
export function describeOperation(s: ApplicationSnapshot): string {
  const op = s.lastOperation;
  if (!op || (op.phase !== 'Running' && op.phase !== 'Terminating')) return 'a requested operation that has not started yet';
  const retrying = op.retryCount ? `, retrying after ${op.retryCount} failed attempt${op.retryCount > 1 ? 's' : ''}` : '';
  return `a sync to ${op.revision ?? '?'} by ${op.initiatedBy ?? 'unknown'} started at ${op.startedAt} (${op.phase}${retrying}: ${op.message ?? 'no message'})`;
}

/** A Deployment as the rollout judgement reads it. */
export interface DeploymentView {
  name: string;
  exists: boolean;
  available: boolean;
  /** The message of a Progressing=False/ProgressDeadlineExceeded condition for the current generation. */
  progressDeadlineExceeded?: string;
}

export type RolloutVerdict =
  | { kind: 'done'; state: RolloutState }
  | { kind: 'waiting'; state: RolloutState; why: string }
  | { kind: 'failed'; type: 'SyncFailed' | 'SyncLost' | 'Degraded'; message: string; state: RolloutState };

function outOfSyncResources(app: Application): { name: string; requiresPruning: boolean }[] {
  return (app.status?.resources ?? [])
    .filter((r) => r.status === 'OutOfSync')
    .map((r) => ({ name: `${r.kind} ${r.name}`, requiresPruning: r.requiresPruning === true }));
}

/**
 * Judges one look at a rollout. Done: this change's operation Succeeded at the revision, the
 * Application is Synced there (or OutOfSync only by resources its non-pruning sync left), Healthy, and
 * every Deployment is available. Failed, with Argo CD's own reason: the operation failed or errored
 * (a ComparisonError ends it with phase Error), it retries, it was dropped, or a Deployment exceeded
 * its progress deadline (Argo CD's Degraded).
 */
export function assessRollout(app: Application, deployments: DeploymentView[], expect: RolloutExpectation): RolloutVerdict {
  const s = snapshotOf(app);
  const op = s.lastOperation;
  const ours = op?.changeId === expect.changeId;
  const requested = app.operation?.info?.some((i) => i.name === SYNC_CHANGE_INFO && i.value === expect.changeId) ?? false;
  const outOfSync = outOfSyncResources(app);
  const leftToPrune = !expect.prune && s.syncStatus === 'OutOfSync' && outOfSync.length > 0 && outOfSync.every((r) => r.requiresPruning) ? outOfSync.map((r) => r.name) : [];
  const oursSucceeded = (ours && op.phase === 'Succeeded') || expect.oursSucceeded === true;
  const state: RolloutState = { ...s, ours, oursSucceeded, leftToPrune, deploymentsAvailable: deployments.every((d) => d.exists && d.available) };
  const waiting = (why: string): RolloutVerdict => ({ kind: 'waiting', why, state: { ...state, waitingFor: why } });

  if (!ours && requested) return waiting('the requested sync has not started yet');
  // Once this change's sync succeeded, a later one (self-heal's) may follow it: the Application is then judged as it is.
  if (!ours && !oursSucceeded) {
    return {
      kind: 'failed',
      type: 'SyncLost',
      state,
      message: `the sync requested with change ${expect.changeId} was dropped: it is neither requested nor the last operation (${op ? `a sync to ${op.revision ?? '?'} by ${op.initiatedBy ?? 'unknown'}, ${op.phase}` : 'none'})`,
    };
  }
  if (!op) return waiting('no operation');
  const revision = expect.revision ?? op.revision ?? '';
  if (op.phase === 'Failed' || op.phase === 'Error') {
    return { kind: 'failed', type: 'SyncFailed', state, message: `sync to ${revision} ${op.phase === 'Error' ? 'errored' : 'failed'}: ${op.message ?? op.phase}` };
  }
  if (op.phase === 'Running' && op.retryCount) {
    return { kind: 'failed', type: 'SyncFailed', state, message: `sync to ${revision} failed and is retrying (attempt ${op.retryCount}): ${op.message ?? ''}` };
  }
  if (op.phase !== 'Succeeded') return waiting(`sync ${op.phase}: ${op.message ?? ''}`);
  if (op.revision !== revision) return { kind: 'failed', type: 'SyncFailed', state, message: `the sync reached ${op.revision ?? '?'}, not ${revision}` };

  const stalled = deployments.filter((d) => d.progressDeadlineExceeded);
  if (stalled.length > 0) {
    return {
      kind: 'failed',
      type: 'Degraded',
      state,
      message: `${s.name} is ${s.health} at ${revision}: ${stalled.map((d) => `Deployment ${d.name}: ProgressDeadlineExceeded (${d.progressDeadlineExceeded})`).join('; ')}`,
    };
  }
  const synced = s.resolvedRevision === revision && (s.syncStatus === 'Synced' || leftToPrune.length > 0);
  if (!synced) {
    const errors = s.errors.length > 0 ? `; ${s.errors.join('; ')}` : '';
    const pending = outOfSync.length > 0 ? ` (OutOfSync: ${outOfSync.map((r) => r.name).join(', ')})` : '';
    return waiting(`sync Succeeded; Argo CD compares ${s.syncStatus} at ${s.resolvedRevision ?? '?'}${pending}${errors}`);
  }
  if (s.health !== 'Healthy' || !state.deploymentsAvailable) {
    const notAvailable = deployments.filter((d) => !d.exists || !d.available).map((d) => d.name);
    return waiting(`health ${s.health}${s.healthMessage ? ` (${s.healthMessage})` : ''}${notAvailable.length > 0 ? `; not available: ${notAvailable.join(', ')}` : ''}`);
  }
  return { kind: 'done', state };
}
