/**
 * Every activity that changes an instance in a way an approval must cover, with the runbooks that
 * may ask for it and how its input must match the approved plan. The worker registers these guarded
 * (activities/approval-guard.ts): a workflow task polled by someone else's worker cannot schedule
 * them without the approval.
 */
import { argoApplicationName } from '../common/instance';
import type { RevisionChange } from '../common/rollback';
import type { GuardRule } from './approval-guard';

/** The workflow types (function names) of the runbooks, as the server records them. */
export const WORKFLOW_TYPES = {
  rollback: 'rollback',
  unpin: 'unpin',
  dynamodbRecovery: 'dynamodbRecovery',
  dynamodbImport: 'dynamodbImport',
} as const;

interface RevisionPlan {
  application?: unknown;
  from?: unknown;
  to?: unknown;
}

function revisionOf(side: unknown): string | undefined {
  if (typeof side === 'string') return side;
  if (side && typeof side === 'object') {
    const s = side as { revision?: unknown; desiredRevision?: unknown };
    if (typeof s.revision === 'string') return s.revision;
    if (typeof s.desiredRevision === 'string') return s.desiredRevision;
  }
  return undefined;
}

/** Rollback and unpin set the Application's revision to the plan's target, or back to where it was (the revert). */
const setDesiredRevision: GuardRule<RevisionChange> = {
  workflowTypes: [WORKFLOW_TYPES.rollback, WORKFLOW_TYPES.unpin],
  outsidePlan(plan, change) {
    const p = (plan ?? {}) as RevisionPlan;
    if (p.application !== argoApplicationName(change.instance)) return `the approved plan is for ${String(p.application)}, not ${argoApplicationName(change.instance)}`;
    const allowed = [revisionOf(p.to), revisionOf(p.from)].filter((r) => r !== undefined);
    if (!allowed.includes(change.toRevision)) return `the approved plan moves between ${allowed.join(' and ')}, not to ${change.toRevision}`;
    return undefined;
  },
};

export const DESTRUCTIVE_RULES = { setDesiredRevision };
