/**
 * Approvals: the policy, the keyring, and the signed statement an approver makes. Verification is
 * pure code (Ed25519 from @noble/curves), so a workflow's Update validator can run it deterministically.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { decodeBase64, encodeBase64 } from './base64';
import { canonicalJson, sha256Hex } from './canonical';

export type ApprovalDecision = 'approve' | 'reject';

interface ApprovalInputSpec {
  name: string;
  description: string;
  required: boolean;
  /** A regular expression the value must match in full. */
  pattern?: string;
  /** When set, the value must be one of these (e.g. revisions from the Application's history). */
  allowedValues?: string[];
}

export interface ApprovalPolicy {
  /** Who may approve: users by name and members of groups. Both empty means anyone on the keyring. */
  approvers: { users: string[]; groups: string[] };
  /** Set by start-time overrides: approvers must be allowed by this too (it only narrows). */
  narrowedApprovers?: { users: string[]; groups: string[] };
  /** Distinct approvers needed. */
  minApprovals: number;
  /** The requester may not approve their own run. */
  fourEyes: boolean;
  timeoutMs: number;
  /** What a timeout means. Rejecting is the default: silence is never consent unless asked for. */
  onTimeout: 'reject' | 'approve';
  /** Reminders, as durations before the timeout. */
  remindBeforeTimeoutMs: number[];
  /** Accept approvals without a signature (local demo only). */
  allowUnsigned: boolean;
  /** Values the approver supplies (e.g. a revision); they become part of what is approved. */
  inputs: ApprovalInputSpec[];
}

/** Ranges the approvers file and start-time overrides are held to. */
export const APPROVAL_LIMITS = {
  maxMinApprovals: 10,
  minTimeoutMs: 1_000,
  maxTimeoutMs: 7 * 24 * 60 * 60 * 1000,
  /** A signed statement valid for longer would be a standing credential for the run. */
  maxStatementValidityMs: 60 * 60 * 1000,
  /** Clocks of the approver's machine and the worker may disagree by this much. */
  clockSkewMs: 2 * 60 * 1000,
} as const;

/** Identity names (users, groups): what the CLI accepts for --as and key files are named by. */
export const IDENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = {
  approvers: { users: [], groups: [] },
  minApprovals: 1,
  fourEyes: true,
  timeoutMs: 4 * 60 * 60 * 1000,
  onTimeout: 'reject',
  remindBeforeTimeoutMs: [30 * 60 * 1000],
  allowUnsigned: false,
  inputs: [],
};

/** Overrides given at start. They may tighten the configured policy, never loosen it. */
export type ApprovalPolicyOverrides = Partial<Omit<ApprovalPolicy, 'approvers' | 'narrowedApprovers'>> & {
  approvers?: Partial<ApprovalPolicy['approvers']>;
};

export interface ApproverKey {
  user: string;
  groups: string[];
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: string;
  /** A service (the alert receiver) may request runs but never approve them. */
  kind?: 'person' | 'service';
}

export interface ApproverKeyring {
  approvers: ApproverKey[];
}

/** What an approver states; the signature covers every field. */
export interface ApprovalStatement {
  workflowId: string;
  runId: string;
  planDigest: string;
  decision: ApprovalDecision;
  approver: string;
  /** ISO time after which the statement is void. */
  expiresAt: string;
  inputs: Record<string, string>;
  comment: string;
}

export interface SignedApproval extends ApprovalStatement {
  /** Ed25519 signature over approvalMessage(statement), base64. Absent only where policy allows. */
  signature?: string;
}

const MESSAGE_DOMAIN = 'vcp-runbooks/approval/v1';

/** The exact bytes an approver signs. A domain prefix keeps them from meaning anything elsewhere. */
function approvalMessage(statement: ApprovalStatement): Uint8Array {
  const { workflowId, runId, planDigest, decision, approver, expiresAt, inputs, comment } = statement;
  const body = canonicalJson({ workflowId, runId, planDigest, decision, approver, expiresAt, inputs, comment });
  return new TextEncoder().encode(`${MESSAGE_DOMAIN}\n${body}`);
}

export function signApproval(statement: ApprovalStatement, privateKey: Uint8Array): SignedApproval {
  return { ...statement, signature: encodeBase64(ed25519.sign(approvalMessage(statement), privateKey)) };
}

export function generateApproverKey(): { privateKey: Uint8Array; publicKey: string } {
  const privateKey = ed25519.utils.randomPrivateKey();
  return { privateKey, publicKey: encodeBase64(ed25519.getPublicKey(privateKey)) };
}

export function publicKeyOf(privateKey: Uint8Array): string {
  return encodeBase64(ed25519.getPublicKey(privateKey));
}

/** A key's short fingerprint, for people comparing keys. */
export function keyFingerprint(publicKey: string): string {
  return `ed25519:${sha256Hex(publicKey).slice(0, 16)}`;
}

export function verifySignature(approval: SignedApproval, publicKey: string): boolean {
  if (!approval.signature) return false;
  try {
    return ed25519.verify(decodeBase64(approval.signature), approvalMessage(approval), decodeBase64(publicKey));
  } catch {
    // Malformed base64 or key bytes: simply not a valid signature.
    return false;
  }
}

/** The digest of what was approved: the plan and the inputs the approvers gave. */
export function approvedDigest(digestOfPlan: string, inputs: Record<string, string>): string {
  return `sha256:${sha256Hex(`${digestOfPlan}\n${canonicalJson(inputs)}`)}`;
}

export class PolicyLoosened extends Error {
  override readonly name = 'PolicyLoosened';
}

/**
 * The configured policy with the overrides given at start, which may only tighten it. Each setting's
 * meaning of "tighter": approvers a subset of those the configured policy allows (the gate then
 * requires both); at least as many approvals; four-eyes and signatures kept on; never approve on a
 * timeout the configuration rejects on; with reject-on-timeout a shorter window (a longer one would
 * let a stale plan be approved later), with approve-on-timeout a longer one; inputs only added.
 * Reminders are notifications only and may be set freely. Anything else is refused with the reason.
 */
export function effectivePolicy(configured: ApprovalPolicy, overrides: ApprovalPolicyOverrides = {}, keyring?: ApproverKeyring): ApprovalPolicy {
  const problems: string[] = [];
  const known = new Set(['approvers', 'minApprovals', 'fourEyes', 'timeoutMs', 'onTimeout', 'remindBeforeTimeoutMs', 'allowUnsigned', 'inputs']);
  for (const key of Object.keys(overrides)) if (!known.has(key)) problems.push(`${key} is not a policy setting`);

  let narrowedApprovers: ApprovalPolicy['narrowedApprovers'];
  if (overrides.approvers !== undefined) {
    const users = overrides.approvers.users ?? [];
    const groups = overrides.approvers.groups ?? [];
    if (!isNameList(users) || !isNameList(groups)) {
      problems.push('approvers.users and approvers.groups must be lists of names');
    } else {
      const anyone = configured.approvers.users.length === 0 && configured.approvers.groups.length === 0;
      for (const group of groups) {
        if (!anyone && !configured.approvers.groups.includes(group)) problems.push(`group ${group} is not allowed to approve by the configured policy`);
      }
      for (const user of users) {
        const key = keyring?.approvers.find((k) => k.user === user);
        if (!anyone && !isAllowedBy(configured.approvers, user, key?.groups ?? [])) problems.push(`${user} is not allowed to approve by the configured policy`);
      }
      if (users.length + groups.length > 0) narrowedApprovers = { users: [...users], groups: [...groups] };
    }
  }
  const minApprovals = overrides.minApprovals ?? configured.minApprovals;
  if (!Number.isInteger(minApprovals) || minApprovals < configured.minApprovals || minApprovals > APPROVAL_LIMITS.maxMinApprovals) {
    problems.push(`minApprovals must be an integer from the configured ${configured.minApprovals} to ${APPROVAL_LIMITS.maxMinApprovals}, got ${String(overrides.minApprovals)}`);
  }
  const fourEyes = overrides.fourEyes ?? configured.fourEyes;
  if (typeof fourEyes !== 'boolean' || (configured.fourEyes && !fourEyes)) problems.push('fourEyes cannot be turned off: the configured policy requires it');
  const allowUnsigned = overrides.allowUnsigned ?? configured.allowUnsigned;
  if (typeof allowUnsigned !== 'boolean' || (!configured.allowUnsigned && allowUnsigned)) problems.push('allowUnsigned cannot be turned on: the configured policy requires signatures');
  const onTimeout = overrides.onTimeout ?? configured.onTimeout;
  if (onTimeout !== 'reject' && onTimeout !== 'approve') problems.push('onTimeout must be "reject" or "approve"');
  else if (configured.onTimeout === 'reject' && onTimeout === 'approve') problems.push('onTimeout cannot become "approve": the configured policy rejects on timeout');
  const timeoutMs = overrides.timeoutMs ?? configured.timeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs < APPROVAL_LIMITS.minTimeoutMs || timeoutMs > APPROVAL_LIMITS.maxTimeoutMs) {
    problems.push(`timeoutMs must be an integer from ${APPROVAL_LIMITS.minTimeoutMs} to ${APPROVAL_LIMITS.maxTimeoutMs}`);
  } else if (onTimeout === 'reject' && timeoutMs > configured.timeoutMs) {
    problems.push(`timeoutMs may only shorten the configured ${configured.timeoutMs} ms window`);
  } else if (onTimeout === 'approve' && timeoutMs < configured.timeoutMs) {
    problems.push(`timeoutMs may only lengthen the configured ${configured.timeoutMs} ms, since a timeout approves`);
  }
  const remindBeforeTimeoutMs = overrides.remindBeforeTimeoutMs ?? configured.remindBeforeTimeoutMs;
  if (!Array.isArray(remindBeforeTimeoutMs) || remindBeforeTimeoutMs.length > 10 || !remindBeforeTimeoutMs.every((ms) => Number.isInteger(ms) && ms > 0)) {
    problems.push('remindBeforeTimeoutMs must be at most 10 positive durations');
  }
  const added = overrides.inputs ?? [];
  if (!Array.isArray(added)) problems.push('inputs must be a list');
  else {
    for (const spec of added) {
      if (configured.inputs.some((c) => c.name === spec.name)) problems.push(`input ${spec.name} is configured already and cannot be redefined`);
      if (spec.pattern !== undefined && !isRegExp(spec.pattern)) problems.push(`input ${spec.name}: pattern is not a regular expression`);
    }
  }
  if (problems.length > 0) throw new PolicyLoosened(`the approval policy overrides would loosen or break the configured policy: ${problems.join('; ')}`);
  return {
    approvers: configured.approvers,
    narrowedApprovers,
    minApprovals,
    fourEyes,
    timeoutMs,
    onTimeout,
    remindBeforeTimeoutMs,
    allowUnsigned,
    inputs: [...configured.inputs, ...(added)],
  };
}

/** Both empty means anyone on the keyring. */
function isAllowedBy(approvers: { users: string[]; groups: string[] }, user: string, groups: string[]): boolean {
  if (approvers.users.length === 0 && approvers.groups.length === 0) return true;
  return approvers.users.includes(user) || groups.some((g) => approvers.groups.includes(g));
}

/** May this keyring identity approve under the policy (configured approvers, and the start-time narrowing if any)? */
export function mayApprove(policy: ApprovalPolicy, key: ApproverKey | undefined, user: string): boolean {
  if (key?.kind === 'service') return false;
  const groups = key?.groups ?? [];
  return isAllowedBy(policy.approvers, user, groups) && (!policy.narrowedApprovers || isAllowedBy(policy.narrowedApprovers, user, groups));
}

function isNameList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && IDENTITY_NAME.test(v));
}

function isRegExp(pattern: unknown): boolean {
  try {
    new RegExp(String(pattern));
    return typeof pattern === 'string';
  } catch {
    return false;
  }
}
