/**
 * Canonical JSON and SHA-256 digests in pure JS, identical in workflows, workers and the CLI:
 * the plan digest an approver signs must be reproducible byte for byte everywhere.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';

/** JSON with object keys sorted at every depth; `undefined` members are dropped as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort()
        .map((key) => [key, sortKeys(record[key])]),
    );
  }
  return value;
}

export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The digest of a plan: what an approval is bound to. */
export function planDigest(plan: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(plan))}`;
}
