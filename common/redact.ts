/**
 * Keeps secrets out of diagnostic bundles. In objects: values under secret-looking names (env vars,
 * ConfigMap keys, annotations, `clientSecret`-style fields, the value after a `--password` argument),
 * and every ConfigMap `binaryData` value. In every string, whatever its name: connection strings with
 * passwords, Authorization and API key headers, JWTs, PEM private keys, cloud and chat tokens, AWS
 * keys, and `name=value` pairs whose name looks secret.
 */
export const REDACTED = '[REDACTED]';

// Names, not values, decide: "oauth_provider" is configuration, "oauth_client_secret" is not.
const SECRET_NAME = /(pass(word|wd)?|pwd|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|authorization|cookie|(^|[-_.])key$)/i;

export function looksSecret(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * A field of any object whose name ends like a secret (`password`, `clientSecret`, `secretKey`,
 * `client_secret`, `apiKey`, `accessToken`): narrower than SECRET_NAME, because it applies to every
 * field of every object, where `secretName` or `tokenExpirationSeconds` are references and settings.
 */
const SECRET_FIELD = /(passw(or)?d|pwd|secret|token|api[-_]?key|access[-_]?key|secret[-_]?key|private[-_]?key|credentials?)$/i;

/**
 * SECRET_FIELD for every field name of every object is most of an object's redaction time, and a
 * bundle has few distinct names: each is tested once (the memo is emptied if it ever grows large).
 */
const secretFieldMemo = new Map<string, boolean>();

function isSecretField(name: string): boolean {
  let secret = secretFieldMemo.get(name);
  if (secret === undefined) {
    if (secretFieldMemo.size >= 10_000) secretFieldMemo.clear();
    secret = SECRET_FIELD.test(name);
    secretFieldMemo.set(name, secret);
  }
  return secret;
}

/** Objects whose keys are free-form names (a ConfigMap's keys, annotations): judged by SECRET_NAME. */
const NAMED_VALUES = new Set(['data', 'stringData', 'annotations']);

/** The secret words a `name=value` pair or a `--name value` argument is recognised by. */
const SECRET_WORD = 'passw(?:or)?d|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?';

/** A command-line flag with a secret-looking name and no `=value`: the next argument is its value. */
const SECRET_FLAG = new RegExp(`^--?[A-Za-z0-9_.-]*(?:${SECRET_WORD})[A-Za-z0-9_.-]*$`, 'i');

type Replacer = (match: string, ...groups: string[]) => string;

/**
 * Each pattern with its replacement. Bounded quantifiers and no nested repetition: every pattern
 * runs in time linear in the text, whatever the text (logs are untrusted input).
 */
const TEXT_PATTERNS: [RegExp, string | Replacer][] = [
  // PEM private keys, across lines (or `\n` escapes); one cut off by a log tail up to the end.
  [/-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----|$)/g, `-----BEGIN PRIVATE KEY-----${REDACTED}-----END PRIVATE KEY-----`],
  // Connection strings: scheme://user:password@host (user may be empty: redis://:password@host).
  [/\b([a-z][a-z0-9+.-]{0,30}:\/\/[^\s:@/?#"'<>]{0,256}:)[^\s@/?#"'<>]{1,512}@/gi, `$1${REDACTED}@`],
  // Authorization headers, with or without their scheme: the rest of the value goes.
  [
    /\b((?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?[ \t]*)(?:(basic|bearer|token|digest|negotiate|ntlm|aws4-hmac-sha256)[ \t]+)?[^\r\n"'\\]+/gi,
    (_match, prefix: string, scheme: string | undefined) => `${prefix}${scheme ? `${scheme} ` : ''}${REDACTED}`,
  ],
  [/(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*/gi, `$1${REDACTED}`],
  // JWTs (header.payload.signature, the header being base64url JSON).
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g, REDACTED],
  // GitHub, Slack, Google tokens and keys.
  [/\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,247})(?![A-Za-z0-9_])/g, REDACTED],
  [/\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,250}/g, REDACTED],
  [/(hooks\.slack\.com\/(?:services|workflows)\/)[A-Za-z0-9/_-]{1,250}/gi, `$1${REDACTED}`],
  [/\b(?:AIza[0-9A-Za-z_-]{35}|GOCSPX-[0-9A-Za-z_-]{10,100}|ya29\.[0-9A-Za-z_-]{10,2048})(?![0-9A-Za-z_-])/g, REDACTED],
  // AWS access key IDs, and anything shaped like a secret access key (40 base64 characters with
  // upper and lower case and a digit: git SHAs, lower-case hex, do not qualify).
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, REDACTED],
  [/(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g, REDACTED],
  // `--password value`, `--token=value` on a command line.
  [new RegExp(`((?:^|[\\s"'\\[,])--?[A-Za-z0-9_.-]{0,40}(?:${SECRET_WORD})[A-Za-z0-9_.-]{0,40}(?:=|[ \\t]+))(?!-|\\[REDACTED\\])[^\\s"',\\]]+`, 'gi'), `$1${REDACTED}`],
  // name=value and "name": "value" whose name looks secret (password=, clientSecret:, X-API-Key:,
  // x-amz-security-token:, AWS_SECRET_ACCESS_KEY=): a quoted value whole, else up to a delimiter.
  [
    new RegExp(`((?:${SECRET_WORD})[\\w.-]{0,40}\\\\?["']?[ \\t]*[=:][ \\t]*)(?![{\\[])("(?:[^"\\\\\\r\\n]|\\\\.){0,4096}"|\\\\"[^"\\r\\n]{0,4096}?\\\\"|'[^'\\r\\n]{0,4096}'|[^\\s"',;&}<>]+)`, 'gi'),
    (_match, name: string, value: string) => {
      const quote = /^(\\?["'])/.exec(value)?.[1] ?? '';
      return `${name}${quote}${REDACTED}${quote}`;
    },
  ],
];

/**
 * Every string a pattern above can change passes this check: the others are left untouched without
 * running each pattern over them (most of a pod's strings, and most log lines). Two short
 * alternations and a sampled scan, because one regular expression with every trigger in it took 20
 * times as long on a clean 80 KB log (1.0 ms against 0.06 ms; these take about 0.25 ms).
 */
const TRIGGERS = [/passw|pwd|secret|token|credential|bearer|authorization|key/i, /:\/\/|eyJ|gh[pousr]_|github_pat_|xox[abposre]-|xapp-|hooks\.slack|AIza|GOCSPX-|ya29\.|AKIA|ASIA/];

export function mayHoldSecret(text: string): boolean {
  return TRIGGERS.some((trigger) => trigger.test(text)) || hasKeyShapedRun(text);
}

const KEY_SHAPED_RUN = 40;

/**
 * Whether the text may hold KEY_SHAPED_RUN base64 characters in a row with upper and lower case and
 * a digit (the shape of an AWS secret key; git SHAs, lower-case hex, are not). Any such run covers
 * one position that is a multiple of its length, so only the characters around those are looked at.
 */
function hasKeyShapedRun(text: string): boolean {
  for (let i = KEY_SHAPED_RUN - 1; i < text.length; i += KEY_SHAPED_RUN) {
    if (!isBase64Char(text.charCodeAt(i))) continue;
    let start = i;
    while (start > i - KEY_SHAPED_RUN + 1 && start > 0 && isBase64Char(text.charCodeAt(start - 1))) start--;
    let end = i + 1;
    while (end < i + KEY_SHAPED_RUN && end < text.length && isBase64Char(text.charCodeAt(end))) end++;
    if (end - start < KEY_SHAPED_RUN) continue;
    let upper = false;
    let lower = false;
    let digit = false;
    for (let j = start; j < end; j++) {
      const c = text.charCodeAt(j);
      upper ||= c >= 65 && c <= 90;
      lower ||= c >= 97 && c <= 122;
      digit ||= c >= 48 && c <= 57;
    }
    if (upper && lower && digit) return true;
  }
  return false;
}

function isBase64Char(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 47 || c === 43;
}

/** Every pattern over the text, with no pre-check: what redactText must always equal. */
export function redactTextUnfiltered(text: string): string {
  return TEXT_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement as string), text);
}

export function redactText(text: string): string {
  return mayHoldSecret(text) ? redactTextUnfiltered(text) : text;
}

/**
 * A Kubernetes object with secrets redacted (see the top of this file). The input is never
 * changed; parts with nothing to redact are shared with it rather than copied (a pod list is mostly
 * such parts, and copying them was most of a bundle's garbage).
 */
export function redactObject<T>(value: T): T {
  return walk(value) as T;
}

function walk(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    let afterSecretFlag = false;
    value.forEach((item: unknown, i) => {
      let next: unknown;
      if (afterSecretFlag && typeof item === 'string' && !item.startsWith('-')) next = REDACTED;
      else if (isNamedValue(item) && looksSecret(item.name)) next = { ...item, value: REDACTED };
      else next = walk(item);
      afterSecretFlag = typeof item === 'string' && SECRET_FLAG.test(item);
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
    if (typeof v === 'string' && (isSecretField(k) || (NAMED_VALUES.has(key) && looksSecret(k)))) next = REDACTED;
    // Opaque bytes (keystores, certificates with their keys) cannot be scanned: none are kept.
    else if (key === 'binaryData' && typeof v === 'string') next = REDACTED;
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

/** `{ name, value }` pairs (container env, Helm parameters): a secret-looking name hides the value; any other value is scanned. */
function isNamedValue(item: unknown): item is { name: string; value: unknown } {
  return item !== null && typeof item === 'object' && 'name' in item && 'value' in item && typeof (item as { name: unknown }).name === 'string';
}
