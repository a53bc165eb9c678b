/**
 * Redaction (common/redact.ts) on its own: one canary per form a secret takes in real logs and
 * manifests, each beside a harmless value that must survive. The same canaries go through a real
 * diagnostic bundle in test/diagnostic-bundle.test.ts (REDACTION_CANARIES).
 */
import { describe, expect, it } from 'vitest';
import { REDACTED, redactObject, redactText, redactTextUnfiltered } from '../../common/redact';
import { REDACTION_CANARIES } from '../../test-support/redaction-canaries';

describe('redaction', () => {
  it.each(REDACTION_CANARIES.text)('text: $form', ({ text, secrets, keep }) => {
    const out = redactText(text);
    for (const secret of secrets) expect(out, out).not.toContain(secret);
    for (const harmless of keep) expect(out, out).toContain(harmless);
    expect(out).toContain(REDACTED);
    // Redacting again changes nothing.
    expect(redactText(out)).toBe(out);
  });

  it('text: every form in one log, each beside the others (as the bundle test plants them)', () => {
    const out = redactText(REDACTION_CANARIES.text.map((c) => c.text).join('\n'));
    for (const c of REDACTION_CANARIES.text) {
      for (const secret of c.secrets) expect(out, c.form).not.toContain(secret);
      for (const harmless of c.keep) expect(out, c.form).toContain(harmless);
    }
  });

  it.each(REDACTION_CANARIES.objects)('object: $form', ({ object, secrets, keep }) => {
    const out = JSON.stringify(redactObject(object));
    for (const secret of secrets) expect(out, out).not.toContain(secret);
    for (const harmless of keep) expect(out, out).toContain(harmless);
  });

  it('leaves what only looks close alone: git SHAs, image digests, URLs without a password, plain settings', () => {
    const harmless = [
      'revision=4f2c9d1e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d deployed',
      'image: registry.example/virtual-coffee-api@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
      'repoURL: https://git.example/virtual-coffee/platform-deploy.git',
      'GET https://virtualcoffee.example:8443/api/v1/users/me 200',
      'oauth_provider: google',
      'Basic auth is disabled for /healthz',
      'INFO  GET /api/v1/health 200 2ms',
    ];
    for (const text of harmless) expect(redactText(text)).toBe(text);
  });

  it('skips only text no pattern would change: the pre-check agrees with running every pattern', () => {
    const fragments = [...REDACTION_CANARIES.text.map((c) => c.text), 'plain words ', '\n', ' = ', ': ', '"', '--', 'key', 'KEY', 'A1b2C3d4E5f6G7h8', 'abc/def+', '4f2c9d1e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d', 'http://', '@host'];
    let seed = 5;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let i = 0; i < 5000; i++) {
      const pieces = Array.from({ length: 1 + random(4) }, () => fragments[random(fragments.length)]!);
      // Cut a canary anywhere, so partial forms are tried as well as whole ones.
      const text = pieces.join('').slice(random(10));
      expect(redactText(text), text).toBe(redactTextUnfiltered(text));
    }
  });

  it('runs in time linear in the text, whatever the text holds (logs are untrusted)', () => {
    const hostile = [
      'secret'.repeat(200_000),
      `password=${'a'.repeat(1_000_000)}`,
      '-----BEGIN PRIVATE KEY-----'.repeat(40_000),
      '-----END PRIVATE KEY-----'.repeat(40_000),
      'QUJD\n-----END PRIVATE KEY-----\n'.repeat(30_000),
      '-----BEGIN PRIVATE KEY-----\nQUJD\n'.repeat(30_000),
      `-----BEGIN PRIVATE KEY-----\n${'QUJDRA==\n'.repeat(100_000)}`,
      `postgres://${'u'.repeat(500_000)}:${'p'.repeat(500_000)}`,
      'A1b/'.repeat(250_000),
      `--token ${'-x '.repeat(300_000)}`,
      `"clientSecret": "${'\\x'.repeat(300_000)}`,
      `Authorization: ${'Bearer '.repeat(150_000)}`,
      `eyJ${'a'.repeat(500_000)}.${'b'.repeat(500_000)}`,
    ];
    for (const text of hostile) {
      const started = performance.now();
      redactText(text);
      expect(performance.now() - started, text.slice(0, 30)).toBeLessThan(1500);
    }
  });

  it('redacts exactly what copying every value would, never changes its input, and shares what has nothing to redact', () => {
    // The plain definition: every object and array copied, every string scanned.
    const secretName = /(pass(word|wd)?|pwd|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|authorization|cookie|(^|[-_.])key$)/i;
    const secretField = /(passw(or)?d|pwd|secret|token|api[-_]?key|access[-_]?key|secret[-_]?key|private[-_]?key|credentials?)$/i;
    const secretFlag = /^--?[A-Za-z0-9_.-]*(passw(or)?d|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)[A-Za-z0-9_.-]*$/i;
    const reference = (value: unknown, key = ''): unknown => {
      if (value instanceof Date) return value;
      if (Array.isArray(value)) {
        return value.map((item: unknown, i) => {
          const previous: unknown = value[i - 1];
          if (typeof previous === 'string' && secretFlag.test(previous) && typeof item === 'string' && !item.startsWith('-')) return REDACTED;
          if (item && typeof item === 'object' && 'name' in item && 'value' in item && typeof item.name === 'string' && secretName.test(item.name)) return { ...item, value: REDACTED };
          return reference(item);
        });
      }
      if (value && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => {
            if (typeof v === 'string' && (secretField.test(k) || (['data', 'stringData', 'annotations'].includes(key) && secretName.test(k)))) return [k, REDACTED];
            if (key === 'binaryData' && typeof v === 'string') return [k, REDACTED];
            if (k === 'last-applied-configuration' || k === 'kubectl.kubernetes.io/last-applied-configuration') return [k, REDACTED];
            return [k, reference(v, k)];
          }),
        );
      }
      return typeof value === 'string' ? redactText(value) : value;
    };
    const names = ['data', 'stringData', 'binaryData', 'annotations', 'env', 'args', 'name', 'value', 'DB_PASSWORD', 'api-key', 'signing_key', 'keys', 'token', 'clientSecret', 'secretName', 'monkey', 'image', 'kubectl.kubernetes.io/last-applied-configuration', 'labels'];
    const strings = ['plain', 'Bearer abc.def', 'bearer  x=', 'AKIAABCDEFGHIJKLMNOP', 'akiaabcdefghijklmnop', 'password: hunter2', 'PASSWD=x', 'secret"=\'v\'', 'api_key = k', 'token', 'passport', '', 'x', '--password', '--port', '-v', 'redis://:pw@cache:6379', 'https://example.com/x'];
    let seed = 11;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const value = (depth: number): unknown => {
      switch (random(depth > 3 ? 4 : 7)) {
        case 0: case 1: return strings[random(strings.length)];
        case 2: return random(2) ? random(100) : null;
        case 3: return new Date(random(1e9));
        case 4: return Array.from({ length: random(5) }, () => (random(3) === 0 ? { name: names[random(names.length)], value: value(depth + 1) } : value(depth + 1)));
        default: return Object.fromEntries(Array.from({ length: random(5) }, () => [names[random(names.length)], value(depth + 1)]));
      }
    };
    for (let i = 0; i < 3000; i++) {
      const input = value(0);
      const before = structuredClone(input);
      expect(redactObject(input)).toEqual(reference(input));
      expect(input).toEqual(before);
    }
    const clean = { metadata: { name: 'api', labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:1', args: ['--port', '80'], env: [{ name: 'REGION', value: 'x' }] }] } };
    expect(redactObject(clean)).toBe(clean);
    const mixed = { spec: clean.spec, data: { db_password: 'pw' } };
    const redacted = redactObject(mixed);
    expect(redacted).not.toBe(mixed);
    expect(redacted.spec).toBe(clean.spec);
    expect(redacted.data.db_password).toBe(REDACTED);
  });
});
