/**
 * Destructive activities check the approval themselves. Anyone who can reach Temporal could poll the
 * task queue with a worker of their own and schedule `deleteDynamoDbClaim` (or the Argo CD patch)
 * without any approval, so the worker does not trust the workflow: each destructive activity
 * receives the approval evidence (the approved plan and the signed statements) and, before acting,
 * verifies against the worker's current keyring and configured policy that
 * - the run's start request (read from the server's own history, which no worker can rewrite) is
 *   signed by its requester;
 * - enough distinct allowed keys, none of them the requester's, signed an approval of exactly this
 *   plan for exactly this run;
 * - the action it is asked to do is the one the plan describes.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { keyFingerprint, mayApprove, verifySignature } from '../common/approval';
import { planDigest } from '../common/canonical';
import { StartRequestRefused, verifyStartRequest } from '../common/start-request';
import type { ApprovalEvidence } from '../common/runbook';
import type { ApprovalConfig } from '../common/runbook';
import { currentApprovals } from './runbook';

/** Which runbooks (workflow types) may ask for an action, and how the action must match their plan. */
export interface GuardRule<I> {
  workflowTypes: string[];
  /** Why this input is not what the plan approved, or undefined when it is. */
  outsidePlan(plan: unknown, input: I): string | undefined;
}

function refuse(message: string): never {
  throw ApplicationFailure.create({ type: 'ApprovalEvidenceRefused', message, nonRetryable: true });
}

/** The run's input as the server recorded it at the start. */
async function startedInput(ctx: Context): Promise<{ input: unknown; startedAtMs: number }> {
  const info = ctx.info;
  const execution = info.workflowExecution;
  if (!execution || !info.workflowNamespace) refuse('this activity runs only on behalf of a workflow');
  const response = await ctx.client.workflowService.getWorkflowExecutionHistory({
    namespace: info.workflowNamespace,
    execution: { workflowId: execution.workflowId, runId: execution.runId },
    maximumPageSize: 1,
  });
  const started = response.history?.events?.[0];
  const payload = started?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!started || !payload) refuse(`the start of ${execution.workflowId}/${execution.runId} cannot be read`);
  const seconds = Number(started.eventTime?.seconds ?? 0);
  const nanos = started.eventTime?.nanos ?? 0;
  return { input: defaultPayloadConverter.fromPayload(payload), startedAtMs: seconds * 1000 + Math.floor(nanos / 1e6) };
}

async function verifyApprovalEvidence<I>(
  approvalsSource: ApprovalConfig | (() => ApprovalConfig),
  evidence: ApprovalEvidence | undefined,
  rule: GuardRule<I>,
  input: I,
): Promise<{ approvers: string[] }> {
  const ctx = Context.current();
  const info = ctx.info;
  const execution = info.workflowExecution;
  if (!execution) refuse('this activity runs only on behalf of a workflow');
  if (!rule.workflowTypes.includes(info.workflowType ?? '')) {
    refuse(`${info.activityType} may not be run by a ${info.workflowType ?? 'unknown'} workflow`);
  }
  if (!evidence || typeof evidence !== 'object' || !Array.isArray(evidence.approvals)) {
    refuse(`${info.activityType} changes the instance and needs the approval it acts on; none was given`);
  }
  const { keyring, policies } = currentApprovals(approvalsSource);
  const policy = policies[evidence.runbook] ?? policies.default;
  if (!policy) refuse(`no approval policy for ${evidence.runbook}`);

  const { input: started, startedAtMs } = await startedInput(ctx);
  let requester;
  try {
    requester = verifyStartRequest(keyring, execution.workflowId, started as { options: { requestedBy: never } }, startedAtMs, policy.allowUnsigned);
  } catch (err) {
    if (err instanceof StartRequestRefused) refuse(`the run's start request does not hold: ${err.message}`);
    throw err;
  }

  const digest = planDigest(evidence.plan);
  const counted = new Map<string, string>();
  const problems: string[] = [];
  for (const approval of evidence.approvals) {
    const who = String(approval?.approver);
    if (approval.workflowId !== execution.workflowId || approval.runId !== execution.runId) {
      problems.push(`${who}'s approval is for another run`);
      continue;
    }
    if (approval.planDigest !== digest) {
      problems.push(`${who}'s approval is for plan ${approval.planDigest}, not the plan given (${digest})`);
      continue;
    }
    if (approval.decision !== 'approve') continue;
    const key = keyring.approvers.find((k) => k.user === approval.approver);
    if (approval.signature === undefined ? !policy.allowUnsigned : !key || !verifySignature(approval, key.publicKey)) {
      problems.push(`${who}'s signature does not verify against the current keyring`);
      continue;
    }
    if (!mayApprove(policy, key, approval.approver)) {
      problems.push(`${who} may not approve ${evidence.runbook}`);
      continue;
    }
    const identity = key ? keyFingerprint(key.publicKey) : `unsigned:${who}`;
    if (policy.fourEyes && (who === requester.user || (key && key.publicKey === requester.publicKey))) {
      problems.push(`${who} requested this run (four-eyes)`);
      continue;
    }
    counted.set(identity, who);
  }
  if (counted.size < policy.minApprovals) {
    refuse(
      `${info.activityType} refused: ${counted.size} valid approval(s) of ${policy.minApprovals} required for ${evidence.runbook}` +
        (problems.length > 0 ? ` (${problems.join('; ')})` : ''),
    );
  }
  const outside = rule.outsidePlan(evidence.plan, input);
  if (outside) refuse(`${info.activityType} refused: ${outside}`);
  return { approvers: [...counted.values()] };
}

/** The activities with the guarded ones requiring the approval evidence in their input (checked by the compiler too). */
export type Guarded<A, K extends keyof A> = {
  [P in keyof A]: P extends K ? (A[P] extends (input: infer I) => infer R ? (input: I & { approval: ApprovalEvidence }) => R : A[P]) : A[P];
};

/**
 * Wraps the named activities so each verifies the approval evidence in its input (`approval`) first.
 * The wrapped function is what the worker registers; the inner one is what tests of the action call.
 */
export function guardActivities<A extends Record<string, (...args: never[]) => Promise<unknown>>, R extends { [K in keyof A]?: GuardRule<Parameters<A[K]>[0]> }>(
  approvalsSource: ApprovalConfig | (() => ApprovalConfig),
  activities: A,
  rules: R,
): Guarded<A, keyof R & keyof A> {
  const guarded: Record<string, unknown> = { ...activities };
  for (const [name, rule] of Object.entries(rules) as [keyof A & string, GuardRule<unknown>][]) {
    const inner = activities[name] as unknown as (input: { approval?: ApprovalEvidence }) => Promise<unknown>;
    guarded[name] = async (input: { approval?: ApprovalEvidence }) => {
      await verifyApprovalEvidence(approvalsSource, input?.approval, rule, input);
      return inner(input);
    };
  }
  return guarded as Guarded<A, keyof R & keyof A>;
}
