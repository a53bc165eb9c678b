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
  restart: 'restart',
  runMatchingJob: 'runMatchingJob',
} as const;

interface RevisionPlan {
  application?: unknown;
  from?: unknown;
  to?: unknown;
  /** Rollback plans: how the sync prunes. */
  sync?: { prune?: unknown };
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

/**
 * Rollback and unpin set the Application's revision to the plan's target, or back to where it was
 * (the revert), and sync the target, or what ran before (the revert), pruning only if the plan does.
 */
const setDesiredRevision: GuardRule<RevisionChange> = {
  workflowTypes: [WORKFLOW_TYPES.rollback, WORKFLOW_TYPES.unpin],
  outsidePlan(plan, change) {
    const p = (plan ?? {}) as RevisionPlan;
    if (p.application !== argoApplicationName(change.instance)) return `the approved plan is for ${String(p.application)}, not ${argoApplicationName(change.instance)}`;
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

function sameInstance(plan: unknown, instance: string): string | undefined {
  const p = (plan ?? {}) as DataPlan;
  return p.instance === instance ? undefined : `the approved plan is for instance ${String(p.instance)}, not ${instance}`;
}

/** Pausing self-heal and stopping the writers: only for the instance the recovery plan names. */
const instanceChange: GuardRule<{ instance: string }> = { workflowTypes: recoveryOnly, outsidePlan: (plan, input) => sameInstance(plan, input.instance) };

const deleteDynamoDbClaim: GuardRule<{ instance: string; uid: string }> = {
  workflowTypes: recoveryOnly,
  outsidePlan(plan, input) {
    const p = (plan ?? {}) as DataPlan;
    if (sameInstance(plan, input.instance)) return sameInstance(plan, input.instance);
    if (p.claim?.action !== 'delete-and-recreate') return 'the approved plan does not delete the claim';
    if (p.claim.uid !== input.uid) return `the approved plan deletes claim ${String(p.claim.uid)}, not ${input.uid}`;
    return undefined;
  },
};

const deleteOrphanedTable: GuardRule<{ tableName: string }> = {
  workflowTypes: recoveryOnly,
  outsidePlan(plan, input) {
    const orphaned = ((plan ?? {}) as DataPlan).orphanedTablesToDelete;
    return Array.isArray(orphaned) && orphaned.includes(input.tableName) ? undefined : `the approved plan does not delete table ${input.tableName}`;
  },
};

/** The claim is recreated from exactly the spec the plan showed. */
const createDynamoDbClaim: GuardRule<{ instance: string; spec: Record<string, unknown> }> = {
  workflowTypes: recoveryOnly,
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
  pauseAutomatedSync: instanceChange,
  quiesceWriters: instanceChange,
  deleteDynamoDbClaim,
  deleteOrphanedTable,
  createDynamoDbClaim,
  importBackupSegment,
};
