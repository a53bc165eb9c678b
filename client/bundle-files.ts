/**
 * A diagnostic bundle read from disk: its files by path inside the bundle (without the archive's top
 * folder), for `runbook triage --bundle`. Bundles are bounded (DiagnosticLimits.maxBundleBytes); only
 * the files the analyzers read are kept in memory.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { isEvidenceFile } from '../common/analyzers/bundle';

export interface BundleFiles {
  /** From the manifest. */
  instance: string;
  createdAt: string;
  files: Map<string, string>;
}

export class BundleFormatError extends Error {
  override readonly name = 'BundleFormatError';
}

export async function readBundleFiles(file: string): Promise<BundleFiles> {
  const files = new Map<string, string>();
  let manifest: { instance?: string; createdAt?: string } | undefined;
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const inside = header.name.replace(/^[^/]+\//, '');
    const keep = inside === 'manifest.json' || isEvidenceFile(inside);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => {
      if (keep) chunks.push(chunk as Buffer);
    });
    stream.on('end', () => {
      if (keep) {
        const text = Buffer.concat(chunks).toString('utf8');
        if (inside === 'manifest.json') manifest = JSON.parse(text) as typeof manifest;
        else files.set(inside, text);
      }
      next();
    });
    stream.resume();
  });
  try {
    await pipeline(createReadStream(file), createGunzip(), tar);
  } catch (err) {
    throw new BundleFormatError(`${file} is not a diagnostic bundle (a tar.gz): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!manifest?.instance || !manifest.createdAt) throw new BundleFormatError(`${file} has no manifest.json naming its instance: not a diagnostic bundle`);
  return { instance: manifest.instance, createdAt: manifest.createdAt, files };
}
