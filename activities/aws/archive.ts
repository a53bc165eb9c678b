/**
 * Builds the diagnostic bundle: streams every collector's staged object from S3 into one tar.gz
 * uploaded back to S3 (multipart past one part), never holding the bundle in memory, with a manifest
 * of sizes and checksums; then signs a download URL. A tar header needs each file's size, which the
 * staging step recorded with the file's place in its collector's object.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DeleteObjectsCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { pack as tarPack } from 'tar-stream';
import type { CollectorOutcome, DiagnosticArchive, DiagnosticLimits, StagedFile } from '../../common/diagnostics';
import { HEARTBEAT_AFTER_MS, MAX_PRESIGN_SECONDS } from '../../common/diagnostics';

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

/** Reads a byte stream in exact lengths: what a staged object holds, file after file. */
class ByteReader {
  private chunk: Buffer = Buffer.alloc(0);
  private position = 0;

  constructor(
    private readonly source: AsyncIterator<Uint8Array>,
    private readonly what: string,
  ) {}

  /** Hands the next `length` bytes to `sink`, slice by slice; fails if the stream ends first. */
  async take(length: number, sink: (slice: Buffer) => Promise<void> | void): Promise<void> {
    while (length > 0) {
      if (this.chunk.length === 0) {
        const next = await this.source.next();
        if (next.done) throw new Error(`${this.what} ends at byte ${this.position}, before the files its collector recorded`);
        this.chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      }
      const slice = this.chunk.subarray(0, Math.min(length, this.chunk.length));
      this.chunk = this.chunk.subarray(slice.length);
      this.position += slice.length;
      length -= slice.length;
      await sink(slice);
    }
  }

  skipTo(offset: number): Promise<void> {
    return this.take(offset - this.position, () => undefined);
  }
}

export function createArchiveActivities(deps: ArchiveDeps) {
  const owner = { Bucket: deps.backupBucket, ExpectedBucketOwner: deps.expectedBucketOwner };
  return {
    async buildDiagnosticArchive(req: ArchiveRequest): Promise<DiagnosticArchive> {
      const started = Date.now();
      if (!(req.urlExpirySeconds > 0 && req.urlExpirySeconds <= MAX_PRESIGN_SECONDS)) {
        throw ApplicationFailure.create({ type: 'InvalidInputError', message: `urlExpirySeconds must be between 1 and ${MAX_PRESIGN_SECONDS} (SigV4 allows at most 7 days)`, nonRetryable: true });
      }
      const staged = req.outcomes.flatMap((o) => o.files).sort((a, b) => a.path.localeCompare(b.path));
      const included: StagedFile[] = [];
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
      // One read per collector's object (in the collectors' order), its included files in the order
      // they lie in it. A read stops after the last included byte, so an omitted tail is not fetched.
      const objects = [...new Set(req.outcomes.flatMap((o) => o.files.map((f) => f.key)))].flatMap((key) => {
        const files = included.filter((f) => f.key === key).sort((a, b) => a.offset - b.offset);
        const last = files[files.length - 1];
        return last ? [{ key, files, end: last.offset + last.size }] : [];
      });
      const stagedKeys = [...new Set(staged.map((f) => f.key))];

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
      const fetch = (i: number): Promise<GetObjectCommandOutput> | undefined => {
        const object = objects[i];
        if (!object || object.end === 0) return undefined;
        const read = deps.s3.send(new GetObjectCommand({ ...owner, Key: object.key, Range: `bytes=0-${object.end - 1}` }));
        read.catch(() => undefined);
        return read;
      };
      let ahead: (Promise<GetObjectCommandOutput> | undefined)[] = [];
      try {
        const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
        await entry('manifest.json', manifestBytes.length, (write) => write(manifestBytes));
        // Fetch a few objects ahead while the current one streams into the archive.
        ahead = [0, 1, 2, 3, 4, 5].map(fetch);
        for (const [i, object] of objects.entries()) {
          const answer = await ahead.shift();
          ahead.push(fetch(i + 6));
          // No answer: the object's included files are all empty, so there is nothing to read.
          const stream = (answer?.Body as Readable | undefined) ?? Readable.from([]);
          const reader = new ByteReader(stream[Symbol.asyncIterator](), `staged object ${object.key}`);
          for (const file of object.files) {
            await reader.skipTo(file.offset);
            const fileHash = createHash('sha256');
            await entry(file.path, file.size, (write) =>
              reader.take(file.size, (slice) => {
                fileHash.update(slice);
                return write(slice);
              }),
            );
            // The manifest promised this checksum; a staged object that differs fails the attempt.
            if (fileHash.digest('hex') !== file.sha256) throw new Error(`${file.path} in ${object.key} does not match the SHA-256 its collector recorded`);
            archived++;
            if (Date.now() - started >= HEARTBEAT_AFTER_MS) heartbeat({ filesArchived: archived, of: included.length });
          }
          stream.destroy();
        }
        archive.finalize();
        await Promise.all([piping, uploaded]);
      } catch (err) {
        archive.destroy(err instanceof Error ? err : new Error(String(err)));
        // Objects fetched ahead are not read any more: let their connections go.
        for (const read of ahead) void read?.then((answer) => (answer.Body as Readable | undefined)?.destroy(), () => undefined);
        await upload.abort().catch(() => undefined);
        throw err;
      }

      // The staged objects are in the archive now (one request for up to 1000 collectors' objects).
      const [url] = await Promise.all([
        getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: deps.backupBucket, Key: req.archiveKey }), { expiresIn: req.urlExpirySeconds }),
        ...Array.from({ length: Math.ceil(stagedKeys.length / 1000) }, (_, i) =>
          deps.s3.send(new DeleteObjectsCommand({ ...owner, Delete: { Objects: stagedKeys.slice(i * 1000, (i + 1) * 1000).map((Key) => ({ Key })), Quiet: true } })),
        ),
      ]);
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
