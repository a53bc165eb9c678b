/**
 * Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and SHA-256 digests in pure JS,
 * identical in workflows, workers and the CLI: the plan digest an approver signs must be reproducible
 * byte for byte everywhere. For JSON data this is the same text as the sorted-keys JSON used before
 * (recorded runs keep their digests: the replay tests prove it).
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import { canonicalize } from 'json-canonicalize';

/** A value that JSON cannot carry as itself: refused rather than digested as something else. */
class NotJsonError extends TypeError {
  override readonly name = 'NotJsonError';
}

/**
 * RFC 8785 text of JSON data. `undefined` members are left out and `undefined` array elements become
 * null, as JSON.stringify (and so Temporal's payloads) do; a Date is its ISO text, as JSON carries it.
 * Anything else that is not JSON data (a Map, a Set, a class instance, a function, a bigint, NaN or
 * Infinity, an invalid Date) is refused: serialised as `{}` or dropped it would let two different
 * plans share a digest.
 */
export function canonicalJson(value: unknown): string {
  requireJsonData(value, '$');
  return canonicalize(value);
}

function requireJsonData(value: unknown, path: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new NotJsonError(`${path}: ${value} is not a JSON number`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((element, i) => element === undefined || requireJsonData(element, `${path}[${i}]`));
    return;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new NotJsonError(`${path}: an invalid Date`);
    return;
  }
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      throw new NotJsonError(`${path}: a ${value.constructor?.name ?? 'non-plain object'} is not JSON data`);
    }
    for (const [key, member] of Object.entries(value)) if (member !== undefined) requireJsonData(member, `${path}.${key}`);
    return;
  }
  throw new NotJsonError(`${path}: a ${typeof value} is not JSON data`);
}

export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The digest of a plan: what an approval is bound to. */
export function planDigest(plan: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(plan))}`;
}
