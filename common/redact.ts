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

function looksSecret(name: string): boolean {
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

function mayHoldSecret(text: string): boolean {
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
  return TEXT_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement as string), redactPrivateKeys(text));
}

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_REDACTED = `-----BEGIN PRIVATE KEY-----${REDACTED}-----END PRIVATE KEY-----`;
/** A key's body is a few KiB (an 8192-bit RSA key, 6.5 KiB): an END further on belongs to something else. */
const PEM_MAX_BYTES = 16 * 1024;
/** A line of a key's body: base64, a header (encrypted keys' Proc-Type, DEK-Info), or blank. */
const PEM_LINE = /^[ \t]*(?:[A-Za-z0-9+/=]{1,100}|[A-Za-z-]{1,40}: [^\r\n\\]{0,200})?[ \t]*\r?$/;
/** The END line right after a key's body lines. */
const PEM_END_AT = /(?:\r?\n|\\(?:r\\)?n)?[ \t]*-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/y;
/** The body lines after a BEGIN, separated by newlines or by `\n` escapes (a key inside JSON). */
const PEM_BODY_AFTER = /(?:(?:\r?\n|\\(?:r\\)?n)[ \t]*(?:[A-Za-z0-9+/=]{1,100}|[A-Za-z-]{1,40}: [^\r\n\\]{0,200})?[ \t]*(?=[\r\n"'\\]|$))*/y;

/**
 * PEM private keys, whole: BEGIN, body lines, END (or all on one line). A key cut off (a log's tail
 * starts after its BEGIN line, or the log ends before its END line) loses the body lines on the side
 * it still has. Markers are found once and paired in order, and each body is walked line by line,
 * so this is linear too.
 */
function redactPrivateKeys(text: string): string {
  const begins = [...text.matchAll(PEM_BEGIN)].map((m) => [m.index, m.index + m[0].length] as const);
  const ends = [...text.matchAll(PEM_END)].map((m) => [m.index, m.index + m[0].length] as const);
  if (begins.length === 0 && ends.length === 0) return text;
  const cuts: [number, number][] = [];
  let e = 0;
  begins.forEach(([start, afterBegin], b) => {
    if (start < (cuts.at(-1)?.[1] ?? 0)) return;
    PEM_BODY_AFTER.lastIndex = afterBegin;
    const bodyEnd = afterBegin + (PEM_BODY_AFTER.exec(text)?.[0].length ?? 0);
    PEM_END_AT.lastIndex = bodyEnd;
    const endLine = PEM_END_AT.exec(text);
    if (endLine) return void cuts.push([start, bodyEnd + endLine[0].length]);
    // A key flattened onto one line (spaces for newlines, as env values often hold it).
    while (e < ends.length && ends[e]![0] < afterBegin) e++;
    const end = ends[e];
    if (end && end[0] < (begins[b + 1]?.[0] ?? Infinity) && end[0] - afterBegin <= PEM_MAX_BYTES && !/[\r\n]/.test(text.slice(afterBegin, end[0]))) {
      return void cuts.push([start, end[1]]);
    }
    cuts.push([start, bodyEnd]);
  });
  // The cuts so far are in order and do not overlap: one pointer finds whether an END is inside one.
  const fromBegins = cuts.length;
  let c = 0;
  ends.forEach(([start, end]) => {
    while (c < fromBegins && cuts[c]![1] <= start) c++;
    if (!(c < fromBegins && cuts[c]![0] <= start)) cuts.push([bodyLinesBefore(text, start), end]);
  });
  cuts.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [from, to] of cuts) {
    if (to <= at) continue;
    out += text.slice(at, Math.max(at, from)) + PEM_REDACTED;
    at = to;
  }
  return out + text.slice(at);
}

/** Where the body lines before an END line start (the END itself if it does not begin its line). */
function bodyLinesBefore(text: string, endStart: number): number {
  let lineStart = endStart;
  while (lineStart > 0 && endStart - lineStart < 100 && (text[lineStart - 1] === ' ' || text[lineStart - 1] === '\t')) lineStart--;
  if (lineStart > 0 && text[lineStart - 1] !== '\n') return endStart;
  // Each walk stops at a line that is not body (another END line among them), so walks never overlap.
  while (lineStart > 0) {
    const previous = text.lastIndexOf('\n', lineStart - 2) + 1;
    if (lineStart - 1 - previous > 200 || !PEM_LINE.test(text.slice(previous, lineStart - 1))) break;
    lineStart = previous;
  }
  return lineStart;
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
