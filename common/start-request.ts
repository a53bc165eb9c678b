/**
 * Authenticated start requests. The requester signs the workflow ID and the whole input (their name,
 * the time, the instance, every parameter) with their Ed25519 key; the run verifies it against the
 * workers' keyring before it does anything. So `--as` cannot name someone else, four-eyes compares
 * keys rather than names, and nobody can change a signed request's parameters. Pure code: the
 * workflows verify it.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { APPROVAL_LIMITS, IDENTITY_NAME, keyFingerprint } from './approval';
import type { ApproverKey, ApproverKeyring } from './approval';
import { decodeBase64, encodeBase64 } from './base64';
import { canonicalJson } from './canonical';

/** Who asked for a run, and from where: the audit's first line. */
export interface Requester {
  user: string;
  via: 'cli' | 'alert' | 'api' | 'demo' | 'test' | 'schedule';
  /** Host or address of the CLI, or the alert receiver. */
  origin?: string;
  /** For alert-started runs: the alert's fingerprint and startsAt. */
  alert?: { name: string; fingerprint: string; startsAt: string };
  /** When the request was signed (ISO); part of what is signed. */
  signedAt?: string;
  /** Ed25519 signature by the requester's key over the workflow ID and the whole input (common/start-request.ts). */
  signature?: string;
}

const START_DOMAIN = 'vcp-runbooks/start/v1';

/** How long a signed start request stays usable: a captured one cannot start a run later. */
const START_REQUEST_VALIDITY_MS = 10 * 60 * 1000;

export class StartRequestRefused extends Error {
  override readonly name = 'StartRequestRefused';
}

/** Who requested a run, as verified at its start. */
export interface AuthenticatedRequester {
  user: string;
  /** False only where the configured policy accepts unsigned requests (local demo). */
  authenticated: boolean;
  publicKey?: string;
  keyFingerprint?: string;
}

interface WithRequester {
  options: { requestedBy: Requester };
}

function withoutSignature<T extends WithRequester>(input: T): T {
  const { signature: _signature, ...requestedBy } = input.options.requestedBy;
  return { ...input, options: { ...input.options, requestedBy } };
}

/** The exact bytes a requester signs: the domain, the workflow ID and the input without its signature. */
function startMessage(workflowId: string, input: WithRequester): Uint8Array {
  return new TextEncoder().encode(`${START_DOMAIN}\n${canonicalJson({ workflowId, input: withoutSignature(input) })}`);
}

/** Stamps the time and signs; the result is the input to start the workflow with. */
export function signStartRequest<T extends WithRequester>(workflowId: string, input: T, privateKey: Uint8Array, now = Date.now()): T {
  const stamped = { ...input, options: { ...input.options, requestedBy: { ...input.options.requestedBy, signedAt: new Date(now).toISOString() } } };
  const signature = encodeBase64(ed25519.sign(startMessage(workflowId, stamped), privateKey));
  return { ...stamped, options: { ...stamped.options, requestedBy: { ...stamped.options.requestedBy, signature } } };
}

/**
 * Verifies a run's start request against the keyring: the requester's key signed this workflow ID and
 * this exact input, recently. `startedAtMs` is the run's start time as the server recorded it.
 */
export function verifyStartRequest(
  keyring: ApproverKeyring,
  workflowId: string,
  input: WithRequester,
  startedAtMs: number,
  allowUnsigned: boolean,
): AuthenticatedRequester {
  const requester = input.options.requestedBy;
  if (typeof requester?.user !== 'string') throw new StartRequestRefused('the start request names no requester');
  // Names end up in audit records, logs and the UI: no empty names, control characters or padding.
  if (!IDENTITY_NAME.test(requester.user)) throw new StartRequestRefused(`requester ${JSON.stringify(requester.user)} is not an identity name (1-64 of A-Z a-z 0-9 . _ @ -)`);
  if (requester.signature === undefined) {
    if (allowUnsigned) return { user: requester.user, authenticated: false };
    throw new StartRequestRefused(`the start request by ${requester.user} is not signed: start runbooks with your key (runbook keys init)`);
  }
  const key: ApproverKey | undefined = keyring.approvers.find((k) => k.user === requester.user);
  if (!key) throw new StartRequestRefused(`${requester.user} has no key on the keyring, so the start request cannot be verified`);
  const signedAt = Date.parse(requester.signedAt ?? '');
  if (Number.isNaN(signedAt)) throw new StartRequestRefused('the start request has no signing time');
  if (signedAt > startedAtMs + APPROVAL_LIMITS.clockSkewMs || signedAt < startedAtMs - START_REQUEST_VALIDITY_MS) {
    throw new StartRequestRefused(`the start request was signed at ${requester.signedAt}, not within ${START_REQUEST_VALIDITY_MS / 60000} minutes before the run started`);
  }
  let valid = false;
  try {
    valid = ed25519.verify(decodeBase64(requester.signature), startMessage(workflowId, input), decodeBase64(key.publicKey));
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new StartRequestRefused(`the start request's signature does not verify against ${requester.user}'s key (${keyFingerprint(key.publicKey)}) for workflow ${workflowId}`);
  }
  return { user: requester.user, authenticated: true, publicKey: key.publicKey, keyFingerprint: keyFingerprint(key.publicKey) };
}
