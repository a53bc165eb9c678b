/** Approving or rejecting a waiting run: builds the statement, signs it, sends the `approve` Update. */
import type { WorkflowHandle } from '@temporalio/client';
import { signApproval } from '../common/approval';
import type { ApprovalDecision, SignedApproval } from '../common/approval';
import { approveUpdate, progressQuery } from '../common/runbook';
import type { ApprovalProgress, ProgressSnapshot } from '../common/runbook';

export interface ApprovalRequestOptions {
  approver: string;
  /** Ed25519 private key; omit only where the policy accepts unsigned approvals. */
  privateKey?: Uint8Array;
  decision: ApprovalDecision;
  comment?: string;
  inputs?: Record<string, string>;
  /** How long the signed statement stays valid. */
  validForMs?: number;
  /** The plan digest the approver reviewed; defaults to the one the run is waiting on. */
  planDigest?: string;
}

async function waitingApproval(handle: WorkflowHandle): Promise<{ runId: string; snapshot: ProgressSnapshot }> {
  const [description, snapshot] = await Promise.all([handle.describe(), handle.query(progressQuery)]);
  return { runId: description.runId, snapshot };
}

export function buildApproval(
  workflowId: string,
  runId: string,
  planDigest: string,
  options: ApprovalRequestOptions,
  now = Date.now(),
): SignedApproval {
  const statement = {
    workflowId,
    runId,
    planDigest,
    decision: options.decision,
    approver: options.approver,
    expiresAt: new Date(now + (options.validForMs ?? 15 * 60 * 1000)).toISOString(),
    inputs: options.inputs ?? {},
    comment: options.comment ?? '',
  };
  return options.privateKey ? signApproval(statement, options.privateKey) : statement;
}

const ENDED: ProgressSnapshot['status'][] = ['Succeeded', 'Failed', 'Rejected', 'TimedOut', 'Cancelled', 'Planned'];

/** Waits until the run asks for approval; returns its progress (plan, digest). Fails if it ends first. */
export async function waitForApprovalGate(handle: WorkflowHandle, timeoutMs = 120_000, signal?: AbortSignal): Promise<ProgressSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The caller stopped waiting (the run ended another way): no query may outlive its connection.
    if (signal?.aborted) throw new Error(`stopped waiting for ${handle.workflowId}'s approval gate`);
    // The query fails until the first workflow task has run; keep polling until the deadline.
    const snapshot = await handle.query(progressQuery).catch(() => undefined);
    if (snapshot?.status === 'AwaitingApproval' && snapshot.approval) return snapshot;
    if (snapshot && ENDED.includes(snapshot.status)) throw new Error(`${handle.workflowId} ended (${snapshot.status}) before asking for approval`);
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} did not reach its approval gate within ${timeoutMs} ms (status ${snapshot?.status ?? 'unknown'})`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/** Sends a decision; the run's validator answers at once with the reason if it refuses. */
export async function decide(handle: WorkflowHandle, options: ApprovalRequestOptions): Promise<ApprovalProgress> {
  const { runId, snapshot } = await waitingApproval(handle);
  const planDigest = options.planDigest ?? snapshot.approval?.planDigest;
  if (!planDigest) throw new Error(`${handle.workflowId} is not waiting for an approval (status ${snapshot.status})`);
  return handle.executeUpdate(approveUpdate, { args: [buildApproval(handle.workflowId, runId, planDigest, options)] });
}
