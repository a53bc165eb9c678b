/**
 * `import-dynamodb --from FILE`: puts an operator's local `aws dynamodb scan` output into the backup
 * bucket, where the import runbook's worker can read it. Streamed in parts (never read into memory),
 * encrypted at rest, and refused if the bucket belongs to another account.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { RunbooksConfig } from '../common/config';
import { InvalidInputError } from '../common/instance';

export interface UploadedFile {
  file: string;
  bytes: number;
  bucket: string;
  key: string;
  url: string;
}

/** The local file to upload: it must exist and be a regular file. Returns its size. */
export function checkLocalFile(file: string): { file: string; bytes: number } {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    throw new InvalidInputError(`--from ${file}: no such file (give an existing file, or an s3:// URL)`, { cause: err });
  }
  if (!stat.isFile()) throw new InvalidInputError(`--from ${file}: not a regular file`);
  return { file: path.resolve(file), bytes: stat.size };
}

/** `uploads/<instance>/<uuid>-<basename>`: unique per upload, and still says what the file was. */
export function uploadKey(instance: string, file: string): string {
  const base = path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_');
  return `uploads/${instance}/${randomUUID()}-${base}`;
}

export async function uploadScanFile(config: RunbooksConfig, instance: string, file: string): Promise<UploadedFile> {
  const { file: resolved, bytes } = checkLocalFile(file);
  const key = uploadKey(instance, resolved);
  // Built like the worker's client (worker/dependencies.ts): region, path style, the default credential chain.
  const s3 = new S3Client({ region: config.aws.region, forcePathStyle: config.aws.s3ForcePathStyle });
  try {
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: config.aws.backupBucket,
        Key: key,
        Body: createReadStream(resolved),
        ContentType: 'application/json',
        ServerSideEncryption: 'AES256',
        ExpectedBucketOwner: config.aws.expectedBucketOwner,
      },
    });
    await upload.done();
  } catch (err) {
    throw new Error(`cannot upload ${resolved} to s3://${config.aws.backupBucket}/${key}`, { cause: err });
  } finally {
    s3.destroy();
  }
  return { file: resolved, bytes, bucket: config.aws.backupBucket, key, url: `s3://${config.aws.backupBucket}/${key}` };
}
