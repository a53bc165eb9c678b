/**
 * Parses the approvers file (VCP_APPROVERS_FILE): the keyring of approvers with their groups and
 * Ed25519 public keys, and per-runbook approval policies merged over the defaults.
 *
 *   { "approvers": [{ "user": "alice", "groups": ["sre"], "publicKey": "<base64 raw key>" }],
 *     "policies": { "default": { "minApprovals": 1 }, "dynamodb-recovery": { "minApprovals": 2 } } }
 */
import { DEFAULT_APPROVAL_POLICY } from './approval';
import type { ApprovalPolicy, ApproverKey } from './approval';
import { decodeBase64 } from './base64';
import type { ApprovalConfig } from './runbook';

export class ApprovalConfigError extends Error {
  override readonly name = 'ApprovalConfigError';
}

const POLICY_KEYS = new Set(Object.keys(DEFAULT_APPROVAL_POLICY));

export function parseApprovalConfig(json: unknown, source = 'approvers file'): ApprovalConfig {
  const problems: string[] = [];
  const root = (json ?? {}) as { approvers?: unknown; policies?: unknown };
  const approvers: ApproverKey[] = [];
  if (!Array.isArray(root.approvers ?? [])) problems.push('"approvers" must be a list');
  for (const [i, entry] of ((Array.isArray(root.approvers) ? root.approvers : []) as unknown[]).entries()) {
    const a = (entry ?? {}) as Partial<ApproverKey>;
    const where = `approvers[${i}]`;
    if (typeof a.user !== 'string' || a.user.trim() === '') problems.push(`${where}.user must be a non-empty string`);
    if (a.groups !== undefined && !(Array.isArray(a.groups) && a.groups.every((g) => typeof g === 'string'))) {
      problems.push(`${where}.groups must be a list of strings`);
    }
    let keyLength = -1;
    try {
      keyLength = typeof a.publicKey === 'string' ? decodeBase64(a.publicKey).length : -1;
    } catch {
      keyLength = -1;
    }
    if (keyLength !== 32) problems.push(`${where}.publicKey must be a base64 raw Ed25519 public key (32 bytes)`);
    if (approvers.some((other) => other.user === a.user)) problems.push(`${where}.user ${String(a.user)} appears twice`);
    approvers.push({ user: String(a.user), groups: a.groups ?? [], publicKey: String(a.publicKey) });
  }
  const policies: Record<string, ApprovalPolicy> = {};
  const rawPolicies = (root.policies ?? {}) as Record<string, unknown>;
  const base = { ...DEFAULT_APPROVAL_POLICY, ...((rawPolicies.default ?? {}) as Partial<ApprovalPolicy>) };
  for (const [runbook, raw] of Object.entries({ default: {}, ...rawPolicies })) {
    const partial = (raw ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(partial)) {
      if (!POLICY_KEYS.has(key)) problems.push(`policies.${runbook}.${key} is not a policy setting`);
    }
    const policy = { ...base, ...(partial as Partial<ApprovalPolicy>) };
    if (!Number.isInteger(policy.minApprovals) || policy.minApprovals < 1) {
      problems.push(`policies.${runbook}.minApprovals must be an integer of at least 1`);
    }
    if (!(policy.timeoutMs > 0)) problems.push(`policies.${runbook}.timeoutMs must be positive`);
    if (policy.onTimeout !== 'reject' && policy.onTimeout !== 'approve') {
      problems.push(`policies.${runbook}.onTimeout must be "reject" or "approve"`);
    }
    policies[runbook] = policy;
  }
  if (problems.length > 0) throw new ApprovalConfigError(`invalid ${source}:\n  - ${problems.join('\n  - ')}`);
  return { keyring: { approvers }, policies };
}
