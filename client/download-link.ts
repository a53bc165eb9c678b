/**
 * Download links for diagnostic bundles, signed on demand by the CLI with the caller's own AWS
 * credentials. A pre-signed URL is a bearer credential for as long as it lives, so no workflow
 * returns one (it would stay in the history); a run's result says only where the archive is.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { RunbooksConfig } from '../common/config';
import { RUNBOOKS } from '../common/definitions';
import type { DiagnosticArchive, DownloadLink } from '../common/diagnostics';
import { asRunbookResult } from './results';

export const DEFAULT_LINK_SECONDS = 3600;

/** An S3 client on the caller's credentials, built like the worker's (worker/dependencies.ts): region, path style, the default credential chain. */
export function callerS3Client(config: RunbooksConfig): S3Client {
  return new S3Client({ region: config.aws.region, forcePathStyle: config.aws.s3ForcePathStyle });
}

/** The archive of a diagnostic bundle's result, or undefined for any other result. */
function diagnosticArchiveOf(result: unknown): Pick<DiagnosticArchive, 'bucket' | 'key'> | undefined {
  const r = asRunbookResult(result);
  if (r?.audit.runbook !== RUNBOOKS.diagnosticBundle) return undefined;
  const archive = (r.details as { archive?: Partial<DiagnosticArchive> } | undefined)?.archive;
  return typeof archive?.bucket === 'string' && typeof archive.key === 'string' ? { bucket: archive.bucket, key: archive.key } : undefined;
}

/** A GET link to the archive, valid for `expirySeconds` (at most 7 days, checked by the option parser). */
export async function signDownloadLink(config: RunbooksConfig, archive: Pick<DiagnosticArchive, 'bucket' | 'key'>, expirySeconds: number): Promise<DownloadLink> {
  const s3 = callerS3Client(config);
  try {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: archive.bucket, Key: archive.key }), { expiresIn: expirySeconds });
    return { url, expiresAt: new Date(Date.now() + expirySeconds * 1000).toISOString() };
  } finally {
    s3.destroy();
  }
}

/** A link for a diagnostic bundle's result; undefined for any other result. */
export async function linkForResult(config: RunbooksConfig, result: unknown, expirySeconds: number): Promise<DownloadLink | undefined> {
  const archive = diagnosticArchiveOf(result);
  return archive ? signDownloadLink(config, archive, expirySeconds) : undefined;
}
