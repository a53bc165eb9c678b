/**
 * The Argo CD changes the rollback, its revert and the unpin request, and the unpin's plan: which
 * revision goes into spec.source.targetRevision, which one the runbook's own sync syncs, and what the
 * Application is annotated with. Pure code (the workflows import it); the rollback's own plan is
 * planRollback in common/rollback.ts.
 */
import { InvalidInputError } from './instance';
import { APPLICATION_ANNOTATIONS, plannedState } from './rollback';
import type { ApplicationSnapshot, PlannedState, RevisionChange, RollbackPlan } from './rollback';

/** The run asking for a change: each change is named after it, and Argo CD records who initiated it and why. */
export interface ChangeRun {
  instance: string;
  workflowId: string;
  runId: string;
  /** The requester as the start request named them. */
  requester: string;
  reason: string;
}

/** A change named after its run and kind (`<workflow ID>/<run ID>/<kind>`), initiated by the requester for the run's reason. */
export function revisionChange(run: ChangeRun, kind: 'rollback' | 'revert' | 'unpin' | 'sync', fields: Omit<RevisionChange, 'instance' | 'changeId' | 'initiatedBy' | 'reason'>): RevisionChange {
  return { instance: run.instance, changeId: `${run.workflowId}/${run.runId}/${kind}`, initiatedBy: `vcp-runbooks:${run.requester}`, reason: run.reason, ...fields };
}

/**
 * To the planned revision, syncing it. Remembers what the pin replaced, so unpin can return to it;
 * an Application already pinned keeps the branch it had.
 */
export function rollbackChange(plan: RollbackPlan, run: ChangeRun, alreadyPinned: boolean): RevisionChange {
  return revisionChange(run, 'rollback', {
    expectedDesiredRevision: plan.from.desiredRevision,
    toRevision: plan.to.revision,
    requestSyncOf: plan.to.revision,
    prune: plan.sync.prune,
    annotations: alreadyPinned
      ? { [APPLICATION_ANNOTATIONS.pinnedBy]: run.workflowId }
      : { [APPLICATION_ANNOTATIONS.pinnedFrom]: plan.from.desiredRevision, [APPLICATION_ANNOTATIONS.pinnedBy]: run.workflowId },
  });
}

/** Back to where the Application was, syncing what ran before (not the branch's head, which may have moved since the plan). */
export function revertChange(plan: RollbackPlan, run: ChangeRun, why: string): RevisionChange {
  return {
    ...revisionChange(run, 'revert', {
      expectedDesiredRevision: plan.to.revision,
      toRevision: plan.from.desiredRevision,
      requestSyncOf: plan.from.syncedRevision ?? plan.from.desiredRevision,
      prune: plan.sync.prune,
      annotations: { [APPLICATION_ANNOTATIONS.pinnedFrom]: null, [APPLICATION_ANNOTATIONS.pinnedBy]: null },
    }),
    reason: `revert: ${why} (${run.reason})`,
  };
}

export interface UnpinPlan {
  application: string;
  /** The commit it is pinned to. */
  from: string;
  /** The branch it follows again. */
  to: string;
  prune: boolean;
  /** What must still hold just before the patch for the approval to stand. */
  planned: PlannedState;
}

const COMMIT = /^[0-9a-f]{7,40}$/;
const BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;

/** Back to `branch`, or to the branch the rollback recorded; only an Application pinned to a commit. */
export function planUnpin(app: ApplicationSnapshot, branch: string | undefined): UnpinPlan {
  const wanted = branch ?? app.pinnedFrom;
  if (!wanted) throw new InvalidInputError(`${app.name} was not pinned by a rollback runbook; say which branch to follow`);
  if (!BRANCH.test(wanted) || COMMIT.test(wanted)) throw new InvalidInputError(`${JSON.stringify(wanted)} is not a branch name`);
  if (!COMMIT.test(app.desiredRevision)) throw new InvalidInputError(`${app.name} is not pinned: it follows ${app.desiredRevision}`);
  return { application: app.name, from: app.desiredRevision, to: wanted, prune: app.prune, planned: plannedState(app) };
}

/** To the branch, syncing its head; the pin's annotations go. */
export function unpinChange(plan: UnpinPlan, run: ChangeRun): RevisionChange {
  return revisionChange(run, 'unpin', {
    expectedDesiredRevision: plan.from,
    toRevision: plan.to,
    requestSyncOf: plan.to,
    prune: plan.prune,
    annotations: { [APPLICATION_ANNOTATIONS.pinnedFrom]: null, [APPLICATION_ANNOTATIONS.pinnedBy]: null },
  });
}
