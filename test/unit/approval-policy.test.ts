/**
 * The approval policy's safety rules in pure code: start-time overrides only tighten, the approvers
 * file is validated strictly, one key is one approver, and start requests are authenticated.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_APPROVAL_POLICY, effectivePolicy, generateApproverKey, mayApprove, PolicyLoosened } from '../../common/approval';
import type { ApprovalPolicy, ApprovalPolicyOverrides } from '../../common/approval';
import { ApprovalConfigError, parseApprovalConfig } from '../../common/approval-config';
import { signStartRequest, StartRequestRefused, verifyStartRequest } from '../../common/start-request';

const alice = generateApproverKey();
const carol = generateApproverKey();
const bob = generateApproverKey();
const keyring = {
  approvers: [
    { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
    { user: 'carol', groups: ['sre'], publicKey: carol.publicKey },
    { user: 'bob', groups: ['developers'], publicKey: bob.publicKey },
  ],
};

describe('start-time policy overrides', () => {
  const configured: ApprovalPolicy = {
    ...DEFAULT_APPROVAL_POLICY,
    approvers: { users: ['dave'], groups: ['sre'] },
    minApprovals: 2,
    timeoutMs: 60 * 60 * 1000,
  };
  const refusal = (overrides: ApprovalPolicyOverrides) => {
    try {
      effectivePolicy(configured, overrides, keyring);
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyLoosened);
      return (err as Error).message;
    }
    throw new Error(`overrides ${JSON.stringify(overrides)} were accepted but loosen the policy`);
  };

  it('refuse every loosening, each with its reason', () => {
    expect(refusal({ approvers: { users: ['mallory'] } })).toMatch(/mallory is not allowed to approve by the configured policy/);
    expect(refusal({ approvers: { groups: ['developers'] } })).toMatch(/group developers is not allowed/);
    expect(refusal({ approvers: { users: ['bob'] } })).toMatch(/bob is not allowed/);
    expect(refusal({ minApprovals: 1 })).toMatch(/minApprovals must be an integer from the configured 2/);
    expect(refusal({ fourEyes: false })).toMatch(/fourEyes cannot be turned off/);
    expect(refusal({ allowUnsigned: true })).toMatch(/allowUnsigned cannot be turned on/);
    expect(refusal({ onTimeout: 'approve', timeoutMs: 1 })).toMatch(/onTimeout cannot become "approve"/);
    expect(refusal({ timeoutMs: 1 })).toMatch(/timeoutMs must be an integer from 1000/);
    expect(refusal({ timeoutMs: 2 * 60 * 60 * 1000 })).toMatch(/may only shorten the configured/);
    expect(refusal({ inputs: [{ name: 'x', description: '', required: false, pattern: '(' }] })).toMatch(/pattern is not a regular expression/);
    expect(refusal({ everyone: true } as ApprovalPolicyOverrides)).toMatch(/everyone is not a policy setting/);
  });

  it('with approve-on-timeout configured, a shorter window would approve sooner, so only a longer one or reject is allowed', () => {
    const lenient = { ...configured, onTimeout: 'approve' as const };
    expect(() => effectivePolicy(lenient, { timeoutMs: 1000 }, keyring)).toThrow(/may only lengthen/);
    expect(effectivePolicy(lenient, { timeoutMs: 1000, onTimeout: 'reject' }, keyring)).toMatchObject({ timeoutMs: 1000, onTimeout: 'reject' });
  });

  it('accept tightenings: a subset of approvers (required on top of the configured ones), more approvals, a shorter window, added inputs', () => {
    const policy = effectivePolicy(
      configured,
      {
        approvers: { users: ['alice'] },
        minApprovals: 3,
        timeoutMs: 5_000,
        inputs: [{ name: 'ticket', description: 'change ticket', required: true, pattern: 'CHG-[0-9]+' }],
        remindBeforeTimeoutMs: [1_000],
      },
      keyring,
    );
    expect(policy).toMatchObject({ minApprovals: 3, timeoutMs: 5_000, onTimeout: 'reject', fourEyes: true, allowUnsigned: false });
    expect(policy.approvers).toEqual(configured.approvers);
    expect(policy.narrowedApprovers).toEqual({ users: ['alice'], groups: [] });
    expect(policy.inputs.map((i) => i.name)).toEqual(['ticket']);
    // alice satisfies both; carol is allowed by the configuration but not by the narrowing.
    expect(mayApprove(policy, keyring.approvers[0], 'alice')).toBe(true);
    expect(mayApprove(policy, keyring.approvers[1], 'carol')).toBe(false);
    expect(mayApprove(configured, keyring.approvers[1], 'carol')).toBe(true);
  });

  it('never let a service identity approve, whatever the policy', () => {
    expect(mayApprove(DEFAULT_APPROVAL_POLICY, { user: 'receiver', groups: [], publicKey: bob.publicKey, kind: 'service' }, 'receiver')).toBe(false);
  });
});

describe('approvers file', () => {
  it('merges policies over the defaults', () => {
    const config = parseApprovalConfig({
      approvers: [{ user: 'alice', groups: ['sre'], publicKey: alice.publicKey }],
      policies: { default: { minApprovals: 1 }, 'dynamodb-recovery': { minApprovals: 2 } },
    });
    expect(config.keyring.approvers).toEqual([{ user: 'alice', groups: ['sre'], publicKey: alice.publicKey, kind: 'person' }]);
    expect(config.policies['dynamodb-recovery']?.minApprovals).toBe(2);
    expect(config.policies['dynamodb-recovery']?.onTimeout).toBe('reject');
    expect(config.policies.default?.timeoutMs).toBe(DEFAULT_APPROVAL_POLICY.timeoutMs);
  });

  const problemsOf = (json: unknown): string => {
    try {
      parseApprovalConfig(json);
    } catch (err) {
      expect(err).toBeInstanceOf(ApprovalConfigError);
      return (err as Error).message;
    }
    throw new Error('the file was accepted');
  };

  it('refuses wrong types instead of reading them loosely', () => {
    expect(problemsOf({ policies: { default: { allowUnsigned: 'false' } } })).toMatch(/policies\.default\.allowUnsigned/);
    expect(problemsOf({ policies: { default: { approvers: { users: 'alice,carol' } } } })).toMatch(/policies\.default\.approvers\.users/);
    expect(problemsOf({ policies: { rollback: { minApprovals: '2' } } })).toMatch(/policies\.rollback\.minApprovals/);
    expect(problemsOf({ approvers: { user: 'alice' } })).toMatch(/approvers/);
  });

  it('refuses unknown keys, unknown runbooks and values out of range', () => {
    expect(problemsOf({ approver: [] })).toMatch(/approver/);
    expect(problemsOf({ policies: { rollback: { timeoutMin: 5 } } })).toMatch(/timeoutMin/);
    expect(problemsOf({ policies: { rolback: { minApprovals: 2 } } })).toMatch(/policies\.rolback: is not a runbook/);
    expect(problemsOf({ policies: { default: { minApprovals: 0 } } })).toMatch(/minApprovals/);
    expect(problemsOf({ policies: { default: { minApprovals: 11 } } })).toMatch(/minApprovals/);
    expect(problemsOf({ policies: { default: { timeoutMs: 1 } } })).toMatch(/timeoutMs/);
    expect(problemsOf({ policies: { default: { onTimeout: 'maybe' } } })).toMatch(/onTimeout/);
    expect(problemsOf({ approvers: [{ user: 'al ice', publicKey: alice.publicKey }] })).toMatch(/approvers\[0\]\.user/);
    expect(problemsOf({ approvers: [{ user: 'alice', publicKey: 'short' }] })).toMatch(/approvers\[0\]\.publicKey: must be a base64 raw Ed25519 public key/);
  });

  it('refuses one key listed under two names: one person cannot meet a quorum of two alone', () => {
    expect(
      problemsOf({
        approvers: [
          { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
          { user: 'alice-2', groups: ['sre'], publicKey: alice.publicKey },
        ],
      }),
    ).toMatch(/approvers\[1\]\.publicKey: this key is already alice's \(approvers\[0\]\): one key is one approver/);
    expect(problemsOf({ approvers: [{ user: 'alice', publicKey: alice.publicKey }, { user: 'alice', publicKey: carol.publicKey }] })).toMatch(/alice is already approvers\[0\]/);
  });

  it('names every problem at once', () => {
    const message = problemsOf({ approvers: [{ user: '', publicKey: 'short' }], policies: { rollback: { minApprovals: 0, timeoutMin: 5, onTimeout: 'maybe' } } });
    for (const where of ['approvers[0].user', 'approvers[0].publicKey', 'policies.rollback.minApprovals', 'policies.rollback.onTimeout', 'timeoutMin']) expect(message).toContain(where);
  });
});

describe('start requests', () => {
  const workflowId = 'destructive/demo';
  const input = { instance: 'demo', target: 'previous', options: { requestedBy: { user: 'bob', via: 'cli' as const }, reason: 'bad deploy' } };
  const started = Date.parse('2026-12-03T10:00:00Z');
  const verify = (signed: typeof input, at = started) => verifyStartRequest(keyring, workflowId, signed, at, false);

  it('verify for the requester whose key signed this workflow ID and input, and yield that key', () => {
    const requester = verify(signStartRequest(workflowId, input, bob.privateKey, started - 1000));
    expect(requester).toMatchObject({ user: 'bob', authenticated: true, publicKey: bob.publicKey });
  });

  it('refuse a name the key does not belong to, a changed parameter, another workflow, an old request and no signature', () => {
    const ghost = { ...input, options: { ...input.options, requestedBy: { user: 'alice', via: 'cli' as const } } };
    // Signed with bob's key but naming alice: the run must not take bob for alice.
    expect(() => verify(signStartRequest(workflowId, ghost, bob.privateKey, started))).toThrow(/does not verify against alice's key/);
    const signed = signStartRequest(workflowId, input, bob.privateKey, started);
    expect(() => verify({ ...signed, target: 'abc1234' })).toThrow(StartRequestRefused);
    expect(() => verifyStartRequest(keyring, 'destructive/other', signed, started, false)).toThrow(/does not verify/);
    expect(() => verify(signed, started + 11 * 60 * 1000)).toThrow(/not within 10 minutes/);
    expect(() => verify(input)).toThrow(/is not signed/);
    expect(() => verify({ ...input, options: { ...input.options, requestedBy: { user: 'ghost', via: 'cli' } } })).toThrow(/is not signed/);
    const unknown = { ...input, options: { ...input.options, requestedBy: { user: 'ghost', via: 'cli' as const } } };
    expect(() => verify(signStartRequest(workflowId, unknown, bob.privateKey, started))).toThrow(/ghost has no key on the keyring/);
  });

  it('accept an unsigned request only where the policy accepts unsigned ones, and mark it unauthenticated', () => {
    expect(verifyStartRequest(keyring, workflowId, input, started, true)).toEqual({ user: 'bob', authenticated: false });
  });

  it('refuse requester names that are empty or carry control characters, even where unsigned requests are accepted', () => {
    for (const user of ['', 'bob\n', 'bo\u0000b', ' bob', 'a'.repeat(65)]) {
      const named = { ...input, options: { ...input.options, requestedBy: { user, via: 'cli' as const } } };
      expect(() => verifyStartRequest(keyring, workflowId, named, started, true), JSON.stringify(user)).toThrow(/is not an identity name/);
    }
  });
});
