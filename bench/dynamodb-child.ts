/**
 * One measured row of the DynamoDB benchmark (bench/dynamodb.ts), run in a process of its own so its
 * peak RSS is its own: `node --import tsx bench/dynamodb-child.ts <mode> '<json args>'`. Prints one
 * JSON line `{ items, seconds, result? }` on stdout; `seconds` is the work alone, without the
 * process start and module loading.
 *
 * Modes: `write-concurrent` (the seeder and the bare saturating writer), `write-sequential`,
 * `scan-bare` (Scan + JSON.stringify + gzip level 1 to /dev/null), `export` and `import` (the
 * activities' code paths: exportSegment / importSegment, every segment in parallel), `drill` (the
 * restore drill's code path: read the backup back, a scratch table from the captured definition, the
 * import, a digest of every segment compared with the manifest, the scratch table deleted).
 */
import { BatchWriteItemCommand, CreateTableCommand, DeleteTableCommand, DynamoDBClient, ScanCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, CreateTableCommandInput, WriteRequest } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DEFAULT_SEGMENTS_PER_WORKER, SegmentSlots } from '../activities/aws/dynamodb-backup';
import { exportSegment } from '../activities/aws/dynamodb-export';
import { digestTableSegment, importSegment, verifyTableBackup } from '../activities/aws/dynamodb-import';
import { readManifest, tableOf } from '../activities/aws/backup-chunks';
import { forEachLimit } from '../common/concurrency';
import { loadConfig } from '../common/config';
import { addDigests } from '../common/dynamodb-backup';
import type { BackupLocation, SegmentExport } from '../common/dynamodb-backup';
import { drillMismatches, scratchTableSpec } from '../common/dynamodb-drill';

type Item = Record<string, AttributeValue>;

const FIRST_NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Radia', 'Guido', 'Frances'];
const TOPICS = ['kubernetes', 'rust', 'gardening', 'coffee', 'climbing', 'jazz', 'chess', 'typescript'];
const BIOS = [
  'Backend engineer, mostly Go these days; happy to talk about on-call and sourdough.',
  'Designer turned frontend developer. Ask me about accessibility audits.',
  'Platform team lead; Kubernetes operators by day, bouldering by night.',
  'Data engineer who still misses SQL Server. Coffee: flat white, no sugar.',
];

/**
 * The i-th benchmark row: a users row as scripts/seed/aws.ts writes them plus a short bio, about
 * 200 bytes by DynamoDB's item-size rule. Deterministic, so any process can regenerate any range.
 */
export function benchItem(i: number): Item {
  const name = FIRST_NAMES[i % FIRST_NAMES.length]!;
  return {
    user_id: { S: `u-${String(i).padStart(7, '0')}` },
    email: { S: `${name.toLowerCase()}.${i}@example.org` },
    name: { S: `${name} ${String.fromCharCode(65 + (i % 26))}.` },
    active: { BOOL: i % 5 !== 0 },
    // (i) and (3i + 1) differ modulo 8 for every i: a string set holds no duplicates.
    interests: { SS: [TOPICS[i % 8]!, TOPICS[(3 * i + 1) % 8]!] },
    timezone_offset_minutes: { N: String(((i % 24) - 12) * 60) },
    created_at: { S: new Date(Date.UTC(2025, 0, 1) + (i % 3650) * 86_400_000).toISOString() },
    bio: { S: BIOS[i % BIOS.length]! },
  };
}

/** DynamoDB's item size: attribute names plus values (numbers counted as their digits, a rough upper bound). */
export function itemSizeBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (value.S !== undefined) bytes += Buffer.byteLength(value.S);
    else if (value.N !== undefined) bytes += value.N.length;
    else if (value.BOOL !== undefined) bytes += 1;
    else if (value.SS !== undefined) bytes += value.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  }
  return bytes;
}

// Built in main() only: the parent imports this module for benchItem.
let config: ReturnType<typeof loadConfig>;
let dynamodb: DynamoDBClient;
let s3: S3Client;

/** One BatchWriteItem request, re-sent until nothing is left unprocessed (no processing otherwise). */
async function writeBatch(table: string, requests: WriteRequest[]): Promise<void> {
  let pending = requests;
  while (pending.length > 0) {
    const response = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
    pending = response.UnprocessedItems?.[table] ?? [];
  }
}

function batchOf(from: number, to: number): WriteRequest[] {
  const requests: WriteRequest[] = [];
  for (let i = from; i < to; i++) requests.push({ PutRequest: { Item: benchItem(i) } });
  return requests;
}

async function writeConcurrent(args: { table: string; from: number; to: number; concurrency: number }): Promise<number> {
  const starts = Array.from({ length: Math.ceil((args.to - args.from) / 25) }, (_, i) => args.from + i * 25);
  await forEachLimit(starts, args.concurrency, (from) => writeBatch(args.table, batchOf(from, Math.min(args.to, from + 25))));
  return args.to - args.from;
}

async function writeSequential(args: { table: string; from: number; to: number }): Promise<number> {
  for (let from = args.from; from < args.to; from += 25) await writeBatch(args.table, batchOf(from, Math.min(args.to, from + 25)));
  return args.to - args.from;
}

/** The cost of the work itself: one segment, the default page size, JSON, gzip level 1, /dev/null. */
async function scanBare(args: { table: string }): Promise<number> {
  const gzip = createGzip({ level: 1 });
  const sink = createWriteStream('/dev/null');
  gzip.pipe(sink);
  let items = 0;
  let startKey: Item | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: args.table, ExclusiveStartKey: startKey }));
    // One write per page: per-item writes into the zlib stream would cost more than the work.
    const lines = (page.Items ?? []).map((item) => JSON.stringify(item) + '\n');
    items += lines.length;
    if (lines.length > 0 && !gzip.write(lines.join(''))) await once(gzip, 'drain');
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  gzip.end();
  await finished(sink);
  return items;
}

async function exportAll(args: { table: string; totalSegments: number; bucket: string; prefix: string }): Promise<{ items: number; result: SegmentExport[] }> {
  const target = { dynamodb, s3, expectedBucketOwner: config.aws.expectedBucketOwner };
  // As one worker runs them: at most DEFAULT_SEGMENTS_PER_WORKER segments at once.
  const slots = new SegmentSlots(DEFAULT_SEGMENTS_PER_WORKER);
  const result = await Promise.all(
    Array.from({ length: args.totalSegments }, (_, segment) =>
      slots.run(() => undefined, () => exportSegment(target, { tableName: args.table, segment, totalSegments: args.totalSegments, bucket: args.bucket, prefix: args.prefix }, undefined, () => undefined, () => undefined)),
    ),
  );
  return { items: result.reduce((n, s) => n + s.items, 0), result };
}

/** As the importTableSegment activity does it: read the manifest (checked against its SHA-256), import one segment. */
async function importAll(args: { location: BackupLocation; table: string; targetTable: string; segments: number[] }): Promise<number> {
  const deps = { dynamodb, s3, expectedBucketOwner: config.aws.expectedBucketOwner };
  const slots = new SegmentSlots(DEFAULT_SEGMENTS_PER_WORKER);
  const results = await Promise.all(
    args.segments.map(async (segment) => {
      const manifest = await readManifest(s3, args.location, deps.expectedBucketOwner);
      return slots.run(() => undefined, () => importSegment(deps, manifest, { tableName: args.table, targetTable: args.targetTable, segment }, undefined, () => undefined, () => undefined));
    }),
  );
  return results.reduce((n, r) => n + r.items, 0);
}

/**
 * As the backupDrill workflow's activities do it, in one process: every chunk read back and checked,
 * a scratch table from the captured definition, every segment imported, every segment digested and
 * compared with the manifest, the scratch table deleted. Items are the restored count.
 */
async function drillAll(args: { location: BackupLocation; table: string; scratchTable: string; segments: number[] }): Promise<{ items: number; result: { mismatches: string[]; phases: Record<string, number> } }> {
  const deps = { dynamodb, s3, expectedBucketOwner: config.aws.expectedBucketOwner };
  const manifest = await readManifest(s3, args.location, deps.expectedBucketOwner);
  const backup = tableOf(manifest, args.table);
  // Seconds per phase, so a slow drill says where its time went.
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const lap = (phase: string) => {
    phases[phase] = (performance.now() - mark) / 1000;
    mark = performance.now();
  };
  await verifyTableBackup(s3, manifest, args.table, () => undefined, deps.expectedBucketOwner);
  lap('verify');
  await dynamodb.send(new CreateTableCommand(scratchTableSpec(backup.definition, args.scratchTable, { instance: 'bench', runId: 'bench' }) as CreateTableCommandInput));
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60 }, { TableName: args.scratchTable });
  lap('create');
  try {
    const slots = new SegmentSlots(DEFAULT_SEGMENTS_PER_WORKER);
    await Promise.all(
      args.segments.map((segment) => slots.run(() => undefined, () => importSegment(deps, manifest, { tableName: args.table, targetTable: args.scratchTable, segment }, undefined, () => undefined, () => undefined))),
    );
    lap('import');
    const parts = await Promise.all(args.segments.map((segment) => digestTableSegment(dynamodb, args.scratchTable, segment, args.segments.length, () => undefined)));
    lap('digest');
    const restored = { items: parts.reduce((n, p) => n + p.items, 0), digest: addDigests(...parts.map((p) => p.digest)) };
    const mismatches = drillMismatches([{ tableName: args.table, scratchTable: args.scratchTable, expectedItems: backup.items, expectedDigest: backup.digest, restoredItems: restored.items, restoredDigest: restored.digest }]);
    return { items: restored.items, result: { mismatches, phases } };
  } finally {
    await dynamodb.send(new DeleteTableCommand({ TableName: args.scratchTable }));
  }
}

async function main(): Promise<void> {
  config = loadConfig(process.env);
  dynamodb = new DynamoDBClient({ region: config.aws.region });
  s3 = new S3Client({ region: config.aws.region, forcePathStyle: config.aws.s3ForcePathStyle });
  const [mode, json] = process.argv.slice(2);
  // The parent builds these arguments; a shape mistake fails loudly in the mode itself.
  const args = JSON.parse(json ?? '{}') as never;
  const started = performance.now();
  let items: number;
  let result: unknown;
  switch (mode) {
    case 'write-concurrent':
      items = await writeConcurrent(args);
      break;
    case 'write-sequential':
      items = await writeSequential(args);
      break;
    case 'scan-bare':
      items = await scanBare(args);
      break;
    case 'export':
      ({ items, result } = await exportAll(args));
      break;
    case 'import':
      items = await importAll(args);
      break;
    case 'drill':
      ({ items, result } = await drillAll(args));
      break;
    default:
      throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  }
  const seconds = (performance.now() - started) / 1000;
  dynamodb.destroy();
  s3.destroy();
  process.stdout.write(JSON.stringify({ items, seconds, result }) + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
