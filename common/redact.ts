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

export function redactText(text: string): string {
  return TEXT_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/** A copy of a Kubernetes object with secret-looking env values, data keys and annotations redacted. */
export function redactObject<T>(value: T): T {
  return walk(value) as T;
}

function walk(value: unknown, key = ''): unknown {
  if (value instanceof Date) return value;
  if (Array.isArray(value)) {
    // Container env: [{ name, value }] pairs.
    return value.map((item) => {
      if (item && typeof item === 'object' && 'name' in item && 'value' in item && typeof (item as { name: unknown }).name === 'string') {
        const env = item as { name: string; value: unknown };
        return { ...env, value: looksSecret(env.name) ? REDACTED : env.value };
      }
      return walk(item);
    });
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => {
        if ((key === 'data' || key === 'stringData' || key === 'annotations') && typeof v === 'string' && looksSecret(k)) return [k, REDACTED];
        if (k === 'last-applied-configuration' || k === 'kubectl.kubernetes.io/last-applied-configuration') return [k, REDACTED];
        return [k, walk(v, k)];
      }),
    );
  }
  return typeof value === 'string' ? redactText(value) : value;
}
