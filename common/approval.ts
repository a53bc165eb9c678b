/**
 * Approvals: the policy, the keyring, and the signed statement an approver makes. Verification is
 * pure code (Ed25519 from @noble/curves), so a workflow's Update validator can run it deterministically.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { decodeBase64, encodeBase64 } from './base64';
import { canonicalJson, sha256Hex } from './canonical';

export type ApprovalDecision = 'approve' | 'reject';

export interface ApprovalInputSpec {
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
export type ApprovalPolicyOverrides = Partial<Omit<ApprovalPolicy, 'approvers'>> & {
  approvers?: Partial<ApprovalPolicy['approvers']>;
};

export interface ApproverKey {
  user: string;
  groups: string[];
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: string;
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
export function approvalMessage(statement: ApprovalStatement): Uint8Array {
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

/** The configured policy, tightened (never loosened) by the overrides given at start. */
export function effectivePolicy(configured: ApprovalPolicy, overrides: ApprovalPolicyOverrides = {}): ApprovalPolicy {
  const users = overrides.approvers?.users;
  const groups = overrides.approvers?.groups;
  return {
    // Narrowing to a subset is allowed; naming someone the configured policy does not allow is not.
    approvers: {
      users: users ? narrow(configured.approvers.users, users) : configured.approvers.users,
      groups: groups ? narrow(configured.approvers.groups, groups) : configured.approvers.groups,
    },
    minApprovals: Math.max(configured.minApprovals, overrides.minApprovals ?? 0),
    fourEyes: configured.fourEyes || (overrides.fourEyes ?? false),
    timeoutMs: overrides.timeoutMs ?? configured.timeoutMs,
    onTimeout: configured.onTimeout === 'reject' ? 'reject' : (overrides.onTimeout ?? configured.onTimeout),
    remindBeforeTimeoutMs: overrides.remindBeforeTimeoutMs ?? configured.remindBeforeTimeoutMs,
    allowUnsigned: configured.allowUnsigned && (overrides.allowUnsigned ?? true),
    inputs: overrides.inputs ?? configured.inputs,
  };
}

function narrow(configured: string[], requested: string[]): string[] {
  // An empty configured list means "anyone on the keyring", so any narrowing is a tightening.
  return configured.length === 0 ? requested : requested.filter((name) => configured.includes(name));
}
