/**
 * The rollback runbook's inputs, plan and results, and the pure planning logic (shared by the
 * workflow and the CLI's preview). Pure code.
 */
import { InvalidInputError } from './instance';
import type { RunbookOptions } from './runbook';

export interface RollbackInput {
  instance: string;
  /** "previous" (the newest history entry before the current revision) or a revision from the history. */
  target: string;
  reason: string;
  options: RunbookOptions;
  /** Proceed although the app is owned by a parent (app-of-apps / ApplicationSet) that may revert the change. */
  acceptOwnedApplication?: boolean;
  /** Proceed although the app has several sources: only the first source's revision is changed. */
  acceptMultiSource?: boolean;
  /** How long to wait for the rollout (and, on failure, for the revert). Default 10 minutes. */
  rolloutTimeoutMs?: number;
}

export interface UnpinInput {
  instance: string;
  /** The branch to follow again; defaults to the one the rollback recorded on the Application. */
  branch?: string;
  reason: string;
  options: RunbookOptions;
  rolloutTimeoutMs?: number;
}

export interface HistorySummary {
  id: number;
  revision: string;
  deployedAt: string;
}

export interface ApplicationSnapshot {
  name: string;
  namespace?: string;
  resourceVersion: string;
  /** spec.source.targetRevision (of the first source for multi-source apps): a branch, tag or commit. */
  desiredRevision: string;
  /** What runs now: the revision of the newest history entry, i.e. of the last sync that succeeded. */
  syncedRevision?: string;
  /** The desired revision as Argo CD resolved it at its last refresh (status.sync.revision), synced or not. */
  resolvedRevision?: string;
  syncStatus: string;
  health: string;
  healthMessage?: string;
  history: HistorySummary[];
  automatedSync: boolean;
  selfHeal: boolean;
  /** spec.syncPolicy.automated as written (absent: no automated sync); `enabled: false` turns it off while kept. */
  automatedPolicy?: { prune?: boolean; selfHeal?: boolean; enabled?: boolean };
  /** status.reconciledAt: when Argo CD last compared the Application with its target (whole seconds). */
  reconciledAt?: string;
  /** Whether the sync policy prunes (automated sync with prune); the runbooks' syncs follow it. */
  prune: boolean;
  syncOptions: string[];
  multiSource: boolean;
  owners: { kind: string; name: string }[];
  pinnedFrom?: string;
  /** Errors Argo CD reports on the Application: ComparisonError, InvalidSpecError, SyncError, ... */
  errors: string[];
  lastOperation?: {
    phase: string;
    revision?: string;
    startedAt: string;
    finishedAt?: string;
    message?: string;
    /** Failed attempts so far of an operation that retries (it stays Running meanwhile). */
    retryCount?: number;
    initiatedBy?: string;
    /** The change a runbook requested this operation for (see SYNC_CHANGE_INFO). */
    changeId?: string;
  };
  /** An operation is requested or running (retries included): Argo CD would drop another request. */
  operationInProgress: boolean;
}

export interface RolloutState extends ApplicationSnapshot {
  deploymentsAvailable: boolean;
  /** The last operation is the one this change requested. */
  ours: boolean;
  /** This change's sync was seen Succeeded (a later sync, such as self-heal's, may have followed it). */
  oursSucceeded: boolean;
  /** Resources left OutOfSync because the sync did not prune them (the sync policy does not prune). */
  leftToPrune: string[];
  /** What the wait still waits for, in words. */
  waitingFor?: string;
}

export interface RevisionChange {
  instance: string;
  /** Unique per change: marks the sync operation requested with it, and makes a retried attempt a no-op. */
  changeId: string;
  expectedDesiredRevision: string;
  toRevision: string;
  /** The revision (commit or branch) the requested sync operation syncs. */
  requestSyncOf: string;
  /** Whether that sync prunes: as the plan says (the sync policy's prune). */
  prune: boolean;
  initiatedBy: string;
  reason: string;
  annotations?: Record<string, string | null>;
}

/** What a rollout wait needs to recognize its own sync and judge it. */
export interface RolloutExpectation {
  instance: string;
  changeId: string;
  /** The commit the sync must reach; without it (following a branch again) the operation's result. */
  revision?: string;
  prune: boolean;
  /** An earlier look saw this change's sync Succeeded (the poll's heartbeat carries it to the next). */
  oursSucceeded?: boolean;
}

export interface RollbackPlan {
  application: string;
  from: { desiredRevision: string; syncedRevision?: string };
  to: { revision: string; historyId: number; deployedAt: string };
  /**
   * The rollback requests its own sync operation (Argo CD starts none by itself when the manifests do
   * not change), pruning as the sync policy says.
   */
  sync: { prune: boolean };
  risks: string[];
  /** What pinning a commit means for the app afterwards. */
  pinning: string;
  refusals: string[];
  /** What must still hold just before the patch for the approval to stand. */
  planned: PlannedState;
}

export interface PlannedState {
  desiredRevision: string;
  syncedRevision?: string;
  automatedSync: boolean;
  prune: boolean;
  multiSource: boolean;
}

export interface RollbackDetails {
  application: string;
  from: { desiredRevision: string; syncedRevision?: string };
  to: string;
  timings: { planReadyAt: string; approvedAt: string; patchedAt: string; syncedAt: string; rolloutSeconds: number };
  final: { syncStatus: string; health: string; syncedRevision?: string; leftToPrune?: string[] };
}

const REVISION = /^[0-9a-f]{7,40}$/;

export interface UnpinDetails {
  application: string;
  from: string;
  to: string;
  syncedRevision?: string;
}

export function validateRollbackTarget(target: unknown): string {
  if (typeof target !== 'string' || target.length === 0) throw new InvalidInputError('target is required: "previous" or a commit from the history');
  if (target !== 'previous' && !REVISION.test(target)) {
    throw new InvalidInputError(`target ${JSON.stringify(target)} is neither "previous" nor a commit hash (7-40 lowercase hex digits)`);
  }
  return target;
}

export function validateReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length < 3) throw new InvalidInputError('a reason is required (at least 3 characters): it goes into the audit record');
  return reason.trim();
}

export function plannedState(app: ApplicationSnapshot): PlannedState {
  return { desiredRevision: app.desiredRevision, syncedRevision: app.syncedRevision, automatedSync: app.automatedSync, prune: app.prune, multiSource: app.multiSource };
}

/** Resolves the target against the history and states what the rollback will do and risk. */
export function planRollback(app: ApplicationSnapshot, target: string, accept: { owned?: boolean; multiSource?: boolean } = {}): RollbackPlan {
  const current = app.syncedRevision;
  const matches = (entry: HistorySummary) => entry.revision === target || (target.length < 40 && entry.revision.startsWith(target));
  const entry =
    target === 'previous'
      ? [...app.history].reverse().find((h) => h.revision !== current)
      : [...app.history].reverse().find(matches);
  if (!entry) {
    const known = [...new Set(app.history.map((h) => h.revision.slice(0, 12)))].join(', ') || 'none';
    throw new InvalidInputError(
      target === 'previous'
        ? `${app.name} has no earlier revision in its history to roll back to (history: ${known})`
        : `revision ${target} is not in ${app.name}'s deployment history (known: ${known})`,
    );
  }
  if (entry.revision === current) throw new InvalidInputError(`${app.name} already runs ${entry.revision}`);

  const risks: string[] = [];
  const refusals: string[] = [];
  if (app.owners.length > 0) {
    const owners = app.owners.map((o) => `${o.kind} ${o.name}`).join(', ');
    const handling = `owned by ${owners}, which may revert the change on its next sync (Argo CD issue #5351); pause or update the parent too`;
    risks.push(handling);
    if (!accept.owned) refusals.push(`${app.name} is ${handling}. Accept this handling explicitly to proceed.`);
  }
  if (app.multiSource) {
    const handling = 'has several sources: only the first source\'s targetRevision is changed';
    risks.push(handling);
    if (!accept.multiSource) refusals.push(`${app.name} ${handling}. Accept this handling explicitly to proceed.`);
  }
  if (app.health !== 'Healthy') risks.push(`the application is ${app.health} now`);
  if (app.syncStatus !== 'Synced') risks.push(`the application is ${app.syncStatus} now (desired ${app.desiredRevision} at ${app.resolvedRevision ?? '?'}, running ${current ?? 'unknown'})`);
  for (const error of app.errors) risks.push(`Argo CD reports ${error}`);
  if (app.operationInProgress) {
    risks.push(`an operation is in progress (${app.lastOperation?.message ?? app.lastOperation?.phase ?? 'requested'}): the rollback waits for it to end before it requests its own sync`);
  }
  if (!app.prune) risks.push('the sync does not prune (the sync policy does not): resources the target revision lacks are left in place and reported');
  const newer = app.history.filter((h) => h.id > entry.id && h.revision !== entry.revision).length;
  if (newer > 1) risks.push(`skips ${newer} newer deployments`);

  const pinned = REVISION.test(app.desiredRevision);
  return {
    application: app.name,
    from: { desiredRevision: app.desiredRevision, syncedRevision: current },
    to: { revision: entry.revision, historyId: entry.id, deployedAt: entry.deployedAt },
    sync: { prune: app.prune },
    risks,
    pinning: pinned
      ? `${app.name} is already pinned to ${app.desiredRevision}; it stays pinned, now to ${entry.revision}`
      : `${app.name} stops following ${app.desiredRevision} and stays on ${entry.revision} until unpinned (runbook unpin ${app.namespace ?? ''})`.trim(),
    refusals,
    planned: plannedState(app),
  };
}

/** Annotations the runbooks leave on an Application: what a pin replaced and the run that pinned it (unpin returns to it), and the change a patch made (a retried patch recognises its own). */
export const APPLICATION_ANNOTATIONS = {
  pinnedFrom: 'vcp-runbooks.io/pinned-from',
  pinnedBy: 'vcp-runbooks.io/pinned-by',
  changeId: 'vcp-runbooks.io/change-id',
} as const;
