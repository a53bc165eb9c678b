/**
 * Parses the approvers file (VCP_APPROVERS_FILE): the keyring of identities (people who request and
 * approve runs, and services such as the alert receiver that only request them) with their Ed25519
 * public keys, and per-runbook approval policies merged over the defaults.
 *
 *   { "approvers": [{ "user": "alice", "groups": ["sre"], "publicKey": "<base64 raw key>" }],
 *     "policies": { "default": { "minApprovals": 1 }, "dynamodb-recovery": { "minApprovals": 2 } } }
 *
 * Validated strictly (a schema, not hand checks): a wrong type, an unknown key or runbook, a value out
 * of range, or one key under two names refuses the whole file, since each of those would silently
 * weaken an approval (`"allowUnsigned": "false"` is truthy; a string where a list belongs matches
 * substrings; one person with a key under two names meets a quorum of two alone).
 */
import { z } from 'zod';
import { APPROVAL_LIMITS, DEFAULT_APPROVAL_POLICY, IDENTITY_NAME } from './approval';
import type { ApprovalPolicy } from './approval';
import { decodeBase64 } from './base64';
import { RUNBOOKS } from './definitions';
import type { ApprovalConfig } from './runbook';

export class ApprovalConfigError extends Error {
  override readonly name = 'ApprovalConfigError';
}

const identityName = z.string().regex(IDENTITY_NAME, 'must be 1-64 of A-Z a-z 0-9 . _ @ - (starting with a letter or digit)');

const publicKey = z.string().refine((value) => {
  try {
    return decodeBase64(value).length === 32;
  } catch {
    return false;
  }
}, 'must be a base64 raw Ed25519 public key (32 bytes)');

const identity = z.strictObject({
  user: identityName,
  groups: z.array(identityName).max(64).default([]),
  publicKey,
  /** A service (the alert receiver) may request runs but never approve them. */
  kind: z.enum(['person', 'service']).default('person'),
});

const inputSpec = z.strictObject({
  name: z.string().regex(/^[a-z][a-zA-Z0-9_-]{0,63}$/, 'must be a short identifier'),
  description: z.string().max(500),
  required: z.boolean(),
  pattern: z
    .string()
    .max(500)
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression')
    .optional(),
  allowedValues: z.array(z.string().max(500)).min(1).max(1000).optional(),
});

const duration = (min: number, max: number) => z.number().int().min(min).max(max);

/** Every setting optional: a runbook's policy is merged over `default`, which is merged over the built-in defaults. */
const policySchema = z.strictObject({
  approvers: z.strictObject({ users: z.array(identityName).max(256).default([]), groups: z.array(identityName).max(256).default([]) }).optional(),
  minApprovals: z.number().int().min(1).max(APPROVAL_LIMITS.maxMinApprovals).optional(),
  fourEyes: z.boolean().optional(),
  timeoutMs: duration(APPROVAL_LIMITS.minTimeoutMs, APPROVAL_LIMITS.maxTimeoutMs).optional(),
  onTimeout: z.enum(['reject', 'approve']).optional(),
  remindBeforeTimeoutMs: z.array(duration(1, APPROVAL_LIMITS.maxTimeoutMs)).max(10).optional(),
  allowUnsigned: z.boolean().optional(),
  inputs: z.array(inputSpec).max(20).optional(),
});

const runbookNames = new Set<string>(['default', ...Object.values(RUNBOOKS)]);

const fileSchema = z
  .strictObject({
    approvers: z.array(identity).max(1000).default([]),
    policies: z.record(z.string(), policySchema).default({}),
  })
  .superRefine((file, ctx) => {
    const byUser = new Map<string, number>();
    const byKey = new Map<string, number>();
    file.approvers.forEach((a, i) => {
      const sameUser = byUser.get(a.user);
      if (sameUser !== undefined) ctx.addIssue({ code: 'custom', path: ['approvers', i, 'user'], message: `${a.user} is already approvers[${sameUser}]` });
      byUser.set(a.user, i);
      const sameKey = byKey.get(a.publicKey);
      if (sameKey !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvers', i, 'publicKey'],
          message: `this key is already ${file.approvers[sameKey]!.user}'s (approvers[${sameKey}]): one key is one approver`,
        });
      }
      byKey.set(a.publicKey, i);
    });
    for (const name of Object.keys(file.policies)) {
      if (!runbookNames.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['policies', name], message: `is not a runbook (one of ${[...runbookNames].join(', ')})` });
      }
    }
  });

function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return `${where || '(file)'}: ${issue.message}`;
  });
}

export function parseApprovalConfig(json: unknown, source = 'approvers file'): ApprovalConfig {
  const parsed = fileSchema.safeParse(json ?? {});
  if (!parsed.success) throw new ApprovalConfigError(`invalid ${source}:\n  - ${describeIssues(parsed.error).join('\n  - ')}`);
  const { approvers, policies: raw } = parsed.data;
  const base: ApprovalPolicy = { ...DEFAULT_APPROVAL_POLICY, ...definedOnly(raw.default ?? {}) };
  const policies: Record<string, ApprovalPolicy> = { default: base };
  for (const [runbook, partial] of Object.entries(raw)) {
    if (runbook !== 'default') policies[runbook] = { ...base, ...definedOnly(partial) };
  }
  return { keyring: { approvers }, policies };
}

/** The schema leaves absent settings undefined; they must not overwrite the defaults they fall back to. */
function definedOnly(partial: z.infer<typeof policySchema>): Partial<ApprovalPolicy> {
  return Object.fromEntries(Object.entries(partial).filter(([, value]) => value !== undefined));
}
