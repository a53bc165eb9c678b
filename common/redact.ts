/**
 * Keeps secrets out of diagnostic bundles: values under secret-looking names, and bearer tokens,
 * AWS keys and password assignments inside free text such as logs.
 */
export const REDACTED = '[REDACTED]';

// Names, not values, decide: "oauth_provider" is configuration, "oauth_client_secret" is not.
const SECRET_NAME = /(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|authorization|(^|[-_.])key$)/i;

export function looksSecret(name: string): boolean {
  return SECRET_NAME.test(name);
}

const TEXT_PATTERNS: [RegExp, string][] = [
  [/(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi, `$1${REDACTED}`],
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, REDACTED],
  [/((?:aws_secret_access_key|aws_session_token|password|passwd|secret|token|api_key)["']?\s*[=:]\s*["']?)[^\s"',}]+/gi, `$1${REDACTED}`],
];

// Every string a pattern above can change contains one of these: the others are left untouched
// without running each pattern over them (most of a pod's strings, and most log lines).
const MAY_HOLD_SECRET = /bearer|secret|token|passw|api_key|AKIA|ASIA/i;

export function redactText(text: string): string {
  if (!MAY_HOLD_SECRET.test(text)) return text;
  return TEXT_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/**
 * A Kubernetes object with secret-looking env values, data keys and annotations redacted. The input
 * is never changed; parts with nothing to redact are shared with it rather than copied (a pod list
 * is mostly such parts, and copying them was most of a bundle's garbage).
 */
export function redactObject<T>(value: T): T {
  return walk(value) as T;
}

function walk(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const next = isEnvVar(item) ? (looksSecret(item.name) ? { ...item, value: REDACTED } : item) : walk(item);
      if (next !== item) copy ??= value.slice(0, i);
      copy?.push(next);
    });
    return copy ?? value;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let copy: Record<string, unknown> | undefined;
  keys.forEach((k, i) => {
    const v = record[k];
    let next: unknown;
    if ((key === 'data' || key === 'stringData' || key === 'annotations') && typeof v === 'string' && looksSecret(k)) next = REDACTED;
    else if (k === 'last-applied-configuration' || k === 'kubectl.kubernetes.io/last-applied-configuration') next = REDACTED;
    else next = walk(v, k);
    if (next !== v && !copy) {
      copy = {};
      for (const earlier of keys.slice(0, i)) copy[earlier] = record[earlier];
    }
    if (copy) copy[k] = next;
  });
  return copy ?? value;
}

/** Container env: `{ name, value }` pairs, whose value is judged by the name alone. */
function isEnvVar(item: unknown): item is { name: string; value: unknown } {
  return item !== null && typeof item === 'object' && 'name' in item && 'value' in item && typeof (item as { name: unknown }).name === 'string';
}
