/**
 * Benchmark (issue 6): the DynamoDB export and import against their baselines, side by side in one
 * run on the local stack's DynamoDB (dynalite) and S3 (moto), at 100k small items by default:
 *
 *   export  the guide's `aws dynamodb scan --table-name T > file`; a bare pipeline (one-segment Scan,
 *           JSON.stringify, gzip level 1 to /dev/null: the cost of the work itself); our export
 *           (exportSegment for every segment of segmentsFor(items), in parallel, to the backup bucket)
 *   import  a sequential 25-item BatchWriteItem loop; a bare saturating writer (16 concurrent batches,
 *           no processing); our import (importSegment for every segment, in parallel, from that backup)
 *   drill   our restore drill of that backup (read back, scratch table, import, digest, delete): its
 *           items/s over the whole drill and its peak RSS
 *
 * Every row runs in a child process of its own (bench/dynamodb-child.ts) and reports items/s and that
 * process's peak RSS. Each import writes into a fresh table with the source's key schema.
 *
 *   make bench-dynamodb                                   # 100k items
 *   make bench-dynamodb BENCH_ARGS="--items 1000000"      # 1M (BENCH_ITEMS too; takes about 25 minutes)
 *   make bench-dynamodb BENCH_ARGS="--rss-growth"         # export rows at 100k and at 1M: peak RSS growth
 *
 * Other flags: --skip-cli (no AWS CLI row), --cpu-prof (children write V8 CPU profiles; the folder
 * is printed), --import-only (only what the import's targets compare: our export, which builds the
 * backup, then the bare writer and our import). The AWS CLI is the one on PATH, else awscli from PyPI in a cached venv
 * ($VCP_CACHE_DIR/awscli-<version>/), else its row says n/a and why.
 */
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, ScanCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteObjectsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify, parseArgs } from 'node:util';
import { putBackupObject, sha256Hex } from '../activities/aws/dynamodb-export';
import { describeDefinition } from '../activities/aws/dynamodb-tables';
import { addDigests, BACKUP_FORMAT, segmentsFor } from '../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, SegmentExport } from '../common/dynamodb-backup';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config } from '../test-support/stack';
import { benchItem, itemSizeBytes } from './dynamodb-child';

const run = promisify(execFile);
const PROJECT_DIR = path.join(__dirname, '..');
const CHILD = path.join(__dirname, 'dynamodb-child.ts');
/** Pinned like the stack's tools (scripts/stack/versions.env); used only when no `aws` is on PATH. */
const AWSCLI_VERSION = '1.46.2';
const SMALL = 100_000;
const LARGE = 1_000_000;
const TARGETS = { exportVsCli: 5, exportVsBare: 0.8, importVsSaturating: 0.85, rssGrowthMb: 64, importRssVsWriter: 1.5 };

interface Options {
  items: number;
  rssGrowth: boolean;
  skipCli: boolean;
  importOnly: boolean;
  cpuProfDir?: string;
}

interface Row {
  name: string;
  /** Scan segments (our export and import): one process runs them all in parallel. */
  segments?: number;
  items: number;
  /** Items the row verifiably handled: the CLI's Count, the child's total, a Scan of the import target. */
  checked?: number;
  workSeconds: number;
  processSeconds: number;
  /** User + system CPU seconds of the child (GNU time only): the work's own cost, whatever else loads the machine. */
  cpuSeconds?: number;
  peakRssMb?: number;
  unavailable?: string;
}

const itemsPerSecond = (row: Row | undefined): number | undefined =>
  row && !row.unavailable && row.workSeconds > 0 ? row.items / row.workSeconds : undefined;

// ---------------------------------------------------------------------------------------------
// Measuring a child process: wall time and peak RSS

const GNU_TIME = '/usr/bin/time';

interface Measured {
  processSeconds: number;
  cpuSeconds?: number;
  peakRssMb?: number;
  stdout: string;
}

/**
 * Runs a command to completion and measures its wall time and peak RSS: GNU time's %M (the maximum
 * resident set of the process and the children it waited for) and its CPU time when /usr/bin/time
 * exists, else VmHWM from /proc/<pid>/status polled until the process exits (and no CPU time).
 */
async function measure(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdoutFile?: string } = {}): Promise<Measured> {
  const useTime = existsSync(GNU_TIME);
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-dynamodb-'));
  const rssFile = path.join(dir, 'rss');
  const out = options.stdoutFile ? await open(options.stdoutFile, 'w') : undefined;
  try {
    const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, command, ...args]] : [command, args];
    const started = performance.now();
    const child = spawn(file, argv, { cwd: PROJECT_DIR, env: options.env ?? process.env, stdio: ['ignore', out ? out.fd : 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    let hwmKb = 0;
    const poll = useTime
      ? undefined
      : setInterval(() => {
          readFile(`/proc/${child.pid}/status`, 'utf8')
            .then((status) => {
              const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
              if (match) hwmKb = Math.max(hwmKb, Number(match[1]));
            })
            .catch(() => undefined);
        }, 20);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    const processSeconds = (performance.now() - started) / 1000;
    if (poll) clearInterval(poll);
    if (code !== 0) throw new Error(`${command} ${args.slice(0, 4).join(' ')} exited with ${code}:\n${stderr}`);
    if (!useTime) return { processSeconds, peakRssMb: hwmKb > 0 ? hwmKb / 1024 : undefined, stdout };
    const [kb, user, system] = (await readFile(rssFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
    return { processSeconds, cpuSeconds: user! + system!, peakRssMb: kb! / 1024, stdout };
  } finally {
    await out?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface ChildReport {
  items: number;
  seconds: number;
  result?: unknown;
}

/** One mode of bench/dynamodb-child.ts in a node process of its own. */
async function child(mode: string, args: object, options: Options): Promise<ChildReport & Measured> {
  const nodeArgs = ['--import', 'tsx'];
  if (options.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir, '--cpu-prof-name', `${mode}-${Date.now()}.cpuprofile`);
  const measured = await measure(process.execPath, [...nodeArgs, CHILD, mode, JSON.stringify(args)]);
  const report = JSON.parse(measured.stdout.trim().split('\n').pop()!) as ChildReport;
  return { ...report, ...measured };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const label = (row: Row) => (row.segments === undefined ? row.name : `${row.name} (${plural(row.segments, 'segment')})`);

function childRow(name: string, report: ChildReport & Measured, checked?: number, segments?: number): Row {
  return { name, segments, items: report.items, checked: checked ?? report.items, workSeconds: report.seconds, processSeconds: report.processSeconds, cpuSeconds: report.cpuSeconds, peakRssMb: report.peakRssMb };
}

// ---------------------------------------------------------------------------------------------
// The AWS CLI: on PATH, else a cached venv from PyPI

async function findAwsCli(): Promise<{ command: string; version: string } | { unavailable: string }> {
  const version = async (command: string) => {
    const { stdout, stderr } = await run(command, ['--version']);
    return (stdout || stderr).trim();
  };
  const explicit = process.env.BENCH_AWS_CLI;
  if (explicit) return { command: explicit, version: await version(explicit) };
  try {
    return { command: 'aws', version: await version('aws') };
  } catch {
    // Not on PATH (or a shim without an installation behind it): install it once, like moto.
  }
  const dir = path.join(process.env.VCP_CACHE_DIR ?? path.join(homedir(), '.cache', 'vcp-runbooks'), `awscli-${AWSCLI_VERSION}`);
  const command = path.join(dir, 'bin', 'aws');
  try {
    if (!existsSync(path.join(dir, '.complete'))) {
      console.error(`installing awscli ${AWSCLI_VERSION} from PyPI into ${dir}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(path.dirname(dir), { recursive: true });
      await run('python3', ['-m', 'venv', dir]);
      await run(path.join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--quiet', `awscli==${AWSCLI_VERSION}`], { maxBuffer: 16 * 1024 * 1024 });
      await writeFile(path.join(dir, '.complete'), '');
    }
    return { command, version: await version(command) };
  } catch (err) {
    const detail = err instanceof Error ? ((err as Error & { stderr?: string }).stderr || err.message) : String(err);
    return { unavailable: `awscli ${AWSCLI_VERSION} could not be installed: ${detail.trim().split('\n').pop()}` };
  }
}

/** The guide's `aws dynamodb scan --table-name T > file`, the CLI pointed at dynalite. */
async function guideScan(cli: Awaited<ReturnType<typeof findAwsCli>>, table: string, items: number): Promise<Row> {
  const name = 'aws dynamodb scan > file';
  if ('unavailable' in cli) return { name, items, workSeconds: 0, processSeconds: 0, unavailable: cli.unavailable };
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB!;
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-dynamodb-scan-'));
  const file = path.join(dir, 'backup.json');
  try {
    const measured = await measure(cli.command, ['dynamodb', 'scan', '--table-name', table, '--output', 'json'], {
      env: { ...process.env, AWS_ENDPOINT_URL: endpoint, AWS_ENDPOINT_URL_DYNAMODB: endpoint, AWS_DEFAULT_REGION: config.aws.region, AWS_PAGER: '' },
      stdoutFile: file,
    });
    // The CLI merges every page and prints the total last: `"Count": N, "ScannedCount": N, ...`.
    const { size } = await stat(file);
    const handle = await open(file, 'r');
    const tail = Buffer.alloc(Math.min(size, 4096));
    await handle.read(tail, 0, tail.length, size - tail.length);
    await handle.close();
    const count = /"Count":\s*(\d+)/.exec(tail.toString('utf8'));
    return { name, items, checked: count ? Number(count[1]) : undefined, workSeconds: measured.processSeconds, processSeconds: measured.processSeconds, cpuSeconds: measured.cpuSeconds, peakRssMb: measured.peakRssMb };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Tables and backups

async function createTable(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'user_id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'user_id', KeyType: 'HASH' }],
    }),
  );
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60 }, { TableName: tableName });
}

async function countItems(dynamodb: DynamoDBClient, tableName: string): Promise<number> {
  let count = 0;
  let startKey: Record<string, never> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: startKey }));
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey as typeof startKey;
  } while (startKey);
  return count;
}

/** The manifest the workflow's exportTables step writes (writeBackupManifest), from the export's segments. */
async function writeManifest(dynamodb: DynamoDBClient, s3: S3Client, tableName: string, prefix: string, segments: SegmentExport[], runId: string): Promise<BackupLocation> {
  const described = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    createdAt: new Date().toISOString(),
    createdBy: { workflowId: 'bench/dynamodb', runId },
    bucket: config.aws.backupBucket,
    prefix,
    tables: [
      {
        tableName,
        definition: await describeDefinition(dynamodb, described.Table!),
        items: segments.reduce((n, s) => n + s.items, 0),
        digest: addDigests(...segments.map((s) => s.digest)),
        segments,
      },
    ],
  };
  const manifestKey = `${prefix}/manifest.json`;
  const body = JSON.stringify(manifest, null, 1);
  await putBackupObject({ s3, expectedBucketOwner: config.aws.expectedBucketOwner }, manifest.bucket, manifestKey, body, 'application/json');
  return { bucket: manifest.bucket, prefix, manifestKey, manifestSha256: sha256Hex(body) };
}

/** The bucket is versioned: every version under the prefix goes, so moto does not keep them. */
async function deleteBackups(s3: S3Client, prefix: string): Promise<void> {
  const Bucket = config.aws.backupBucket;
  for (;;) {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: `${prefix}/` }));
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
    if (objects.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: objects, Quiet: true } }));
  }
}

// ---------------------------------------------------------------------------------------------
// The rows

interface Run {
  runId: string;
  source: string;
  tables: string[];
  prefixes: string[];
}

async function seed(run: Run, from: number, to: number, options: Options): Promise<void> {
  const started = performance.now();
  console.error(`seeding ${run.source} with items ${from}..${to - 1} (16 concurrent BatchWriteItem, not timed)`);
  await child('write-concurrent', { table: run.source, from, to, concurrency: 16 }, { ...options, cpuProfDir: undefined });
  console.error(`  seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function exportRows(
  aws: { dynamodb: DynamoDBClient; s3: S3Client },
  run: Run,
  items: number,
  cli: Awaited<ReturnType<typeof findAwsCli>> | undefined,
  options: Options,
): Promise<{ rows: Row[]; location: BackupLocation; totalSegments: number }> {
  const rows: Row[] = [];
  if (cli) {
    console.error('export: aws dynamodb scan > file');
    rows.push(await guideScan(cli, run.source, items));
  }
  if (!options.importOnly) {
    console.error('export: bare pipeline');
    rows.push(childRow('bare Scan + JSON + gzip -1 > /dev/null', await child('scan-bare', { table: run.source }, options)));
  }
  const totalSegments = segmentsFor(items);
  const prefix = `bench/dynamodb/${run.runId}-${items}`;
  run.prefixes.push(prefix);
  console.error(`export: ours (${plural(totalSegments, 'segment')})`);
  const ours = await child('export', { table: run.source, totalSegments, bucket: config.aws.backupBucket, prefix }, options);
  rows.push(childRow('our export to S3', ours, undefined, totalSegments));
  const location = await writeManifest(aws.dynamodb, aws.s3, run.source, prefix, ours.result as SegmentExport[], run.runId);
  return { rows, location, totalSegments };
}

async function importRows(aws: { dynamodb: DynamoDBClient }, run: Run, items: number, location: BackupLocation, totalSegments: number, options: Options): Promise<Row[]> {
  const rows: Row[] = [];
  const fresh = async (label: string) => {
    const table = `${run.source.replace(/-source$/, '')}-${label}`;
    await createTable(aws.dynamodb, table);
    run.tables.push(table);
    return table;
  };
  const measuredInto = async (name: string, table: string, report: ChildReport & Measured, segments?: number) =>
    rows.push(childRow(name, report, await countItems(aws.dynamodb, table), segments));

  let table: string;
  if (!options.importOnly) {
    console.error('import: sequential BatchWriteItem');
    table = await fresh('sequential');
    await measuredInto('sequential 25-item BatchWriteItem', table, await child('write-sequential', { table, from: 0, to: items }, options));
  }
  console.error('import: saturating writer');
  table = await fresh('saturating');
  await measuredInto('bare writer, 16 concurrent batches', table, await child('write-concurrent', { table, from: 0, to: items, concurrency: 16 }, options));
  console.error(`import: ours (${plural(totalSegments, 'segment')})`);
  table = await fresh('ours');
  const segments = Array.from({ length: totalSegments }, (_, i) => i);
  await measuredInto('our import from S3', table, await child('import', { location, table: run.source, targetTable: table, segments }, options), totalSegments);
  return rows;
}

/** The restore drill's code path (bench/dynamodb-child.ts `drill`) on the backup the export row wrote. */
async function drillRow(run: Run, location: BackupLocation, totalSegments: number, options: Options): Promise<Row> {
  console.error(`drill: ours (${plural(totalSegments, 'segment')})`);
  const scratchTable = `drill-${run.runId}-${run.source}`;
  run.tables.push(scratchTable);
  const report = await child('drill', { location, table: run.source, scratchTable, segments: Array.from({ length: totalSegments }, (_, i) => i) }, options);
  const { mismatches, phases } = report.result as { mismatches: string[]; phases: Record<string, number> };
  if (mismatches.length > 0) throw new Error(`the drill found the backup differs: ${mismatches.join('; ')}`);
  console.error(`  drill phases (s): ${Object.entries(phases).map(([phase, s]) => `${phase} ${s.toFixed(1)}`).join(', ')}`);
  return childRow('our restore drill (verify, scratch table, import, digest, delete)', report, report.items, totalSegments);
}

// ---------------------------------------------------------------------------------------------
// Output

function printTable(title: string, rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  console.log(`\n${title}\n`);
  rows.forEach((row, n) => {
    console.log(`| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`);
    if (n === 0) console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  });
}

const mb = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(0));

function rowCells(kind: string, row: Row): string[] {
  if (row.unavailable) return [kind, label(row), String(row.items), 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', `n/a: ${row.unavailable}`];
  const checked = row.checked === undefined ? 'unknown' : row.checked === row.items ? 'yes' : `NO: ${row.checked}`;
  return [kind, label(row), String(row.items), itemsPerSecond(row)!.toFixed(0), row.workSeconds.toFixed(2), row.processSeconds.toFixed(2), row.cpuSeconds?.toFixed(2) ?? 'n/a', mb(row.peakRssMb), checked];
}

const HEADER = ['', 'row', 'items', 'items/s', 'work s', 'process s', 'CPU s', 'peak RSS MB', 'all items'];

function ratioLine(what: string, ours: Row | undefined, base: Row | undefined, target: number): string[] {
  const a = itemsPerSecond(ours);
  const b = itemsPerSecond(base);
  if (a === undefined || b === undefined) return [what, `≥ ${target}x`, 'n/a', base?.unavailable ? `n/a (${label(base)}: ${base.unavailable})` : 'n/a'];
  const ratio = a / b;
  return [what, `≥ ${target}x`, `${ratio.toFixed(2)}x`, ratio >= target ? 'met' : 'MISSED'];
}

/** Peak RSS of `ours` over `base`'s: at most `target` times. */
function rssRatioLine(what: string, ours: Row | undefined, base: Row | undefined, target: number): string[] {
  if (ours?.peakRssMb === undefined || base?.peakRssMb === undefined) return [what, `≤ ${target}x`, 'n/a', 'n/a'];
  const ratio = ours.peakRssMb / base.peakRssMb;
  return [what, `≤ ${target}x`, `${ratio.toFixed(2)}x (${mb(ours.peakRssMb)} / ${mb(base.peakRssMb)} MB)`, ratio <= target ? 'met' : 'MISSED'];
}

// ---------------------------------------------------------------------------------------------

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      items: { type: 'string' },
      'rss-growth': { type: 'boolean', default: false },
      'skip-cli': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'import-only': { type: 'boolean', default: false },
    },
  });
  const rssGrowth = values['rss-growth'];
  const raw = values.items ?? process.env.BENCH_ITEMS ?? String(rssGrowth ? LARGE : SMALL);
  const items = Number(raw);
  if (!Number.isInteger(items) || items < 1000) throw new Error(`--items must be an integer of at least 1000, got ${raw}`);
  if (rssGrowth && items <= SMALL) throw new Error(`--rss-growth compares ${SMALL} items with --items, which must be larger`);
  const importOnly = values['import-only'];
  if (rssGrowth && importOnly) throw new Error('--rss-growth measures the export; --import-only leaves it out');
  return { items, rssGrowth, skipCli: values['skip-cli'] || importOnly, importOnly, cpuProfDir: values['cpu-prof'] ? path.join(tmpdir(), `bench-dynamodb-prof-${Date.now()}`) : undefined };
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (!process.env.AWS_ENDPOINT_URL_DYNAMODB) throw new Error('AWS_ENDPOINT_URL_DYNAMODB is not set: run through `make bench-dynamodb` (the test stack)');
  const aws = awsClients();
  const runId = randomBytes(3).toString('hex');
  const run: Run = { runId, source: `bench-ddb-${runId}-source`, tables: [], prefixes: [] };
  const sample = Array.from({ length: 1000 }, (_, i) => itemSizeBytes(benchItem(i)));
  const itemBytes = sample.reduce((a, b) => a + b, 0) / sample.length;
  try {
    await ensureBackupBucket(aws.s3, config.aws.backupBucket);
    const cli = options.skipCli ? undefined : await findAwsCli();
    if (cli) console.error('unavailable' in cli ? `AWS CLI: n/a (${cli.unavailable})` : `AWS CLI: ${cli.command} (${cli.version})`);
    await createTable(aws.dynamodb, run.source);
    run.tables.push(run.source);
    const setting = `dynalite at ${process.env.AWS_ENDPOINT_URL_DYNAMODB}, moto S3 at ${process.env.AWS_ENDPOINT_URL}; items of about ${itemBytes.toFixed(0)} bytes`;

    if (options.rssGrowth) {
      const sizes = [SMALL, options.items];
      const results: Row[][] = [];
      let seeded = 0;
      for (const items of sizes) {
        await seed(run, seeded, items, options);
        seeded = items;
        results.push((await exportRows(aws, run, items, cli, options)).rows);
      }
      const table = [['row', ...sizes.map((n) => `peak RSS MB at ${n}`), ...sizes.map((n) => `items/s at ${n}`), 'growth MB']];
      results[0]!.forEach((row, i) => {
        const at = results.map((r) => r[i]!);
        const growth = at[0]!.peakRssMb !== undefined && at[1]!.peakRssMb !== undefined ? at[1]!.peakRssMb - at[0]!.peakRssMb : undefined;
        const segments = at.map((r) => r.segments).filter((n) => n !== undefined);
        const name = segments.length === 0 ? row.name : `${row.name} (${segments.join(' → ')} segments)`;
        table.push([name, ...at.map((r) => (r.unavailable ? `n/a: ${r.unavailable}` : mb(r.peakRssMb))), ...at.map((r) => itemsPerSecond(r)?.toFixed(0) ?? 'n/a'), growth === undefined ? 'n/a' : growth.toFixed(0)]);
      });
      printTable(`DynamoDB export, peak RSS from ${SMALL} to ${options.items} items (${setting})`, table);
      const ours = results.map((r) => r[r.length - 1]!);
      const growth = ours[1]!.peakRssMb! - ours[0]!.peakRssMb!;
      console.log(`\nTarget: our export's peak RSS grows by at most ${TARGETS.rssGrowthMb} MB: ${growth.toFixed(0)} MB, ${growth <= TARGETS.rssGrowthMb ? 'met' : 'MISSED'}`);
    } else {
      await seed(run, 0, options.items, options);
      const exported = await exportRows(aws, run, options.items, cli, options);
      const imported = await importRows(aws, run, options.items, exported.location, exported.totalSegments, options);
      const drilled = await drillRow(run, exported.location, exported.totalSegments, options);
      printTable(`DynamoDB export, import and restore drill, ${options.items} items (${setting})`, [
        HEADER,
        ...exported.rows.map((r) => rowCells('export', r)),
        ...imported.map((r) => rowCells('import', r)),
        rowCells('drill', drilled),
      ]);
      const find = (rows: Row[], prefix: string) => rows.find((r) => r.name.startsWith(prefix));
      const ourExport = find(exported.rows, 'our export');
      printTable('Targets (items/s and peak RSS ratios)', [
        ['target', 'wanted', 'measured', ''],
        ratioLine('our export vs aws dynamodb scan', ourExport, cli ? find(exported.rows, 'aws') : undefined, TARGETS.exportVsCli),
        ratioLine('our export vs the bare pipeline', ourExport, find(exported.rows, 'bare'), TARGETS.exportVsBare),
        ratioLine('our import vs the saturating writer', find(imported, 'our import'), find(imported, 'bare writer'), TARGETS.importVsSaturating),
        rssRatioLine("our import's peak RSS vs the saturating writer's", find(imported, 'our import'), find(imported, 'bare writer'), TARGETS.importRssVsWriter),
      ]);
      console.log('\nitems/s = items / work s: the work alone in each child (process s adds start-up; the CLI has only process s).');
      console.log("CPU s: the child's own user + system time, start-up included (dynalite's is not in it).");
      console.log(`Peak RSS growth from ${SMALL} to ${LARGE} items: make bench-dynamodb BENCH_ARGS=--rss-growth`);
    }
    if (options.cpuProfDir) console.log(`\nCPU profiles: ${options.cpuProfDir}`);
  } finally {
    for (const table of run.tables) await aws.dynamodb.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    for (const prefix of run.prefixes) await deleteBackups(aws.s3, prefix).catch(() => undefined);
    aws.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
