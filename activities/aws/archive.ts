/**
 * Builds the diagnostic bundle: streams every staged file from S3 into one tar.gz uploaded back to
 * S3 (multipart), never holding the bundle in memory, with a manifest of sizes and checksums; then
 * signs a download URL. A tar header needs each file's size, which the staging step recorded.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DeleteObjectsCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { pack as tarPack } from 'tar-stream';
import type { CollectorOutcome, DiagnosticArchive, DiagnosticLimits } from '../../common/diagnostics';
import { MAX_PRESIGN_SECONDS } from '../../common/diagnostics';

export interface ArchiveRequest {
  bundleId: string;
  instance: string;
  archiveKey: string;
  outcomes: CollectorOutcome[];
  limits: DiagnosticLimits;
  urlExpirySeconds: number;
  inputs: Record<string, unknown>;
}

export interface ArchiveDeps {
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
}

export function createArchiveActivities(deps: ArchiveDeps) {
  const owner = { Bucket: deps.backupBucket, ExpectedBucketOwner: deps.expectedBucketOwner };
  return {
    async buildDiagnosticArchive(req: ArchiveRequest): Promise<DiagnosticArchive> {
      if (!(req.urlExpirySeconds > 0 && req.urlExpirySeconds <= MAX_PRESIGN_SECONDS)) {
        throw ApplicationFailure.create({ type: 'InvalidInputError', message: `urlExpirySeconds must be between 1 and ${MAX_PRESIGN_SECONDS} (SigV4 allows at most 7 days)`, nonRetryable: true });
      }
      const staged = req.outcomes.flatMap((o) => o.files).sort((a, b) => a.path.localeCompare(b.path));
      const included: typeof staged = [];
      const omitted: string[] = [];
      let total = 0;
      for (const file of staged) {
        if (total + file.size > req.limits.maxBundleBytes) {
          omitted.push(`${file.path} (${file.size} bytes): over the bundle size cap of ${req.limits.maxBundleBytes} bytes`);
          continue;
        }
        total += file.size;
        included.push(file);
      }
      const root = `diagnostics-${req.instance}`;
      const manifest = {
        instance: req.instance,
        bundleId: req.bundleId,
        createdAt: new Date().toISOString(),
        inputs: req.inputs,
        collectors: req.outcomes.map(({ files, ...rest }) => ({ ...rest, files: files.map((f) => f.path) })),
        files: included.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
        omitted,
      };

      const archive = tarPack();
      const hash = createHash('sha256');
      let size = 0;
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      const body = new PassThrough();
      const upload = new Upload({
        client: deps.s3,
        params: { ...owner, Key: req.archiveKey, Body: body, ContentType: 'application/gzip', ServerSideEncryption: 'AES256' },
        queueSize: 2,
      });
      const uploaded = upload.done();
      const piping = pipeline(archive, createGzip({ level: 6 }), measure, body);

      const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
      await new Promise<void>((resolve, reject) => archive.entry({ name: `${root}/manifest.json`, size: manifestBytes.length }, manifestBytes, (err) => (err ? reject(err) : resolve())));
      // Fetch a few objects ahead while the current one streams into the archive.
      const fetch = (i: number) => (i < included.length ? deps.s3.send(new GetObjectCommand({ ...owner, Key: included[i]!.key })) : undefined);
      const ahead = [fetch(0), fetch(1), fetch(2), fetch(3)];
      for (const [i, file] of included.entries()) {
        const object = (await ahead.shift())!;
        ahead.push(fetch(i + 4));
        await new Promise<void>((resolve, reject) => {
          const entry = archive.entry({ name: `${root}/${file.path}`, size: file.size }, (err) => (err ? reject(err) : resolve()));
          (object.Body as Readable).on('error', reject).pipe(entry);
        });
        heartbeat({ filesArchived: i + 1, of: included.length });
      }
      archive.finalize();
      await Promise.all([piping, uploaded]);

      // The staged copies are in the archive now.
      for (let i = 0; i < staged.length; i += 1000) {
        await deps.s3.send(new DeleteObjectsCommand({ ...owner, Delete: { Objects: staged.slice(i, i + 1000).map((f) => ({ Key: f.key })), Quiet: true } }));
      }
      const url = await getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: deps.backupBucket, Key: req.archiveKey }), { expiresIn: req.urlExpirySeconds });
      return {
        bucket: deps.backupBucket,
        key: req.archiveKey,
        size,
        sha256: hash.digest('hex'),
        url,
        urlExpiresAt: new Date(Date.now() + req.urlExpirySeconds * 1000).toISOString(),
        files: included.length + 1,
        omitted,
      };
    },
  };
}
