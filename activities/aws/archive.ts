/**
 * Builds the diagnostic bundle: streams every collector's staging file (on this worker) into one
 * tar.gz uploaded to S3 (multipart past one part), never holding the bundle in memory, with a
 * manifest of sizes and checksums. It returns where the archive is, never a download link: a link
 * in a result would sit in the workflow's history; the CLI signs one with the caller's credentials.
 * A tar header needs each file's size, which the staging step recorded with the file's place in its
 * collector's staging file.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { pack as tarPack } from 'tar-stream';
import type { CollectorOutcome, DiagnosticArchive, DiagnosticLimits, StagedFile } from '../../common/diagnostics';
import type { FileHandle } from 'node:fs/promises';
import { HEARTBEAT_INTERVAL_MS, STAGING_LOST } from '../../common/diagnostics';
import type { StagingArea } from '../diagnostics/staging';
import { analyze } from '../../common/analyzers';
import { evidenceFromBundle, isEvidenceFile } from '../../common/analyzers/bundle';
import type { TriageReport } from '../../common/triage';

/** The bundle's triage, beside its manifest. */
export const FINDINGS_FILE = 'findings.json';

export interface ArchiveRequest {
  bundleId: string;
  instance: string;
  archiveKey: string;
  outcomes: CollectorOutcome[];
  limits: DiagnosticLimits;
  /** Ignored: sent by runs started before the archive stopped signing a link. */
  urlExpirySeconds?: number;
  inputs: Record<string, unknown>;
}

export interface ArchiveDeps {
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
  staging: StagingArea;
}

/** Bytes read from a staging file at a time: what the archive holds of a file. */
const READ_SLICE = 256 * 1024;

export function createArchiveActivities(deps: ArchiveDeps) {
  const owner = { Bucket: deps.backupBucket, ExpectedBucketOwner: deps.expectedBucketOwner };
  return {
    async buildDiagnosticArchive(req: ArchiveRequest): Promise<DiagnosticArchive> {
      // Past the cap, what describes the instance goes first, logs after: each group in path order.
      const isLog = (file: StagedFile) => file.path.startsWith('logs/');
      const staged = req.outcomes.flatMap((o) => o.files).sort((a, b) => Number(isLog(a)) - Number(isLog(b)) || a.path.localeCompare(b.path));
      // The bundle's own triage: the analyzers over everything collected (a file the cap leaves out
      // too), as `runbook triage --bundle` reads a bundle later. First within the cap: it is the summary.
      const findingsBytes = Buffer.from(JSON.stringify(await triageStaged(deps.staging, req, staged), null, 2) + '\n');
      const findingsFile = { path: FINDINGS_FILE, size: findingsBytes.length, sha256: createHash('sha256').update(findingsBytes).digest('hex') };
      const included: StagedFile[] = [];
      const omitted: string[] = req.outcomes.flatMap((o) => o.omitted ?? []);
      let total = findingsFile.size;
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
        files: [findingsFile, ...included.map(({ path, size, sha256 }) => ({ path, size, sha256 }))],
        omitted,
      };
      // Each collector's staging file in turn, its included files in the order they lie in it.
      const stagingFiles = [...new Set(req.outcomes.flatMap((o) => o.files.map((f) => f.staged)))].flatMap((name) => {
        const files = included.filter((f) => f.staged === name).sort((a, b) => a.offset - b.offset);
        return files.length > 0 ? [{ name, files }] : [];
      });

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
      // Either failing stops everything below instead of leaving it waiting for a drain.
      const broken = new Promise<never>((_, reject) => {
        piping.catch(reject);
        uploaded.catch(reject);
      });
      broken.catch(() => undefined);

      /** Writes one tar entry whose bytes `fill` produces, with backpressure from gzip and the upload. */
      const entry = async (name: string, entrySize: number, fill: (write: (slice: Buffer) => Promise<void>) => Promise<void>) => {
        let settle!: (err?: Error | null) => void;
        const written = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
        written.catch(() => undefined);
        const sink = archive.entry({ name: `${root}/${name}`, size: entrySize }, (err) => settle(err));
        await fill(async (slice) => {
          if (!sink.write(slice)) await Promise.race([once(sink, 'drain'), broken]);
        });
        sink.end(undefined); // streamx: end(lastChunk?)
        await Promise.race([written, broken]);
      };

      let archived = 0;
      // Liveness for the workflow, which takes a silent staging worker for a lost one.
      const beat = setInterval(() => heartbeat({ filesArchived: archived, of: included.length }), HEARTBEAT_INTERVAL_MS);
      try {
        const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
        await entry('manifest.json', manifestBytes.length, (write) => write(manifestBytes));
        await entry(FINDINGS_FILE, findingsBytes.length, (write) => write(findingsBytes));
        for (const { name, files } of stagingFiles) {
          const handle = await openStaged(deps.staging, req.bundleId, name);
          try {
            for (const file of files) {
              const fileHash = createHash('sha256');
              await entry(file.path, file.size, async (write) => {
                for (let done = 0; done < file.size; ) {
                  const length = Math.min(READ_SLICE, file.size - done);
                  // A fresh buffer per slice: the archive may still hold the previous one.
                  const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, file.offset + done);
                  if (bytesRead === 0) throw new Error(`${file.path}: staging file ${name} ends before the bytes its collector recorded`);
                  const slice = buffer.subarray(0, bytesRead);
                  fileHash.update(slice);
                  await write(slice);
                  done += bytesRead;
                }
              });
              // The manifest promised this checksum; a staged file that differs fails the attempt.
              if (fileHash.digest('hex') !== file.sha256) throw new Error(`${file.path} in ${name} does not match the SHA-256 its collector recorded`);
              archived++;
            }
          } finally {
            await handle.close();
          }
        }
        archive.finalize();
        await Promise.all([piping, uploaded]);
      } catch (err) {
        archive.destroy(err instanceof Error ? err : new Error(String(err)));
        await upload.abort().catch(() => undefined);
        throw err;
      } finally {
        clearInterval(beat);
      }

      // The staged files are in the archive now.
      await deps.staging.remove(req.bundleId);
      return { bucket: deps.backupBucket, key: req.archiveKey, size, sha256: hash.digest('hex'), files: included.length + 2, omitted };
    },
  };
}

/**
 * A staging file that is not there (the bundle ran its archive before and removed it, or it went
 * stale) cannot come back by retrying here: the workflow has to collect again.
 */
/** The analyzers over the bundle's evidence files, read back from staging (small: objects and log tails). */
async function triageStaged(staging: StagingArea, req: ArchiveRequest, staged: StagedFile[]): Promise<TriageReport> {
  const files = new Map<string, string>();
  for (const file of staged.filter((f) => isEvidenceFile(f.path))) {
    const handle = await openStaged(staging, req.bundleId, file.staged);
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(file.size), 0, file.size, file.offset);
      files.set(file.path, buffer.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await handle.close();
    }
  }
  return analyze(evidenceFromBundle(req.instance, files, new Date().toISOString()));
}

async function openStaged(staging: StagingArea, bundleId: string, name: string): Promise<FileHandle> {
  try {
    return await staging.read(bundleId, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw ApplicationFailure.create({ type: STAGING_LOST, message: `staging file ${name} of bundle ${bundleId} is not on this worker`, nonRetryable: true });
  }
}
