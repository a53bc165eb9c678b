/** Checks every run makes: the destructive lock, a plan that still holds, and failures worth reading. */
import { ActivityFailure, ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { planDigest } from '../../common/canonical';
import { destructiveWorkflowId } from '../../common/workflows';

/** A destructive run must hold the instance's one lock: its workflow ID. */
export function requireDestructiveLock(instance: string, destructive: boolean): void {
  const expected = destructiveWorkflowId(instance);
  if (destructive && workflowInfo().workflowId !== expected) {
    throw ApplicationFailure.create({
      type: 'InvalidInputError',
      message: `a destructive runbook for ${instance} must run as workflow ${expected}, so only one runs per instance`,
      nonRetryable: true,
    });
  }
}

/** Just before a destructive step: the live state must still be the one the plan was made from, or the approval no longer holds. */
export function requireUnchanged(what: string, planned: unknown, live: unknown): void {
  const before = planDigest(planned);
  const now = planDigest(live);
  if (before !== now) {
    throw ApplicationFailure.create({
      type: 'PlanNoLongerHolds',
      message: `${what} changed after the plan was approved (planned ${before}, now ${now}); start a new run to re-plan`,
      nonRetryable: true,
      details: [{ planned, live }],
    });
  }
}

/** "Activity task failed" says nothing: name the activity and what it reported. */
export function failureReason(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return `${err.activityType}: ${failureReason(err.cause)}`;
  return err instanceof Error ? err.message : String(err);
}
