import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateApproverKey, signApproval, verifySignature } from '../common/approval';
import { decodeBase64, encodeBase64 } from '../common/base64';
import { canonicalJson, planDigest } from '../common/canonical';
import { REDACTED, redactObject, redactText } from '../common/redact';

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

describe('redaction', () => {
  it('redacts values under secret-looking names and secrets inside text, and keeps the rest', () => {
    const object = redactObject({
      data: { oauth_provider: 'google', oauth_client_secret: 's3cr3t', signing_key: 'k', matching_group_size: '2' },
      env: [{ name: 'DB_PASSWORD', value: 'pw' }, { name: 'AWS_REGION', value: 'us-west-2' }],
      when: new Date('2026-01-01T00:00:00Z'),
    });
    expect(object.data).toEqual({ oauth_provider: 'google', oauth_client_secret: REDACTED, signing_key: REDACTED, matching_group_size: '2' });
    expect(object.env).toEqual([{ name: 'DB_PASSWORD', value: REDACTED }, { name: 'AWS_REGION', value: 'us-west-2' }]);
    expect(object.when).toEqual(new Date('2026-01-01T00:00:00Z'));
    expect(redactText('Authorization: Bearer abc.def-ghi key AKIAABCDEFGHIJKLMNOP password=hunter2 ok')).toBe(
      `Authorization: Bearer ${REDACTED} key ${REDACTED} password=${REDACTED} ok`,
    );
  });

  it('redacts exactly what copying every value would, never changes its input, and shares what has nothing to redact', () => {
    // The plain definition: every object and array copied, every string through every pattern.
    const patterns: [RegExp, string][] = [
      [/(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi, `$1${REDACTED}`],
      [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, REDACTED],
      [/((?:aws_secret_access_key|aws_session_token|password|passwd|secret|token|api_key)["']?\s*[=:]\s*["']?)[^\s"',}]+/gi, `$1${REDACTED}`],
    ];
    const text = (t: string) => patterns.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), t);
    const secretName = /(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|authorization|(^|[-_.])key$)/i;
    const reference = (value: unknown, key = ''): unknown => {
      if (value instanceof Date) return value;
      if (Array.isArray(value)) {
        return value.map((item: unknown) => {
          if (item && typeof item === 'object' && 'name' in item && 'value' in item && typeof item.name === 'string') return { ...item, value: secretName.test(item.name) ? REDACTED : item.value };
          return reference(item);
        });
      }
      if (value && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => {
            if ((key === 'data' || key === 'stringData' || key === 'annotations') && typeof v === 'string' && secretName.test(k)) return [k, REDACTED];
            if (k === 'last-applied-configuration' || k === 'kubectl.kubernetes.io/last-applied-configuration') return [k, REDACTED];
            return [k, reference(v, k)];
          }),
        );
      }
      return typeof value === 'string' ? text(value) : value;
    };
    const names = ['data', 'stringData', 'annotations', 'env', 'name', 'value', 'DB_PASSWORD', 'api-key', 'signing_key', 'keys', 'token', 'monkey', 'image', 'kubectl.kubernetes.io/last-applied-configuration', 'labels'];
    const strings = ['plain', 'Bearer abc.def', 'bearer  x=', 'AKIAABCDEFGHIJKLMNOP', 'akiaabcdefghijklmnop', 'password: hunter2', 'PASSWD=x', 'secret"=\'v\'', 'api_key = k', 'token', 'passport', '', 'x'];
    let seed = 11;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const value = (depth: number): unknown => {
      switch (random(depth > 3 ? 4 : 7)) {
        case 0: case 1: return strings[random(strings.length)];
        case 2: return random(2) ? random(100) : null;
        case 3: return new Date(random(1e9));
        case 4: return Array.from({ length: random(4) }, () => (random(3) === 0 ? { name: names[random(names.length)], value: value(depth + 1) } : value(depth + 1)));
        default: return Object.fromEntries(Array.from({ length: random(5) }, () => [names[random(names.length)], value(depth + 1)]));
      }
    };
    for (let i = 0; i < 3000; i++) {
      const input = value(0);
      const before = structuredClone(input);
      expect(redactObject(input)).toEqual(reference(input));
      expect(input).toEqual(before);
    }
    const clean = { metadata: { name: 'api', labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:1', env: [{ name: 'REGION', value: 'x' }] }] } };
    expect(redactObject(clean)).toBe(clean);
    const mixed = { spec: clean.spec, data: { db_password: 'pw' } };
    const redacted = redactObject(mixed);
    expect(redacted).not.toBe(mixed);
    expect(redacted.spec).toBe(clean.spec);
    expect(redacted.data.db_password).toBe(REDACTED);
  });
});
