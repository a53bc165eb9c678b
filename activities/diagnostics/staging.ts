/**
 * Where a diagnostic bundle's collectors put their files until the archive step: bounded temporary
 * files on the worker's own disk, one per collector, its files back to back. The workflow sends a
 * bundle's collectors and its archive to one worker process (that process's own task queue), so the
 * archive reads what the collectors wrote without a round trip through S3 per file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { CollectorName, StagedFile } from '../../common/diagnostics';

/** What a workflow needs to send work to this process: its own task queue. */
export interface StagingHost {
  taskQueue: string;
}

/** A task queue only this worker process polls, beside the shared one. */
export function stagingHostTaskQueue(sharedTaskQueue: string): string {
  return `${sharedTaskQueue}/staging/${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Staging folders older than this are left over from a bundle that never reached its archive. */
export const STALE_STAGING_MS = 60 * 60 * 1000;

export class StagingArea {
  /** Reads several of a bundle's collectors need (the namespace's pods, say), made once per bundle. */
  private readonly reads = new Map<string, { at: number; reads: Map<string, Promise<unknown>> }>();

  constructor(
    /** A folder of this process's own (it is emptied of stale bundles). */
    readonly root: string,
    readonly host: StagingHost,
  ) {}

  /** The folder of one bundle; bundle IDs are `<instance>/<run ID>`, hashed so no ID can escape the root. */
  bundleDir(bundleId: string): string {
    const readable = bundleId.replace(/[^a-z0-9-]/gi, '_').slice(0, 80);
    return path.join(this.root, `${readable}-${createHash('sha256').update(bundleId).digest('hex').slice(0, 16)}`);
  }

  /**
   * Starts (or, on a retry, restarts) a collector's staging file. It refuses files once it holds
   * `maxBytes` (the bundle's cap: no collector can need more), so a runaway log cannot fill the disk;
   * the archive decides what of the staged files fits the bundle.
   */
  async open(bundleId: string, collector: CollectorName, maxBytes: number): Promise<StagingFile> {
    const dir = this.bundleDir(bundleId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const name = `${collector}.staged`;
    const handle = await open(path.join(dir, name), 'w', 0o600);
    return new StagingFile(handle, name, maxBytes);
  }

  /**
   * The bundle's one answer to `what`: the first collector to ask reads it, the others share that
   * read, so the API server is asked once and the files agree with each other. A failed read is
   * forgotten, so a retry reads again.
   */
  shared<T>(bundleId: string, what: string, read: () => Promise<T>): Promise<T> {
    const bundle = this.reads.get(bundleId) ?? { at: Date.now(), reads: new Map<string, Promise<unknown>>() };
    this.reads.set(bundleId, bundle);
    let answer = bundle.reads.get(what) as Promise<T> | undefined;
    if (!answer) {
      answer = read();
      bundle.reads.set(what, answer);
      answer.catch(() => bundle.reads.delete(what));
    }
    return answer;
  }

  /** Opens a staged file for reading, by the name a collector's outcome gives. */
  read(bundleId: string, name: string): Promise<FileHandle> {
    if (path.basename(name) !== name) throw new Error(`staged file name ${JSON.stringify(name)} is not a plain name`);
    return open(path.join(this.bundleDir(bundleId), name), 'r');
  }

  /** Removes a bundle's staged files (once they are in the archive). */
  async remove(bundleId: string): Promise<void> {
    this.reads.delete(bundleId);
    await rm(this.bundleDir(bundleId), { recursive: true, force: true });
  }

  /** Removes staging folders left by bundles that never reached their archive (a failed run, a crash). */
  async removeStale(olderThanMs = STALE_STAGING_MS): Promise<string[]> {
    for (const [bundleId, { at }] of this.reads) if (Date.now() - at > olderThanMs) this.reads.delete(bundleId);
    const entries = await readdir(this.root).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
    const removed: string[] = [];
    for (const entry of entries) {
      const dir = path.join(this.root, entry);
      const info = await stat(dir).catch(() => undefined);
      if (info?.isDirectory() && Date.now() - info.mtimeMs > olderThanMs) {
        await rm(dir, { recursive: true, force: true });
        removed.push(entry);
      }
    }
    return removed;
  }
}

/** A collector's staged bytes go to disk in writes of about this size (and at its end). */
const FLUSH_BYTES = 1024 * 1024;

/**
 * One collector's staging file. Files are appended in memory and written out in large pieces, so
 * memory stays bounded and a collector of many small files costs a few writes. Concurrent adds are
 * fine: each takes its offset when it is called.
 */
export class StagingFile {
  readonly files: StagedFile[] = [];
  readonly omitted: string[] = [];
  private size = 0;
  private closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  /** Writes in order; a failed one fails every later flush and the close. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly handle: FileHandle,
    readonly name: string,
    private readonly maxBytes: number,
  ) {}

  async add(filePath: string, content: string): Promise<void> {
    // A read still running when its collector failed must not write after the file is closed.
    if (this.closed) throw new Error(`${filePath}: not staged, the collector had already ended`);
    const bytes = Buffer.from(content, 'utf8');
    if (this.size + bytes.length > this.maxBytes) {
      this.omitted.push(`${filePath} (${bytes.length} bytes): over the bundle size cap of ${this.maxBytes} bytes`);
      return;
    }
    this.files.push({ path: filePath, staged: this.name, offset: this.size, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    this.size += bytes.length;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  /** Writes what is pending, then closes the file; a failed write fails the close (and so every file). */
  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }

  private flush(): Promise<unknown> {
    if (this.pendingBytes > 0) {
      const chunk = Buffer.concat(this.pending, this.pendingBytes);
      const position = this.written;
      this.pending = [];
      this.pendingBytes = 0;
      this.written += chunk.length;
      this.writing = this.writing.then(() => this.handle.write(chunk, 0, chunk.length, position));
    }
    return this.writing;
  }
}
