/**
 * Benchmark: `runbook status --all --prefix P` over N seeded instances (default 50) against the
 * guide's check-argocd-status, check-crossplane-status and validate-deployment run instance after
 * instance, command after command: per instance `kubectl get application`, `kubectl get
 * virtualcoffeedynamodbclaim`, `kubectl get deployments` and one `aws dynamodb describe-table` per
 * table (the AWS CLI on PATH, or $BENCH_AWS_CLI; without one, a one-shot node process per table
 * doing the same DescribeTable, which the output says). Target: the CLI at most 0.2x the guide.
 *
 * Seeds only what status reads (Application, claim and its tables, Deployments; no items), in
 * parallel, under fixed names (bench-fleet-NN), so a second run with --keep reuses them.
 * Run with `make bench-fleet` (test stack); BENCH_ARGS="--instances 10 --runs 3 --keep".
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startFleetStatus } from '../client/runbooks';
import { forEachLimit } from '../common/concurrency';
import { FLEET_CONCURRENCY } from '../common/fleet-status';
import type { FleetStatusReport } from '../common/fleet-status';
import { argoApplicationName, dynamodbClaimName, instanceTableNames } from '../common/instance';
import { getOrUndefined } from '../activities/kubernetes/client';
import { deleteInstance, seedInstance, waitFor } from '../platform-sim/seed';
import { awsClients, config, withWorker } from '../test-support/stack';

const run = promisify(execFile);
const PREFIX = 'bench-fleet-';

interface Args {
  instances: number;
  runs: number;
  concurrency: number;
  seedConcurrency: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    instances: Number(process.env.BENCH_INSTANCES ?? 50),
    runs: Number(process.env.BENCH_RUNS ?? 3),
    concurrency: FLEET_CONCURRENCY.default,
    seedConcurrency: 4,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => Number(argv[++i]);
    if (flag === '--instances') args.instances = value();
    else if (flag === '--runs') args.runs = value();
    else if (flag === '--concurrency') args.concurrency = value();
    else if (flag === '--seed-concurrency') args.seedConcurrency = value();
    else if (flag === '--keep') args.keep = true;
    else throw new Error(`unknown argument ${flag}: --instances N, --runs N, --concurrency N, --seed-concurrency N, --keep`);
  }
  for (const [name, n] of Object.entries(args)) if (typeof n === 'number' && !(Number.isInteger(n) && n > 0)) throw new Error(`--${name} must be a positive whole number`);
  return args;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** `median [min–max]` of seconds. */
function spread(values: number[]): string {
  return `${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`;
}

function print(title: string, rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\n${title}\n`);
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/** How the guide's describe-table is run: the AWS CLI, else one node process per call doing the same request. */
async function describeTableCommand(): Promise<{ label: string; argv: (table: string) => [string, string[]] }> {
  const aws = process.env.BENCH_AWS_CLI ?? 'aws';
  try {
    const { stdout, stderr } = await run(aws, ['--version']);
    return { label: `aws dynamodb describe-table (${(stdout || stderr).trim().split(' ')[0]})`, argv: (table) => [aws, ['dynamodb', 'describe-table', '--table-name', table, '--output', 'json']] };
  } catch {
    const script =
      "const { DynamoDBClient, DescribeTableCommand } = require('@aws-sdk/client-dynamodb');" +
      'new DynamoDBClient({}).send(new DescribeTableCommand({ TableName: process.argv[1] })).then((r) => console.log(JSON.stringify(r.Table)));';
    return { label: 'no AWS CLI: a one-shot node process per table doing DescribeTable (models one aws CLI call)', argv: (table) => [process.execPath, ['-e', script, table]] };
  }
}

/** The guide's commands for every instance, one after another, as an operator's shell loop runs them. */
async function guideCommands(kubectl: string, instances: string[], describeTable: (table: string) => [string, string[]]): Promise<{ seconds: number; commands: number }> {
  const kubeconfig = ['--kubeconfig', config.kubernetes.kubeconfig!];
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  const awsEnv = { ...process.env, ...(endpoint ? { AWS_ENDPOINT_URL: endpoint } : {}), AWS_DEFAULT_REGION: config.aws.region, AWS_PAGER: '' };
  let commands = 0;
  const started = performance.now();
  for (const instance of instances) {
    await run(kubectl, [...kubeconfig, 'get', 'application', argoApplicationName(instance), '-n', 'argocd', '-o', 'json']);
    await run(kubectl, [...kubeconfig, 'get', 'virtualcoffeedynamodbclaim', dynamodbClaimName(instance), '-n', instance, '-o', 'json']);
    await run(kubectl, [...kubeconfig, 'get', 'deployments', '-n', instance, '-o', 'json']);
    commands += 3;
    for (const table of instanceTableNames(instance)) {
      const [command, args] = describeTable(table);
      await run(command, args, { env: awsEnv, cwd: path.join(__dirname, '..') });
      commands++;
    }
  }
  return { seconds: (performance.now() - started) / 1000, commands };
}

/** `runbook status --all` as an operator runs it: a CLI process, whose run a worker on `taskQueue` executes. */
async function cliStatusAll(taskQueue: string, concurrency: number): Promise<{ seconds: number; report: FleetStatusReport }> {
  const started = performance.now();
  const args = [path.join(__dirname, '..', 'bin', 'runbook.js'), 'status', '--all', '--prefix', PREFIX, '--concurrency', String(concurrency), '-o', 'json'];
  const { stdout } = await run(process.execPath, args, { env: { ...process.env, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1' }, maxBuffer: 64 * 1024 * 1024 }).catch(
    // Exit 3 (an instance unhealthy) still printed the report.
    (err: { code?: number; stdout?: string }) => (err.code === 3 && err.stdout ? { stdout: err.stdout } : Promise.reject(err as Error)),
  );
  return { seconds: (performance.now() - started) / 1000, report: JSON.parse(stdout) as FleetStatusReport };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const kubectl = process.env.KUBECTL;
  if (!kubectl) throw new Error('KUBECTL is not set: run through `make bench-fleet` (or source the stack env)');
  const describeTable = await describeTableCommand();
  const aws = awsClients();
  const instances = Array.from({ length: args.instances }, (_, i) => `${PREFIX}${String(i).padStart(2, '0')}`);
  try {
    // A namespace a previous run deleted may still be terminating: nothing can be created in it.
    await forEachLimit(instances, 8, (instance) =>
      waitFor(`namespace ${instance} to finish terminating`, async () => !(await getOrUndefined(aws.kube.core.readNamespace({ name: instance })))?.metadata?.deletionTimestamp, 300_000),
    );
    const seedStarted = performance.now();
    // No items (status reads no item), one replica each; the first sync is waited for, the rest below.
    await forEachLimit(instances, args.seedConcurrency, async (instance) => {
      await seedInstance(aws.kube, aws.dynamodb, instance, { sizes: { users: 0, matches: 0, feedback: 0 }, fillTables: false, wait: false, replicas: { api: 1, frontend: 1 }, automatedSync: false });
    });
    console.error(`seeded ${instances.length} instances in ${((performance.now() - seedStarted) / 1000).toFixed(0)} s`);

    const rows: string[][] = [['what', 'processes', 'seconds: median [min–max]', 'vs the guide (medians)']];
    await withWorker(async ({ client, taskQueue }) => {
      // Until every instance is healthy (tables created, pods available), through the runbook itself; the timing holds either way.
      const deadline = Date.now() + 5 * 60_000;
      let report = await (await startFleetStatus(client, taskQueue, { prefix: PREFIX })).result();
      while (report.summary.healthy < instances.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        report = await (await startFleetStatus(client, taskQueue, { prefix: PREFIX })).result();
      }
      if (report.summary.instances !== instances.length) throw new Error(`status --all found ${report.summary.instances} instances under ${PREFIX}, expected ${instances.length}`);
      if (!report.healthy) console.error(`timing with ${report.summary.unhealthy} instances still unhealthy, e.g. ${JSON.stringify(report.instances.find((r) => !r.healthy)?.problems)}`);

      const guide: number[] = [];
      const cli: number[] = [];
      const workflow: number[] = [];
      let commands = 0;
      for (let i = 0; i < args.runs; i++) {
        const g = await guideCommands(kubectl, instances, describeTable.argv);
        guide.push(g.seconds);
        commands = g.commands;
        const c = await cliStatusAll(taskQueue, args.concurrency);
        if (c.report.summary.instances !== instances.length) throw new Error(`the CLI reported ${c.report.summary.instances} instances`);
        cli.push(c.seconds);
        const started = performance.now();
        await (await startFleetStatus(client, taskQueue, { prefix: PREFIX, concurrency: args.concurrency })).result();
        workflow.push((performance.now() - started) / 1000);
      }
      const g = median(guide);
      rows.push(['guide: kubectl x3 + describe-table x3 per instance, one after another', String(commands), spread(guide), '1.00x']);
      rows.push([`runbook status --all --prefix ${PREFIX} (CLI process, concurrency ${args.concurrency})`, '1', spread(cli), `${(median(cli) / g).toFixed(2)}x`]);
      rows.push(['  of which the fleetStatus run alone (start to result, from a connected client)', '-', spread(workflow), `${(median(workflow) / g).toFixed(2)}x`]);
    });
    print(
      `Fleet status over ${instances.length} instances vs the guide's per-instance commands (median of ${args.runs} runs; target <= 0.20x)\n` +
        `describe-table: ${describeTable.label}; kubectl: ${kubectl}; the worker runs in this process, the platform simulator keeps running`,
      rows,
    );
  } finally {
    if (!args.keep) await forEachLimit(instances, 8, (instance) => deleteInstance(aws.kube, instance));
    aws.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
