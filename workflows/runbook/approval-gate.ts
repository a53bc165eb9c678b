/**
 * The human in the loop. A runbook asks for approval of a plan (bound by its digest) and waits.
 * Approvals arrive as the `approve` Update; its validator verifies each signed statement in pure
 * code, so a refused approval is answered at once and leaves no trace in history (it is logged).
 */
import { ApplicationFailure, CancellationScope, condition, isCancellation, log, patched, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { APPROVAL_LIMITS, approvedDigest, keyFingerprint, mayApprove, verifySignature } from '../../common/approval';
import type { ApprovalPolicy, ApproverKey, ApproverKeyring, SignedApproval } from '../../common/approval';
import { approveUpdate } from '../../common/runbook';
import type { ApprovalProgress, ApprovalRecord } from '../../common/runbook';
import type { AuthenticatedRequester } from '../../common/start-request';

/**
 * Each decision is checked again against the keyring as it is now (re-read by an activity), and
 * approvals whose key has been removed or replaced since stop counting: a key taken off the keyring
 * no longer approves runs that are already waiting. Runs that decided before this replay without it.
 */
const KEYRING_RECHECK_PATCH = 'approval-keyring-recheck';

class ApprovalRefused extends Error {
  override readonly name = 'ApprovalRefused';
  /** True when the keyring as last read decided it: a newer keyring (a key added or rotated since) may not. */
  constructor(
    message: string,
    readonly byKeyring = false,
  ) {
    super(message);
  }
}

export interface ApprovalGateOptions {
  planDigest: string;
  policy: ApprovalPolicy;
  keyring: ApproverKeyring;
  requester: AuthenticatedRequester;
  /** Reads the keyring as it is now (an activity); absent in runs that replay without the recheck. */
  currentKeyring?: () => Promise<ApproverKeyring>;
  /** Called (outside the validator) when the gate opens, for each reminder, and never from a validator. */
  onReminder?: (remainingMs: number) => Promise<void>;
}

export type ApprovalDecisionResult =
  | { approved: true; progress: ApprovalProgress; byTimeout: boolean; signed: SignedApproval[] }
  | { approved: false; progress: ApprovalProgress; reason: string; timedOut: boolean };

/** One gate per run; the Update handler is installed once and answers "not waiting" outside a gate. */
export class ApprovalGate {
  private waiting?: { options: ApprovalGateOptions; progress: ApprovalProgress };
  /** The statements as signed, by approver, for the evidence destructive activities verify. */
  private signed = new Map<string, SignedApproval>();

  constructor(private readonly onChange: (progress: ApprovalProgress) => void) {
    setHandler(approveUpdate, (approval) => this.decide(approval), {
      validator: (approval: SignedApproval) => {
        try {
          this.check(approval);
        } catch (err) {
          // The validator cannot read the keyring, so what only its last copy refuses (an approver
          // added or a key rotated since) goes to the handler, which reads it again and decides.
          if (err instanceof ApprovalRefused && err.byKeyring && this.waiting?.options.currentKeyring) return;
          // Rejected Updates are not recorded in history, so the log is their only trace.
          log.warn('approval refused', {
            approver: (approval as Partial<SignedApproval> | undefined)?.approver,
            reason: err instanceof Error ? err.message : String(err),
          });
          throw err;
        }
      },
    });
  }

  /** Opens the gate and waits for a quorum, a rejection or the timeout (which rejects by default). */
  async waitForDecision(options: ApprovalGateOptions): Promise<ApprovalDecisionResult> {
    const now = Date.now();
    const progress: ApprovalProgress = {
      state: 'waiting',
      planDigest: options.planDigest,
      requestedAt: new Date(now).toISOString(),
      deadline: new Date(now + options.policy.timeoutMs).toISOString(),
      minApprovals: options.policy.minApprovals,
      approvals: [],
    };
    this.waiting = { options, progress };
    this.signed = new Map();
    this.onChange(progress);

    const reminders = new CancellationScope();
    const reminding = reminders.run(() => this.remind(options)).catch((err: unknown) => {
      if (!isCancellation(err)) throw err;
    });
    const decided = await condition(() => progress.state !== 'waiting', options.policy.timeoutMs);
    reminders.cancel();
    await reminding;

    if (!decided) {
      if (options.policy.onTimeout === 'approve') {
        progress.state = 'approved';
        progress.inputs = {};
        progress.approvedDigest = approvedDigest(options.planDigest, {});
      } else {
        progress.state = 'timed-out';
      }
    }
    this.waiting = undefined;
    this.onChange(progress);
    if (progress.state === 'approved') {
      const counted = progress.approvals.filter((a) => a.decision === 'approve' && !a.withdrawn).map((a) => this.signed.get(a.approver));
      return { approved: true, progress, byTimeout: !decided, signed: counted.filter((a) => a !== undefined) };
    }
    const rejection = progress.approvals.find((a) => a.decision === 'reject');
    const reason = rejection
      ? `rejected by ${rejection.approver}${rejection.comment ? `: ${rejection.comment}` : ''}`
      : `no decision within ${Math.round(options.policy.timeoutMs / 1000)}s; the policy rejects on timeout`;
    return { approved: false, progress, reason, timedOut: !rejection };
  }

  private async remind(options: ApprovalGateOptions): Promise<void> {
    const timeout = options.policy.timeoutMs;
    const marks = [...new Set(options.policy.remindBeforeTimeoutMs)]
      .filter((before) => before > 0 && before < timeout)
      .sort((a, b) => b - a);
    let elapsed = 0;
    for (const before of marks) {
      await sleep(timeout - before - elapsed);
      elapsed = timeout - before;
      await options.onReminder?.(before);
    }
  }

  /** Every reason an approval is refused; throws ApprovalRefused with a message for the approver. */
  private check(approval: SignedApproval): { groups: string[]; verified: boolean } {
    const gate = this.waiting;
    if (!gate) throw new ApprovalRefused('this run is not waiting for an approval');
    const { options, progress } = gate;
    const { policy } = options;
    const info = workflowInfo();
    if (typeof approval !== 'object' || approval === null) throw new ApprovalRefused('an approval must be an object');
    if (approval.decision !== 'approve' && approval.decision !== 'reject') {
      throw new ApprovalRefused('decision must be "approve" or "reject"');
    }
    if (typeof approval.approver !== 'string' || approval.approver === '') throw new ApprovalRefused('approver is required');
    if (approval.workflowId !== info.workflowId || approval.runId !== info.runId) {
      throw new ApprovalRefused(
        `this approval is for run ${approval.workflowId}/${approval.runId}, not ${info.workflowId}/${info.runId}`,
      );
    }
    if (approval.planDigest !== progress.planDigest) {
      throw new ApprovalRefused(
        `this approval is for plan ${approval.planDigest}, but the plan awaiting approval is ${progress.planDigest}`,
      );
    }
    const now = Date.now();
    if (now > Date.parse(progress.deadline)) throw new ApprovalRefused(`the approval window closed at ${progress.deadline}`);
    const expiresAt = Date.parse(approval.expiresAt);
    if (Number.isNaN(expiresAt)) throw new ApprovalRefused('expiresAt must be an ISO timestamp');
    if (expiresAt <= now) throw new ApprovalRefused(`this approval expired at ${approval.expiresAt}`);
    if (expiresAt > now + APPROVAL_LIMITS.maxStatementValidityMs + APPROVAL_LIMITS.clockSkewMs) {
      throw new ApprovalRefused(`expiresAt ${approval.expiresAt} is too far ahead: a statement may be valid for at most ${APPROVAL_LIMITS.maxStatementValidityMs / 60000} minutes`);
    }

    const key = options.keyring.approvers.find((k) => k.user === approval.approver);
    let verified = false;
    if (approval.signature !== undefined) {
      if (!key) throw new ApprovalRefused(`${approval.approver} has no key on the approvers keyring`, true);
      if (!verifySignature(approval, key.publicKey)) {
        throw new ApprovalRefused(`the signature does not verify against ${approval.approver}'s key (${keyFingerprint(key.publicKey)})`, true);
      }
      verified = true;
    } else if (!policy.allowUnsigned) {
      throw new ApprovalRefused('unsigned approvals are not accepted: sign it with your approver key (runbook keys init)');
    }
    if (key?.kind === 'service') throw new ApprovalRefused(`${approval.approver} is a service identity: services request runs but never approve them`);
    if (!mayApprove(policy, key, approval.approver)) {
      const allowed = [policy.approvers, policy.narrowedApprovers].filter((a) => a !== undefined).map((a) => [...a.users, ...a.groups.map((g) => `group ${g}`)].join(', ') || 'anyone');
      throw new ApprovalRefused(`${approval.approver} may not approve this run (allowed: ${allowed.join('; and of those: ')})`, true);
    }
    if (policy.fourEyes && sameIdentity(options.requester, approval.approver, key)) {
      throw new ApprovalRefused(`four-eyes policy: ${approval.approver} requested this run${options.requester.user !== approval.approver ? ` (as ${options.requester.user}, with the same key)` : ''} and may not approve it`);
    }
    if (progress.approvals.some((a) => a.approver === approval.approver && !a.withdrawn)) {
      throw new ApprovalRefused(`${approval.approver} has already decided on this run`);
    }
    if (approval.decision === 'approve') this.checkInputs(approval.inputs ?? {}, policy, progress);
    return { groups: key?.groups ?? [], verified };
  }

  private checkInputs(inputs: Record<string, string>, policy: ApprovalPolicy, progress: ApprovalProgress): void {
    if (typeof inputs !== 'object' || inputs === null) throw new ApprovalRefused('inputs must be an object of strings');
    const specs = new Map(policy.inputs.map((spec) => [spec.name, spec]));
    for (const [name, value] of Object.entries(inputs)) {
      const spec = specs.get(name);
      if (!spec) throw new ApprovalRefused(`unknown input ${name} (this approval takes: ${[...specs.keys()].join(', ') || 'none'})`);
      if (typeof value !== 'string') throw new ApprovalRefused(`input ${name} must be a string`);
      if (spec.pattern !== undefined && !new RegExp(`^(?:${spec.pattern})$`).test(value)) {
        throw new ApprovalRefused(`input ${name}=${JSON.stringify(value)} does not match ${spec.pattern}`);
      }
      if (spec.allowedValues && !spec.allowedValues.includes(value)) {
        throw new ApprovalRefused(`input ${name}=${JSON.stringify(value)} is not one of ${spec.allowedValues.join(', ')}`);
      }
    }
    for (const spec of policy.inputs) {
      if (spec.required && inputs[spec.name] === undefined) throw new ApprovalRefused(`input ${spec.name} is required: ${spec.description}`);
    }
    const earlier = progress.approvals.find((a) => a.decision === 'approve' && !a.withdrawn);
    if (earlier && approvedDigest('', earlier.inputs) !== approvedDigest('', inputs)) {
      throw new ApprovalRefused(`inputs differ from ${earlier.approver}'s approval (${JSON.stringify(earlier.inputs)}); every approver must approve the same inputs`);
    }
  }

  /** The Update handler: re-reads the keyring first (new runs), then counts the decision. */
  private async decide(approval: SignedApproval): Promise<ApprovalProgress> {
    const gate = this.waiting;
    if (gate?.options.currentKeyring && patched(KEYRING_RECHECK_PATCH)) {
      const keyring = await gate.options.currentKeyring();
      // The gate may have closed or moved on while the keyring was read.
      if (this.waiting === gate) {
        gate.options.keyring = keyring;
        this.withdrawStaleApprovals(gate.progress, keyring, gate.options.policy);
      }
    }
    try {
      return this.accept(approval);
    } catch (err) {
      // Refused after the validator passed (the keyring changed, or another decision came first):
      // fail this Update with the reason; a plain Error would fail the workflow task instead.
      if (err instanceof ApprovalRefused) throw ApplicationFailure.create({ type: 'ApprovalRefused', message: err.message, nonRetryable: true });
      throw err;
    }
  }

  /** Approvals whose key is no longer on the keyring (or no longer allowed) stop counting. */
  private withdrawStaleApprovals(progress: ApprovalProgress, keyring: ApproverKeyring, policy: ApprovalPolicy): void {
    for (const record of progress.approvals) {
      if (record.withdrawn || !record.signatureVerified) continue;
      const key = keyring.approvers.find((k) => k.user === record.approver);
      if (!key || keyFingerprint(key.publicKey) !== record.keyFingerprint) record.withdrawn = 'the key was removed from the keyring or replaced';
      else if (!mayApprove(policy, key, record.approver)) record.withdrawn = 'no longer allowed to approve by the policy';
    }
  }

  private accept(approval: SignedApproval): ApprovalProgress {
    // The validator ran, but state may have moved since (another Update in the same activation).
    const { groups, verified } = this.check(approval);
    const gate = this.waiting!;
    const { progress, options } = gate;
    const record: ApprovalRecord = {
      approver: approval.approver,
      groups,
      decision: approval.decision,
      comment: approval.comment ?? '',
      inputs: approval.decision === 'approve' ? (approval.inputs ?? {}) : {},
      signatureVerified: verified,
      keyFingerprint: verified ? keyFingerprint(options.keyring.approvers.find((k) => k.user === approval.approver)!.publicKey) : undefined,
      at: new Date().toISOString(),
    };
    progress.approvals.push(record);
    this.signed.set(record.approver, approval);
    if (record.decision === 'reject') {
      progress.state = 'rejected';
    } else if (progress.approvals.filter((a) => a.decision === 'approve' && !a.withdrawn).length >= options.policy.minApprovals) {
      progress.state = 'approved';
      progress.inputs = record.inputs;
      progress.approvedDigest = approvedDigest(options.planDigest, record.inputs);
    }
    this.onChange(progress);
    return progress;
  }
}

/** The requester, by key where the start request was verified, else by name. */
function sameIdentity(requester: AuthenticatedRequester, approver: string, key: ApproverKey | undefined): boolean {
  if (approver === requester.user) return true;
  return requester.publicKey !== undefined && key !== undefined && key.publicKey === requester.publicKey;
}
