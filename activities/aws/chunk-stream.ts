/**
 * A backup chunk as a stream of items, and items written as a stream of batches: the import never
 * holds a chunk's parsed items, only the batches in flight (issue 17: the import's peak RSS was
 * twice the bare writer's while it held whole parsed chunks).
 */
import { StringDecoder } from 'node:string_decoder';
import type { Item } from './dynamodb-items';
import { itemFromWire, MalformedItemError } from './dynamodb-items';

export interface Line {
  text: string;
  /** 1-based, counting empty lines too: the number an editor shows. */
  number: number;
}

/**
 * Splits a byte stream into its non-empty lines: a line may span any number of pieces, a multi-byte
 * character may be cut between two, `\r\n` counts as `\n`, and a last line without a newline is a line.
 */
export async function* splitLines(pieces: AsyncIterable<Buffer | string>): AsyncGenerator<Line> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let number = 0;
  const line = (text: string): Line | undefined => {
    number++;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    return trimmed.length > 0 ? { text: trimmed, number } : undefined;
  };
  for await (const piece of pieces) {
    const text = rest + (typeof piece === 'string' ? piece : decoder.write(piece));
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      const found = line(text.slice(start, end));
      if (found) yield found;
      start = end + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.length > 0) {
    const found = line(rest);
    if (found) yield found;
  }
}

/**
 * Each line of a chunk as an item in DynamoDB JSON; a line that is not one, or an item `check`
 * refuses, is named by chunk and line number.
 */
export async function* parseItemLines(lines: AsyncIterable<Line>, chunkKey: string, check?: (item: Item, where: string) => void): AsyncGenerator<Item> {
  for await (const { text, number } of lines) {
    const where = `chunk ${chunkKey} line ${number}`;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new MalformedItemError(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    const item = itemFromWire(raw, where);
    check?.(item, where);
    yield item;
  }
}

export interface BatchWriterOptions<T> {
  /** Items per batch (BatchWriteItem takes at most 25). */
  batchSize: number;
  /** Batches sent at once; the source is not read further while this many are in flight. */
  maxInFlight: number;
  /** Two items with the same key never share a batch (DynamoDB rejects such a batch). */
  keyOf: (item: T) => string;
  send: (batch: T[]) => Promise<void>;
}

/**
 * Pulls items from `source` into batches and sends them, at most `maxInFlight` at once: the source
 * is read only while a slot is free, so what is held is bounded by the batches in flight whatever the
 * source's size. After a failure (a send, or the source itself) it reads and sends no more, waits for
 * the sends under way to settle, and rejects with the first failure.
 */
export async function writeInBatches<T>(source: AsyncIterable<T>, options: BatchWriterOptions<T>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const launch = (batch: T[]) => {
    const sending: Promise<void> = options
      .send(batch)
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };
  let batch: T[] = [];
  let keys = new Set<string>();
  try {
    for await (const item of source) {
      const key = options.keyOf(item);
      if (batch.length === options.batchSize || keys.has(key)) {
        launch(batch);
        batch = [];
        keys = new Set();
        while (inFlight.size >= options.maxInFlight) await Promise.race(inFlight);
      }
      if (failure) break;
      batch.push(item);
      keys.add(key);
    }
    if (!failure && batch.length > 0) launch(batch);
  } catch (error) {
    failure ??= { error };
  }
  await Promise.all(inFlight);
  if (failure) throw failure.error;
}
