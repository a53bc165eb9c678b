/**
 * The guide's own backup file: what `aws dynamodb scan --table-name T > file.json` prints, one JSON
 * document `{"Items": [...], "Count": n, "ScannedCount": n, ...}`. Parsed as a stream, so a file
 * larger than memory imports; numbers inside items are strings in DynamoDB JSON, so none is rounded.
 */
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';

export async function* parseScanFile(source: Readable): AsyncGenerator<unknown> {
  const items = streamArray.asStream();
  // pipeline forwards every stage's error: a broken download or bad JSON fails the import, not hangs it.
  pipeline(source, parser.asStream(), pick.asStream({ filter: 'Items' }), items, (err) => {
    if (err) items.destroy(err);
  });
  for await (const entry of items as AsyncIterable<{ key: number; value: unknown }>) yield entry.value;
}
