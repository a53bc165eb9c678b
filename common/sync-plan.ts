/**
 * The sync runbook's input, plan and result, and its pure planning: the guide's "Force a sync
 * operation" and "Refresh the application" (ArgoCD Application Not Syncing, steps 6 and 7), done as
 * Argo CD v3.6 behaves. Pure code (the workflow imports it).
 *
 * - The guide's "force sync" only turns automated sync on; whether Argo CD then syncs depends on what
 *   it compares. The runbook instead hard-refreshes (manifest cache invalidated, the target resolved
 *   again) and requests an explicit sync of the Application's own target revision, pruning as the sync
 *   policy says, and waits for it. Turning automated sync on is an option the plan shows with the exact
 *   patch the guide's command makes, applied only once the sync is Synced and Healthy, so Argo CD's
 *   own automated sync never races the runbook's.
 */
import { InvalidInputError } from './instance';
import { REFRESH_ANNOTATION } from './platform';
import { validateReason } from './rollback';
import type { ApplicationSnapshot, RevisionChange } from './rollback';
import type { ChangeRun } from './rollback-plan';
import { revisionChange } from './rollback-plan';
import type { RunbookOptions } from './runbook';

export interface SyncInput {
  instance: string;
  reason: string;
  /** Also turn automated sync on, as the guide's command does (prune and self-heal), once the sync is done. */
  enableAutomatedSync?: boolean;
  /** How long to wait for an operation in progress to end, and for the sync to be Synced and Healthy. Default 10 minutes. */
  rolloutTimeoutMs?: number;
  options: RunbookOptions;
}

/** The guide's `kubectl patch ... --type merge -p '{"spec":{"syncPolicy":{"automated":{"prune":true,"selfHeal":true}}}}'`. */
export const GUIDE_AUTOMATED_SYNC_PATCH = { spec: { syncPolicy: { automated: { prune: true, selfHeal: true } } } } as const;

/** The annotations a hard refresh sets, as `argocd app get --hard-refresh` does (util/argo RefreshApp, v3.6): the controller removes both once it has refreshed. */
export const REFRESH_TIMESTAMP_ANNOTATION = 'argocd.argoproj.io/refresh-timestamp';

export interface AutomatedPolicy {
  prune?: boolean;
  selfHeal?: boolean;
  enabled?: boolean;
}

/** What must still hold when the sync is requested for the approval to stand (not what runs: a sync may have run meanwhile). */
export interface SyncPlannedState {
  desiredRevision: string;
  automatedPolicy: AutomatedPolicy | null;
  syncOptions: string[];
  multiSource: boolean;
  owners: { kind: string; name: string }[];
}

export interface SyncPlan {
  /** Discriminates the plan for the approval guard (activities/destructive.ts). */
  action: 'sync';
  application: string;
  instance: string;
  /** What Argo CD reports now. */
  current: {
    syncStatus: string;
    health: string;
    healthMessage?: string;
    /** What runs (the newest history entry) and the target as last resolved. */
    syncedRevision?: string;
    resolvedRevision?: string;
    errors: string[];
    lastOperation?: { phase: string; revision?: string; message?: string };
  };
  /** First: `argocd.argoproj.io/refresh: hard`, waited for until the controller has consumed it. */
  hardRefresh: { annotation: typeof REFRESH_ANNOTATION; value: 'hard' };
  /** Then: an explicit sync operation of the Application's own target revision (unchanged), pruning as the sync policy says. */
  sync: { revision: string; prune: boolean; pruneBecause: string; syncOptions: string[] };
  automatedSync: {
    /** spec.syncPolicy.automated now (null: none). */
    current: AutomatedPolicy | null;
    enable: boolean;
    /** The JSON merge patch applied after the sync (only when `enable` and it changes something). */
    patch?: { spec: { syncPolicy: { automated: AutomatedPolicy } } };
    note: string;
  };
  risks: string[];
  refusals: string[];
  planned: SyncPlannedState;
}

export interface SyncDetails {
  application: string;
  refresh: { requestedAt: string; reconciledAtBefore?: string; reconciledAt?: string };
  /** The runbook's own sync operation, as Argo CD reported it. */
  operation: { changeId: string; phase?: string; message?: string; revision?: string; startedAt?: string; finishedAt?: string; prune: boolean };
  final: { syncStatus: string; health: string; syncedRevision?: string; resolvedRevision?: string; leftToPrune?: string[] };
  automatedSync: { before: AutomatedPolicy | null; after: AutomatedPolicy | null; changed: boolean };
}

export function validateSyncInput(input: SyncInput): { reason: string; enableAutomatedSync: boolean } {
  const reason = validateReason(input.reason);
  if (input.enableAutomatedSync !== undefined && typeof input.enableAutomatedSync !== 'boolean') throw new InvalidInputError('enableAutomatedSync must be true or false');
  if (input.rolloutTimeoutMs !== undefined && (!Number.isInteger(input.rolloutTimeoutMs) || input.rolloutTimeoutMs < 1000)) {
    throw new InvalidInputError('rolloutTimeoutMs must be a whole number of milliseconds, at least 1000');
  }
  return { reason, enableAutomatedSync: input.enableAutomatedSync === true };
}

export function syncPlannedState(app: ApplicationSnapshot): SyncPlannedState {
  return { desiredRevision: app.desiredRevision, automatedPolicy: app.automatedPolicy ?? null, syncOptions: app.syncOptions, multiSource: app.multiSource, owners: app.owners };
}

/**
 * The guide's patch, as it would land on this policy: a merge patch keeps `enabled: false`, which
 * would leave automated sync off, so `enabled` is then set back to true. Undefined when the policy
 * already is what the guide sets.
 */
export function automatedSyncPatch(current: AutomatedPolicy | null): SyncPlan['automatedSync']['patch'] {
  if (current && current.prune === true && current.selfHeal === true && current.enabled !== false) return undefined;
  const automated: AutomatedPolicy = { ...GUIDE_AUTOMATED_SYNC_PATCH.spec.syncPolicy.automated, ...(current?.enabled === false ? { enabled: true } : {}) };
  return { spec: { syncPolicy: { automated } } };
}

/** What the sync will do and risk, and why it must not run. */
export function planSync(app: ApplicationSnapshot, instance: string, options: { enableAutomatedSync: boolean }): SyncPlan {
  const risks: string[] = [];
  const refusals: string[] = [];
  if (app.owners.length > 0) {
    const owners = app.owners.map((o) => `${o.kind} ${o.name}`).join(', ');
    refusals.push(
      `${app.name} is managed by ${owners} (an app of apps or an ApplicationSet), which syncs and rewrites it from its own source (Argo CD issue #5351): sync the parent instead`,
    );
  }
  if (app.multiSource) refusals.push(`${app.name} has several sources: the runbook syncs single-source Applications; sync it with \`argocd app sync ${app.name}\``);
  for (const error of app.errors) risks.push(`Argo CD reports ${error}: the sync fails unless the hard refresh clears it`);
  if (app.health !== 'Healthy') risks.push(`the application is ${app.health} now${app.healthMessage ? ` (${app.healthMessage})` : ''}`);
  if (app.operationInProgress) {
    risks.push(`an operation is in progress (${app.lastOperation?.message ?? app.lastOperation?.phase ?? 'requested'}): the runbook waits for it to end before it requests its own sync`);
  }

  const current = app.automatedPolicy ?? null;
  const enable = options.enableAutomatedSync;
  const patch = enable ? automatedSyncPatch(current) : undefined;
  // The sync prunes as the policy that will hold says: the one the guide's patch sets, when asked for.
  const prune = enable || app.prune;
  const pruneBecause = enable
    ? 'automated sync with prune is being enabled (the guide\'s patch), so the sync prunes as that policy will'
    : app.prune
      ? 'the sync policy is automated with prune'
      : 'the sync policy does not prune (no automated sync with prune): resources the target lacks stay, reported';
  if (!prune) risks.push('the sync does not prune: resources the target revision lacks are left in place and reported');
  const note = !enable
    ? `automated sync stays as it is (${current ? JSON.stringify(current) : 'off'}); pass enableAutomatedSync to turn it on as the guide does`
    : patch
      ? `after the sync is Synced and Healthy, the guide's patch ${JSON.stringify(GUIDE_AUTOMATED_SYNC_PATCH)} turns automated sync on${current?.enabled === false ? ' (with enabled: true, which a merge patch would otherwise leave false)' : ''}`
      : 'automated sync is already on with prune and self-heal, as the guide sets it: nothing to change';
  return {
    action: 'sync',
    application: app.name,
    instance,
    current: {
      syncStatus: app.syncStatus,
      health: app.health,
      ...(app.healthMessage ? { healthMessage: app.healthMessage } : {}),
      syncedRevision: app.syncedRevision,
      resolvedRevision: app.resolvedRevision,
      errors: app.errors,
      ...(app.lastOperation ? { lastOperation: { phase: app.lastOperation.phase, revision: app.lastOperation.revision, message: app.lastOperation.message } } : {}),
    },
    hardRefresh: { annotation: REFRESH_ANNOTATION, value: 'hard' },
    sync: { revision: app.desiredRevision, prune, pruneBecause, syncOptions: app.syncOptions },
    automatedSync: { current, enable, ...(patch ? { patch } : {}), note },
    risks,
    refusals,
    planned: syncPlannedState(app),
  };
}

/** The sync request: the target revision stays, and its sync is requested with the run's change ID. */
export function syncChange(plan: SyncPlan, run: ChangeRun): RevisionChange {
  return revisionChange(run, 'sync', {
    expectedDesiredRevision: plan.sync.revision,
    toRevision: plan.sync.revision,
    requestSyncOf: plan.sync.revision,
    prune: plan.sync.prune,
  });
}
