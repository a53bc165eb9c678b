/**
 * Approver keys on disk: one JSON file per identity holding the Ed25519 private key (mode 0600) and
 * its public key, which goes onto the workers' approvers keyring.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateApproverKey, keyFingerprint, publicKeyOf } from '../common/approval';
import { decodeBase64, encodeBase64 } from '../common/base64';

export interface StoredKey {
  user: string;
  publicKey: string;
  privateKey: Uint8Array;
  fingerprint: string;
}

export function defaultKeyDir(): string {
  return process.env.VCP_KEY_DIR ?? path.join(process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'vcp-runbooks', 'keys');
}

function keyFile(dir: string, user: string): string {
  if (!/^[A-Za-z0-9._@-]+$/.test(user)) throw new Error(`invalid identity name ${JSON.stringify(user)}`);
  return path.join(dir, `${user}.json`);
}

/** Creates a key for the identity unless one exists; never overwrites a key. */
export function initKey(user: string, dir = defaultKeyDir()): StoredKey {
  const file = keyFile(dir, user);
  if (existsSync(file)) return loadKey(user, dir);
  const { privateKey, publicKey } = generateApproverKey();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify({ user, publicKey, privateKey: encodeBase64(privateKey) }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return { user, publicKey, privateKey, fingerprint: keyFingerprint(publicKey) };
}

export function loadKey(user: string, dir = defaultKeyDir()): StoredKey {
  return loadKeyFile(keyFile(dir, user), `no approver key for ${user} in ${dir}: create one with \`runbook keys init\``);
}

/** A key file as `keys init` writes it, wherever it is (a mounted Secret, for a service). */
export function loadKeyFile(file: string, missing = `cannot read the key file ${file}`): StoredKey {
  let raw: { user: string; publicKey: string; privateKey: string };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as typeof raw;
  } catch (err) {
    throw new Error(missing, { cause: err });
  }
  const privateKey = decodeBase64(raw.privateKey);
  if (publicKeyOf(privateKey) !== raw.publicKey) throw new Error(`key file ${file} is corrupt: its public key does not match its private key`);
  return { user: raw.user, publicKey: raw.publicKey, privateKey, fingerprint: keyFingerprint(raw.publicKey) };
}
