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

/** The run did not reach its approval gate: it ended first, or not within the wait. */
export class ApprovalGateNotReached extends Error {
  override readonly name = 'ApprovalGateNotReached';
  constructor(
    message: string,
    readonly why: 'ended' | 'timeout',
    readonly last?: ProgressSnapshot,
  ) {
    super(message);
  }
}

/** The step a run is at (the running one, else the last done), for "waiting for the gate" lines. */
export function currentStep(snapshot: ProgressSnapshot): string {
  const running = snapshot.steps.find((s) => s.state === 'running');
  const step = running ?? [...snapshot.steps].reverse().find((s) => s.state === 'done' || s.state === 'failed');
  return step ? `${step.title} (${step.state})` : 'not started';
}

export interface GateWaitOptions {
  signal?: AbortSignal;
  /** Called when the run's step or status changes while it has not reached the gate. */
  onProgress?: (snapshot: ProgressSnapshot) => void;
  pollMs?: number;
}

/**
 * Waits until the run asks for approval, polling its progress query; returns its progress (plan,
 * digest). Throws ApprovalGateNotReached if it ends first or `timeoutMs` passes.
 */
export async function waitForApprovalGate(handle: WorkflowHandle, timeoutMs = 120_000, options: GateWaitOptions | AbortSignal = {}): Promise<ProgressSnapshot> {
  const { signal, onProgress, pollMs = 150 } = options instanceof AbortSignal ? { signal: options } : options;
  const deadline = Date.now() + timeoutMs;
  let shown: string | undefined;
  for (;;) {
    // The caller stopped waiting (the run ended another way): no query may outlive its connection.
    if (signal?.aborted) throw new Error(`stopped waiting for ${handle.workflowId}'s approval gate`);
    // The query fails until the first workflow task has run, and waits for a worker while none polls:
    // each query gets at most what is left of the wait (a late answer is dropped).
    const left = Math.max(deadline - Date.now(), pollMs);
    const snapshot = await Promise.race([
      handle.query(progressQuery).catch(() => undefined),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.min(left, 10_000)).unref()),
    ]);
    if (snapshot?.status === 'AwaitingApproval' && snapshot.approval) return snapshot;
    if (snapshot && ENDED.includes(snapshot.status)) {
      throw new ApprovalGateNotReached(`${handle.workflowId} ended (${snapshot.status}) before asking for approval`, 'ended', snapshot);
    }
    if (snapshot && onProgress) {
      const now = `${snapshot.status} ${currentStep(snapshot)}`;
      if (now !== shown) onProgress(snapshot);
      shown = now;
    }
    if (Date.now() > deadline) {
      throw new ApprovalGateNotReached(
        `${handle.workflowId} did not reach its approval gate within ${timeoutMs} ms (status ${snapshot?.status ?? 'unknown'}, at ${snapshot ? currentStep(snapshot) : 'unknown step'})`,
        'timeout',
        snapshot,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Sends a decision; the run's validator answers at once with the reason if it refuses. */
export async function decide(handle: WorkflowHandle, options: ApprovalRequestOptions): Promise<ApprovalProgress> {
  const { runId, snapshot } = await waitingApproval(handle);
  const planDigest = options.planDigest ?? snapshot.approval?.planDigest;
  if (!planDigest) throw new Error(`${handle.workflowId} is not waiting for an approval (status ${snapshot.status})`);
  return handle.executeUpdate(approveUpdate, { args: [buildApproval(handle.workflowId, runId, planDigest, options)] });
}
