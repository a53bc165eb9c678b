import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateApproverKey, signApproval, verifySignature } from '../../common/approval';
import { decodeBase64, encodeBase64 } from '../../common/base64';
import { canonicalJson, planDigest } from '../../common/canonical';

describe('base64 for workflow code', () => {
  it('matches Node for every length modulo 3 and round-trips', () => {
    for (let length = 0; length < 40; length++) {
      const bytes = randomBytes(length);
      const encoded = encodeBase64(bytes);
      expect(encoded).toBe(bytes.toString('base64'));
      expect(Buffer.from(decodeBase64(encoded))).toEqual(bytes);
    }
  });

  it('rejects text that is not base64', () => {
    expect(() => decodeBase64('abc')).toThrow('invalid base64');
    expect(() => decodeBase64('ab!=')).toThrow('invalid base64');
  });
});

describe('plan digests', () => {
  it('do not depend on key order, and change with any value', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}');
    expect(planDigest({ a: 1, b: 2 })).toBe(planDigest({ b: 2, a: 1 }));
    expect(planDigest({ a: 1, b: 2 })).not.toBe(planDigest({ a: 1, b: 3 }));
  });
});

describe('signed approvals', () => {
  const key = generateApproverKey();
  const statement = {
    workflowId: 'destructive/demo',
    runId: 'r1',
    planDigest: 'sha256:abc',
    decision: 'approve' as const,
    approver: 'alice',
    expiresAt: '2030-01-01T00:00:00.000Z',
    inputs: { revision: 'abc123' },
    comment: 'ok',
  };

  it('verify with the signer key and fail with any other key or any changed field', () => {
    const signed = signApproval(statement, key.privateKey);
    expect(verifySignature(signed, key.publicKey)).toBe(true);
    expect(verifySignature(signed, generateApproverKey().publicKey)).toBe(false);
    for (const change of [{ runId: 'r2' }, { planDigest: 'sha256:abd' }, { decision: 'reject' as const }, { inputs: { revision: 'x' } }]) {
      expect(verifySignature({ ...signed, ...change }, key.publicKey)).toBe(false);
    }
    expect(verifySignature({ ...signed, signature: 'not base64!' }, key.publicKey)).toBe(false);
  });
});
