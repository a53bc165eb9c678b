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

  it('are RFC 8785 (JCS): keys by UTF-16 code units, ES number text, minimal string escapes', () => {
    // RFC 8785 section 3.2.3's sort example and number forms of its appendix B.
    expect(canonicalJson({ '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' }))
      .toBe('{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}');
    expect(canonicalJson([1e21, 1e-7, -0, 333333333.33333329, 4.50, 2e-3, 0.000001])).toBe('[1e+21,1e-7,0,333333333.3333333,4.5,0.002,0.000001]');
    expect(canonicalJson('\u2028\t"\\')).toBe('"\u2028\\t\\"\\\\"');
  });

  it('give plain JSON the same text as the sorted-keys JSON of earlier versions, so recorded digests hold', () => {
    const sortKeys = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(sortKeys);
      if (value !== null && typeof value === 'object') {
        const record = value as Record<string, unknown>;
        return Object.fromEntries(Object.keys(record).filter((k) => record[k] !== undefined).sort().map((k) => [k, sortKeys(record[k])]));
      }
      return value;
    };
    let seed = 11;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const alphabet = [...'aZ09 _-/:"\\\n\té日\u0001', '\ud83d\ude00'];
    const text = () => Array.from({ length: random(8) }, () => alphabet[random(alphabet.length)]).join('');
    const value = (depth: number): unknown => {
      switch (random(depth > 3 ? 5 : 8)) {
        case 0: return text();
        case 1: return random(2) ? random(1e6) - 5e5 : (random(1e6) - 5e5) / 7 ** random(12);
        case 2: return random(2) === 1;
        case 3: return null;
        case 4: return undefined;
        case 5: return Array.from({ length: random(4) }, () => value(depth + 1));
        default: return Object.fromEntries(Array.from({ length: random(5) }, () => [text(), value(depth + 1)]));
      }
    };
    for (let i = 0; i < 3000; i++) {
      const data = { plan: value(0) };
      expect(canonicalJson(data)).toBe(JSON.stringify(sortKeys(data)));
    }
  });

  it('refuse what JSON cannot carry as itself instead of digesting it as {} (a Map, a Set, a class instance, NaN), and take a Date as its ISO text', () => {
    expect(() => planDigest({ tables: new Map([['users', 3]]) })).toThrow(/\$\.tables: a Map is not JSON data/);
    expect(() => planDigest({ tables: new Set(['users']) })).toThrow(/a Set is not JSON data/);
    expect(() => planDigest({ items: [1, Number.NaN] })).toThrow(/\$\.items\[1\]: NaN is not a JSON number/);
    expect(() => planDigest({ n: 10n })).toThrow(/a bigint is not JSON data/);
    expect(() => planDigest({ at: new Date(Number.NaN) })).toThrow(/an invalid Date/);
    class Plan {
      constructor(readonly table: string) {}
    }
    expect(() => planDigest({ plan: new Plan('users') })).toThrow(/a Plan is not JSON data/);
    // Two different plans that sorted-keys JSON digested alike.
    expect(planDigest({ at: new Date(0) })).not.toBe(planDigest({ at: new Date(1) }));
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
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
