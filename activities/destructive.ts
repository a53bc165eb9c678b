/**
 * Every activity that changes an instance in a way an approval must cover, with the runbooks that
 * may ask for it and how its input must match the approved plan. The worker registers these guarded
 * (activities/approval-guard.ts): a workflow task polled by someone else's worker cannot schedule
 * them without the approval.
 */
import { canonicalJson } from '../common/canonical';
import type { BackupLocation } from '../common/dynamodb-backup';
import { argoApplicationName } from '../common/instance';
import type { MatchingJobChange } from '../common/matching-job-plan';
import type { RestartChange } from '../common/restart-plan';
import type { RevisionChange } from '../common/rollback';
import type { GuardRule } from './approval-guard';

/** The workflow types (function names) of the runbooks, as the server records them. */
const WORKFLOW_TYPES = {
  rollback: 'rollback',
  unpin: 'unpin',
  dynamodbRecovery: 'dynamodbRecovery',
  dynamodbImport: 'dynamodbImport',
  sync: 'sync',
  recreateClaim: 'recreateClaim',
  restart: 'restart',
  runMatchingJob: 'runMatchingJob',
} as const;

interface RevisionPlan {
  /** Sync plans (common/sync-plan.ts): 'sync'. */
  action?: unknown;
  application?: unknown;
  from?: unknown;
  to?: unknown;
  /** Rollback plans: how the sync prunes; sync plans: the revision synced too. */
  sync?: { prune?: unknown; revision?: unknown };
  /** Unpin plans. */
  prune?: unknown;
}

/** The revisions a plan's side names: a string (unpin), or `{ revision }` / `{ desiredRevision, syncedRevision }` (rollback). */
function revisionsOf(side: unknown): { target?: string; synced?: string } {
  if (typeof side === 'string') return { target: side };
  if (side && typeof side === 'object') {
    const s = side as { revision?: unknown; desiredRevision?: unknown; syncedRevision?: unknown };
    const target = typeof s.revision === 'string' ? s.revision : typeof s.desiredRevision === 'string' ? s.desiredRevision : undefined;
    return { target, synced: typeof s.syncedRevision === 'string' ? s.syncedRevision : undefined };
  }
  return {};
}

/** A sync keeps the Application's target revision and syncs exactly it, pruning only if the plan does. */
function outsideSyncPlan(p: RevisionPlan, change: RevisionChange): string | undefined {
  const revision = p.sync?.revision;
  if (change.expectedDesiredRevision !== revision || change.toRevision !== revision) return `the approved plan keeps the target revision ${String(revision)}, not ${change.expectedDesiredRevision} → ${change.toRevision}`;
  if (change.requestSyncOf !== revision) return `the approved plan syncs ${String(revision)}, not ${change.requestSyncOf}`;
  if (change.prune && p.sync?.prune !== true) return 'the approved plan does not prune';
  return undefined;
}

/**
 * Rollback and unpin set the Application's revision to the plan's target, or back to where it was
 * (the revert), and sync the target, or what ran before (the revert), pruning only if the plan does.
 * The sync runbook requests a sync of the target revision it leaves as it is.
 */
const setDesiredRevision: GuardRule<RevisionChange> = {
  workflowTypes: [WORKFLOW_TYPES.rollback, WORKFLOW_TYPES.unpin, WORKFLOW_TYPES.sync],
  outsidePlan(plan, change) {
    const p = (plan ?? {}) as RevisionPlan;
    if (p.application !== argoApplicationName(change.instance)) return `the approved plan is for ${String(p.application)}, not ${argoApplicationName(change.instance)}`;
    if (p.action === 'sync') return outsideSyncPlan(p, change);
    const to = revisionsOf(p.to);
    const from = revisionsOf(p.from);
    const targets = [to.target, from.target].filter((r) => r !== undefined);
    if (!targets.includes(change.toRevision)) return `the approved plan moves between ${targets.join(' and ')}, not to ${change.toRevision}`;
    const syncs = [to.target, from.synced, from.target].filter((r) => r !== undefined);
    if (!syncs.includes(change.requestSyncOf)) return `the approved plan syncs ${syncs.join(' or ')}, not ${change.requestSyncOf}`;
    const prune = p.sync?.prune ?? p.prune;
    if (change.prune && prune !== true) return 'the approved plan does not prune';
    return undefined;
  },
};

/** The parts of a sync plan (common/sync-plan.ts) its Argo CD writes are checked against. */
interface SyncPlanParts {
  action?: unknown;
  application?: unknown;
  hardRefresh?: unknown;
  automatedSync?: { enable?: unknown; current?: unknown; patch?: { spec?: { syncPolicy?: { automated?: unknown } } } };
}

function sameApplication(plan: unknown, instance: string): string | undefined {
  const p = (plan ?? {}) as SyncPlanParts;
  if (p.action !== 'sync') return 'the approved plan is not a sync';
  return p.application === argoApplicationName(instance) ? undefined : `the approved plan is for ${String(p.application)}, not ${argoApplicationName(instance)}`;
}

/** The hard refresh: only of the Application the sync plan names (it changes no spec, but it is a write). */
const requestHardRefresh: GuardRule<{ instance: string }> = {
  workflowTypes: [WORKFLOW_TYPES.sync],
  outsidePlan: (plan, input) => sameApplication(plan, input.instance) ?? (((plan ?? {}) as SyncPlanParts).hardRefresh ? undefined : 'the approved plan does not refresh'),
};

/** Turning automated sync on: only when the plan says so, with exactly its patch, onto the policy it saw. */
const enableAutomatedSync: GuardRule<{ instance: string; expected: unknown; automated: unknown }> = {
  workflowTypes: [WORKFLOW_TYPES.sync],
  outsidePlan(plan, input) {
    const wrong = sameApplication(plan, input.instance);
    if (wrong) return wrong;
    const auto = ((plan ?? {}) as SyncPlanParts).automatedSync;
    if (auto?.enable !== true || !auto.patch) return 'the approved plan does not change automated sync';
    if (canonicalJson(auto.patch.spec?.syncPolicy?.automated) !== canonicalJson(input.automated)) return `the approved plan sets automated ${canonicalJson(auto.patch.spec?.syncPolicy?.automated)}, not ${canonicalJson(input.automated)}`;
    if (canonicalJson(auto.current ?? null) !== canonicalJson(input.expected ?? null)) return 'the approved plan changes another automated sync policy';
    return undefined;
  },
};

/** The parts of the DynamoDB recovery's and import's plans the rules read (common/dynamodb-backup.ts, workflows/dynamodb-import.ts). */
interface DataPlan {
  instance?: unknown;
  claim?: { uid?: unknown; action?: unknown; spec?: unknown };
  tables?: { tableName?: unknown; targetTable?: unknown }[];
  orphanedTablesToDelete?: unknown;
  backup?: { bucket?: unknown; prefix?: unknown };
  source?: { bucket?: unknown; manifestKey?: unknown; manifestSha256?: unknown };
  manifest?: { sha256?: unknown };
}

const recoveryOnly = [WORKFLOW_TYPES.dynamodbRecovery];
/** Steps the recovery and recreate-claim share: sync paused, writers stopped, the claim recreated from the planned spec. */
const recoveryOrRecreate = [WORKFLOW_TYPES.dynamodbRecovery, WORKFLOW_TYPES.recreateClaim];

function sameInstance(plan: unknown, instance: string): string | undefined {
  const p = (plan ?? {}) as DataPlan;
  return p.instance === instance ? undefined : `the approved plan is for instance ${String(p.instance)}, not ${instance}`;
}

/** Pausing self-heal and stopping the writers: only for the instance the recovery plan names. */
const instanceChange: GuardRule<{ instance: string }> = { workflowTypes: recoveryOrRecreate, outsidePlan: (plan, input) => sameInstance(plan, input.instance) };

function deletesThisClaim(plan: unknown, input: { instance: string; uid: string }): string | undefined {
  const p = (plan ?? {}) as DataPlan;
  if (sameInstance(plan, input.instance)) return sameInstance(plan, input.instance);
  if (p.claim?.action !== 'delete-and-recreate') return 'the approved plan does not delete the claim';
  if (p.claim.uid !== input.uid) return `the approved plan deletes claim ${String(p.claim.uid)}, not ${input.uid}`;
  return undefined;
}

const deleteDynamoDbClaim: GuardRule<{ instance: string; uid: string }> = { workflowTypes: recoveryOnly, outsidePlan: deletesThisClaim };

/** recreate-claim deletes the planned claim without a backup: the activity itself refuses unless every table it owns is empty. */
const deleteEmptyDynamoDbClaim: GuardRule<{ instance: string; uid: string }> = { workflowTypes: [WORKFLOW_TYPES.recreateClaim], outsidePlan: deletesThisClaim };

const deleteOrphanedTable: GuardRule<{ tableName: string }> = {
  workflowTypes: recoveryOnly,
  outsidePlan(plan, input) {
    const orphaned = ((plan ?? {}) as DataPlan).orphanedTablesToDelete;
    return Array.isArray(orphaned) && orphaned.includes(input.tableName) ? undefined : `the approved plan does not delete table ${input.tableName}`;
  },
};

/** The claim is recreated from exactly the spec the plan showed. */
const createDynamoDbClaim: GuardRule<{ instance: string; spec: Record<string, unknown> }> = {
  workflowTypes: recoveryOrRecreate,
  outsidePlan(plan, input) {
    const p = (plan ?? {}) as DataPlan;
    if (sameInstance(plan, input.instance)) return sameInstance(plan, input.instance);
    return canonicalJson(p.claim?.spec) === canonicalJson(input.spec) ? undefined : 'the claim spec differs from the one the approved plan recreates';
  },
};

/**
 * Writing items: only into a table the plan restores or imports into, and only from the backup it
 * names (a resume or an import pins the manifest's SHA-256; a fresh recovery's backup is written
 * after the approval, under the prefix the plan names).
 */
const importBackupSegment: GuardRule<{ location: BackupLocation; targetTable: string }> = {
  workflowTypes: [WORKFLOW_TYPES.dynamodbRecovery, WORKFLOW_TYPES.dynamodbImport],
  outsidePlan(plan, input) {
    const p = (plan ?? {}) as DataPlan;
    const targets = (p.tables ?? []).map((t) => t.targetTable ?? t.tableName);
    if (!targets.includes(input.targetTable)) return `the approved plan does not write table ${input.targetTable}`;
    const pinned = p.manifest?.sha256 ?? p.source?.manifestSha256;
    if (pinned !== undefined) {
      return pinned === input.location.manifestSha256 ? undefined : `the approved plan imports the manifest with SHA-256 ${JSON.stringify(pinned)}, not ${input.location.manifestSha256}`;
    }
    const prefix = typeof p.backup?.prefix === 'string' ? `${p.backup.prefix}/` : undefined;
    if (p.backup?.bucket !== input.location.bucket || !prefix || !input.location.manifestKey.startsWith(prefix)) {
      return `the approved plan restores from s3://${String(p.backup?.bucket)}/${String(p.backup?.prefix)}, not s3://${input.location.bucket}/${input.location.manifestKey}`;
    }
    return undefined;
  },
};

/** The parts of a restart plan the rule reads (common/restart-plan.ts). */
interface RestartPlanView {
  instance?: unknown;
  deployment?: { namespace?: unknown; name?: unknown; uid?: unknown };
  generation?: unknown;
}

/** `kubectl rollout restart` of exactly the Deployment (namespace, name, UID, generation) the approved plan names. */
const restartDeployment: GuardRule<RestartChange> = {
  workflowTypes: [WORKFLOW_TYPES.restart],
  outsidePlan(plan, change) {
    const p = (plan ?? {}) as RestartPlanView;
    if (p.instance !== change.instance) return `the approved plan is for instance ${String(p.instance)}, not ${change.instance}`;
    const d = p.deployment ?? {};
    if (d.namespace !== change.namespace || d.name !== change.name || d.uid !== change.uid) {
      return `the approved plan restarts Deployment ${String(d.namespace)}/${String(d.name)} (uid ${String(d.uid)}), not ${change.namespace}/${change.name} (uid ${change.uid})`;
    }
    if (p.generation !== change.generation) return `the approved plan restarts generation ${String(p.generation)}, not ${change.generation}`;
    return undefined;
  },
};

/** The one Job the approved plan names, from the CronJob (UID) it names, in its instance. */
const createMatchingJob: GuardRule<MatchingJobChange> = {
  workflowTypes: [WORKFLOW_TYPES.runMatchingJob],
  outsidePlan(plan, change) {
    const p = (plan ?? {}) as { instance?: unknown; jobName?: unknown; cronJob?: { uid?: unknown } };
    if (p.instance !== change.instance) return `the approved plan is for instance ${String(p.instance)}, not ${change.instance}`;
    if (p.jobName !== change.jobName) return `the approved plan creates Job ${String(p.jobName)}, not ${change.jobName}`;
    if (p.cronJob?.uid !== change.cronJobUid) return `the approved plan runs CronJob uid ${String(p.cronJob?.uid)}, not ${change.cronJobUid}`;
    return undefined;
  },
};

export const DESTRUCTIVE_RULES = {
  restartDeployment,
  createMatchingJob,
  setDesiredRevision,
  requestHardRefresh,
  enableAutomatedSync,
  pauseAutomatedSync: instanceChange,
  quiesceWriters: instanceChange,
  deleteDynamoDbClaim,
  deleteEmptyDynamoDbClaim,
  deleteOrphanedTable,
  createDynamoDbClaim,
  importBackupSegment,
};
