/** The import's streaming path: lines across pieces, items by line number, bounded batches, verified chunks; AWS errors typed by their code. */
import { DynamoDBServiceException, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseItemLines, splitLines, writeInBatches } from '../../activities/aws/chunk-stream';
import type { Line } from '../../activities/aws/chunk-stream';
import { nonRetryable } from '../../activities/aws/dynamodb-backup';
import { BackupCorruptError, chunkItems, downloadVerifiedChunk } from '../../activities/aws/backup-chunks';
import { MalformedItemError } from '../../activities/aws/dynamodb-items';
import type { ChunkRecord, TableDefinition } from '../../common/dynamodb-backup';
import { typedAwsError } from '../../worker/aws-error-types';

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

function pieces(...parts: (string | Buffer)[]): AsyncIterable<Buffer> {
  return Readable.from(parts.map((part) => Buffer.from(part)));
}

const lineOf = (i: number) => JSON.stringify({ id: { S: `k${i}` }, n: { N: String(i) } });

describe('splitLines', () => {
  it('joins a line split across pieces, skips empty lines but counts them, and keeps a last line without a newline', async () => {
    const lines = await collect(splitLines(pieces('{"a":', '1}\n\n{"b"', ':2}\r\n', '\n{"c":3}')));
    expect(lines).toEqual<Line[]>([
      { text: '{"a":1}', number: 1 },
      { text: '{"b":2}', number: 3 },
      { text: '{"c":3}', number: 5 },
    ]);
  });

  it('keeps a multi-byte character cut between two pieces', async () => {
    const bytes = Buffer.from('{"s":"größe €"}\n');
    const cut = bytes.indexOf(Buffer.from('€')) + 1;
    const lines = await collect(splitLines(pieces(bytes.subarray(0, cut), bytes.subarray(cut))));
    expect(lines).toEqual([{ text: '{"s":"größe €"}', number: 1 }]);
  });

  it('gives nothing for an empty stream or one of newlines', async () => {
    expect(await collect(splitLines(pieces()))).toEqual([]);
    expect(await collect(splitLines(pieces('\n', '\n\n')))).toEqual([]);
  });
});

describe('parseItemLines', () => {
  it('parses each line into an item', async () => {
    const items = await collect(parseItemLines(splitLines(pieces(`${lineOf(1)}\n${lineOf(2)}`)), 'c/0.json.gz'));
    expect(items).toEqual([
      { id: { S: 'k1' }, n: { N: '1' } },
      { id: { S: 'k2' }, n: { N: '2' } },
    ]);
  });

  it('a line that is not JSON fails naming the chunk and its line number, and the failure is non-retryable', async () => {
    const failure = await collect(parseItemLines(splitLines(pieces(`${lineOf(1)}\n\n{"id": {"S": "k`, `2"}\n`)), 'backups/t/c-0.json.gz')).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MalformedItemError);
    expect((failure as Error).message).toMatch(/^chunk backups\/t\/c-0\.json\.gz line 3: not JSON/);
    const converted = (() => {
      try {
        nonRetryable(failure);
      } catch (err) {
        return err;
      }
    })();
    expect(converted).toBeInstanceOf(ApplicationFailure);
    expect((converted as ApplicationFailure).nonRetryable).toBe(true);
    expect((converted as ApplicationFailure).type).toBe('MalformedItemError');
  });

  it('a line of JSON that is not DynamoDB JSON names the chunk, line and attribute', async () => {
    const failure = await collect(parseItemLines(splitLines(pieces(`${lineOf(1)}\n{"id":{"X":"1"}}\n`)), 'c-7')).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MalformedItemError);
    expect((failure as Error).message).toMatch(/^chunk c-7 line 2\.id: unknown AttributeValue type "X"/);
  });
});

describe('typedAwsError', () => {
  it('types an AWS error the SDK throws as its base class by its code, so nonRetryableErrorTypes can name it', () => {
    const err = new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', $metadata: {}, message: 'The provided key element does not match the schema' });
    const typed = typedAwsError(err);
    expect(typed).toBeInstanceOf(ApplicationFailure);
    expect((typed as ApplicationFailure).type).toBe('ValidationException');
    expect((typed as ApplicationFailure).nonRetryable).toBe(false);
    expect((typed as ApplicationFailure).cause).toBe(err);
  });

  it('leaves modelled AWS errors and our own errors as they are', () => {
    const modelled = new ResourceNotFoundException({ $metadata: {}, message: 'no table' });
    expect(typedAwsError(modelled)).toBe(modelled);
    const ours = new MalformedItemError('x');
    expect(typedAwsError(ours)).toBe(ours);
  });
});

describe('writeInBatches', () => {
  /** A source of `n` numbered items that records how far it was read. */
  function source(n: number, failAt?: number) {
    const state = { read: 0 };
    const items = Readable.from(
      (function* () {
        for (let i = 0; i < n; i++) {
          if (i === failAt) throw new Error(`source broke at ${i}`);
          state.read++;
          yield i;
        }
      })(),
      { highWaterMark: 1 },
    ) as AsyncIterable<number>;
    return { state, items };
  }

  it('sends every item once in batches of at most 25, never two items with one key in a batch', async () => {
    const batches: string[][] = [];
    const keys = ['a', 'b', 'a', ...Array.from({ length: 60 }, (_, i) => `k${i}`)];
    await writeInBatches(Readable.from(keys) as AsyncIterable<string>, {
      batchSize: 25,
      maxInFlight: 4,
      keyOf: (k) => k,
      send: (b) => Promise.resolve(void batches.push(b)),
    });
    expect(batches.flat().sort()).toEqual([...keys].sort());
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(25);
      expect(new Set(b).size).toBe(b.length);
    }
    expect(batches[0]).toEqual(['a', 'b']);
  });

  it('reads the source no further than the batches in flight allow (backpressure) and never sends more than maxInFlight at once', async () => {
    const { state, items } = source(10_000);
    const pending: (() => void)[] = [];
    let running = 0;
    let mostRunning = 0;
    const writing = writeInBatches(items, {
      batchSize: 25,
      maxInFlight: 3,
      keyOf: (i) => String(i),
      send: async () => {
        mostRunning = Math.max(mostRunning, ++running);
        await new Promise<void>((resolve) => pending.push(resolve));
        running--;
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Three batches sent and the fourth one started (plus what the source buffers): nothing more is read while no send finishes.
    expect(pending).toHaveLength(3);
    expect(state.read).toBeLessThanOrEqual(3 * 25 + 3);
    while (state.read < 10_000 || pending.length > 0) {
      pending.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writing;
    expect(mostRunning).toBe(3);
  });

  it('after a failed send it reads no more, lets the sends under way finish, and rejects with that failure', async () => {
    const { state, items } = source(10_000);
    let settled = 0;
    let calls = 0;
    const writing = writeInBatches(items, {
      batchSize: 25,
      maxInFlight: 4,
      keyOf: (i) => String(i),
      send: async () => {
        const call = ++calls;
        await new Promise((resolve) => setTimeout(resolve, call === 2 ? 1 : 10));
        settled++;
        if (call === 2) throw new Error('ValidationException: the provided key element does not match the schema');
      },
    });
    await expect(writing).rejects.toThrow(/ValidationException/);
    expect(settled).toBe(calls);
    expect(state.read).toBeLessThan(10 * 25);
  });

  it('a source that breaks rejects with its error once the sends under way have settled', async () => {
    const { items } = source(100, 60);
    let running = 0;
    const writing = writeInBatches(items, {
      batchSize: 25,
      maxInFlight: 4,
      keyOf: (i) => String(i),
      send: async () => {
        running++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        running--;
      },
    });
    await expect(writing).rejects.toThrow('source broke at 60');
    expect(running).toBe(0);
  });
});

describe('a verified chunk', () => {
  let spoolDir: string;
  beforeAll(async () => {
    spoolDir = await mkdtemp(path.join(tmpdir(), 'chunk-stream-test-'));
  });
  afterAll(async () => {
    await rm(spoolDir, { recursive: true, force: true });
  });

  const gz = gzipSync(Array.from({ length: 300 }, (_, i) => lineOf(i)).join('\n') + '\n');
  const record = (over: Partial<ChunkRecord> = {}): ChunkRecord => ({
    key: 'backups/t/c-0.json.gz',
    items: 300,
    bytes: gz.length,
    sha256: createHash('sha256').update(gz).digest('hex'),
    ...over,
  });
  /** An S3 client whose GetObject streams `body` in small pieces, counting how many were read. */
  function s3Of(body: Buffer) {
    const read = { pieces: 0 };
    const parts = function* () {
      for (let at = 0; at < body.length; at += 100) {
        read.pieces++;
        yield body.subarray(at, at + 100);
      }
    };
    const client = {
      send: () => Promise.resolve({ Body: Readable.from(parts()) }),
    } as unknown as S3Client;
    return { client, read };
  }

  it('streams its items, held in memory or spooled to a file that dispose() removes', async () => {
    for (const inMemoryMaxBytes of [undefined, 10]) {
      const verified = await downloadVerifiedChunk({ s3: s3Of(gz).client, bucket: 'b', spoolDir, inMemoryMaxBytes }, record());
      const items = await collect(chunkItems(verified));
      expect(items).toHaveLength(300);
      expect(items[299]).toEqual({ id: { S: 'k299' }, n: { N: '299' } });
      expect(await readdir(spoolDir)).toHaveLength(inMemoryMaxBytes === undefined ? 0 : 1);
      await verified.dispose();
      expect(await readdir(spoolDir)).toEqual([]);
    }
  });

  it('a tampered chunk is refused before any item is parsed from it, and its spool file is removed', async () => {
    const tampered = Buffer.from(gz);
    tampered[tampered.length - 10]! ^= 1;
    const failure = await downloadVerifiedChunk({ s3: s3Of(tampered).client, bucket: 'b', spoolDir, inMemoryMaxBytes: 10 }, record()).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BackupCorruptError);
    expect((failure as Error).message).toMatch(/^chunk backups\/t\/c-0\.json\.gz: SHA-256 [0-9a-f]{64} \(\d+ bytes\), the manifest says/);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('a body longer than the manifest says is cut off as soon as it is', async () => {
    const longer = Buffer.concat([gz, Buffer.alloc(5_000)]);
    const { client, read } = s3Of(longer);
    await expect(downloadVerifiedChunk({ s3: client, bucket: 'b' }, record())).rejects.toThrow(/more than the \d+ bytes the manifest says/);
    expect(read.pieces).toBeLessThanOrEqual(Math.ceil(gz.length / 100) + 1);
  });

  it("with the table's definition, an item whose key has another type fails naming chunk and line", async () => {
    const definition = { keySchema: [{ AttributeName: 'id', KeyType: 'HASH' as const }], attributeDefinitions: [{ AttributeName: 'id', AttributeType: 'N' }] } as TableDefinition;
    const verified = await downloadVerifiedChunk({ s3: s3Of(gz).client, bucket: 'b' }, record());
    const failure = await collect(chunkItems(verified, definition)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MalformedItemError);
    expect((failure as Error).message).toBe('chunk backups/t/c-0.json.gz line 1: id is of type S, the table defines it as N (a key or index key)');
  });

  it('an item count other than the manifest says fails the chunk', async () => {
    const verified = await downloadVerifiedChunk({ s3: s3Of(gz).client, bucket: 'b' }, record({ items: 301 }));
    await expect(collect(chunkItems(verified))).rejects.toThrow('chunk backups/t/c-0.json.gz holds 300 items, the manifest says 301');
  });
});
