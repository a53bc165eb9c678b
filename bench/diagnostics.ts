/**
 * Benchmark: the diagnostic bundle runbook against the guide's six sequential kubectl commands, on
 * the same local API server and instance, at the seeded size and at 10x the pods. Prints a table,
 * then where the runbook's time goes (phases from its Temporal event history, requests its worker
 * sent), and the same for a run with one small collector: the fixed cost of any run.
 * Run with `make bench-diagnostics` (uses the test stack).
 */
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { loadKubeConfig } from '../activities/kubernetes/client';
import { startDiagnosticBundle } from '../client/runbooks';
import type { CollectorName } from '../common/diagnostics';
import { deleteInstance, seedInstance } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config, withWorker } from '../test-support/stack';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** `median [min–max]` of seconds. */
function spread(values: number[]): string {
  return `${median(values).toFixed(2)} [${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}]`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The guide's "Collecting Diagnostic Information", command for command. */
async function guideCommands(kubectl: string, instance: string): Promise<{ seconds: number; files: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'guide-diagnostics-'));
  const k = (args: string[], file: string) =>
    run('bash', ['-c', `"${kubectl}" ${args.map((a) => `'${a}'`).join(' ')} > '${path.join(dir, file)}'`]).catch(() => undefined);
  const started = performance.now();
  await k(['get', 'all', '-n', instance], 'resources.txt');
  await k(['describe', 'pods', '-n', instance], 'pods.txt');
  await k(['logs', '-n', instance, 'deployment/virtual-coffee-api'], 'api-logs.txt');
  await k(['logs', '-n', instance, 'deployment/virtual-coffee-frontend'], 'frontend-logs.txt');
  await k(['get', `application.argoproj.io/virtual-coffee-${instance}`, '-n', 'argocd', '-o', 'yaml'], 'argocd-app.yaml');
  await k(['get', `virtualcoffeedynamodbclaim.virtualcoffee.io/${instance}-dynamodb`, '-n', instance, '-o', 'yaml'], 'dynamodb-claim.yaml');
  const seconds = (performance.now() - started) / 1000;
  const files = (await readdir(dir)).length;
  await rm(dir, { recursive: true, force: true });
  return { seconds, files };
}

/** HTTP requests this process sends, by endpoint (the worker runs here; Temporal's gRPC is not HTTP/1). */
class RequestCounter {
  private readonly counts = new Map<string, number>();
  private readonly names: Map<string, string>;
  private readonly onRequest = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const host = request.getHeader('host');
    const name = this.names.get(String(host)) ?? 'other';
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  };

  constructor(endpoints: Record<string, string | undefined>) {
    this.names = new Map(Object.entries(endpoints).flatMap(([name, url]) => (url ? [[new URL(url).host, name]] : [])));
    subscribe('http.client.request.start', this.onRequest);
  }

  take(): Record<string, number> {
    const counts = Object.fromEntries(this.counts);
    this.counts.clear();
    return counts;
  }

  close(): void {
    unsubscribe('http.client.request.start', this.onRequest);
  }
}

interface Phases {
  /** Start to the first workflow task started (the collectors, local activities, run inside it). */
  start: number;
  /** First workflow task started to the archive scheduled: every collector, and recording their results. */
  collect: number;
  /** Archive scheduled to done (it runs on the collectors' worker, through that worker's own queue). */
  archive: number;
  /** Archive done to the run closed (the runbook's audit record and notification, local activities). */
  finish: number;
}

/** Where a run's time went, from its event history. */
async function phases(handle: WorkflowHandle): Promise<Phases> {
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;
  const firstTask = events.find((e) => e.workflowTaskStartedEventAttributes);
  let archiveScheduled = 0;
  let archiveDone = 0;
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'buildDiagnosticArchive') archiveScheduled = at(e);
    if (e.activityTaskCompletedEventAttributes) archiveDone = at(e);
  }
  const started = at(events[0]!);
  const closed = at(events[events.length - 1]!);
  const collecting = firstTask ? at(firstTask) : started;
  return { start: collecting - started, collect: archiveScheduled - collecting, archive: archiveDone - archiveScheduled, finish: closed - archiveDone };
}

interface RunbookRuns {
  seconds: number;
  /** Every run's wall time, for the spread. */
  all: number[];
  files: number;
  phases: Phases;
  historyMs: number;
  requests: Record<string, number>;
}

/** RUNS runs of the runbook on one worker; `before` runs before each (the guide, so both see the same load). */
async function runbookRuns(instance: string, collectors: CollectorName[] | undefined, counter: RequestCounter, before?: () => Promise<void>): Promise<RunbookRuns> {
  const seconds: number[] = [];
  const runs: { phases: Phases; requests: Record<string, number> }[] = [];
  let files = 0;
  await withWorker(async ({ client, taskQueue }) => {
    for (let i = 0; i < RUNS; i++) {
      await before?.();
      counter.take();
      const started = performance.now();
      const handle = await startDiagnosticBundle(client, taskQueue, { instance, collectors, options: { requestedBy: { user: 'bench', via: 'test' } } });
      const result = (await handle.result());
      seconds.push((performance.now() - started) / 1000);
      files = result.details!.archive.files;
      runs.push({ phases: await phases(handle), requests: counter.take() });
    }
  });
  const phase = (k: keyof Phases) => median(runs.map((r) => r.phases[k]));
  const endpoints = [...new Set(runs.flatMap((r) => Object.keys(r.requests)))];
  return {
    seconds: median(seconds),
    all: seconds,
    files,
    phases: { start: phase('start'), collect: phase('collect'), archive: phase('archive'), finish: phase('finish') },
    historyMs: median(runs.map((r) => r.phases.start + r.phases.collect + r.phases.archive + r.phases.finish)),
    requests: Object.fromEntries(endpoints.map((e) => [e, median(runs.map((r) => r.requests[e] ?? 0))])),
  };
}

/**
 * Pauses the platform simulator (SIGSTOP) while `timed` runs. It polls every seeded instance every
 * 250 ms, load that grows with each instance tests leave behind and that real Argo CD and Crossplane
 * (watches) do not put on an API server; both sides are timed without it.
 */
async function withSimulatorPaused<T>(timed: () => Promise<T>): Promise<T> {
  const pidFile = path.join(__dirname, '..', '.stack', process.env.VCP_STACK_PROFILE ?? 'test', 'platform-sim.pid');
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (!pid) {
    console.warn(`no platform simulator pid in ${pidFile}: timing with it running`);
    return timed();
  }
  // The whole process group (up.sh starts it with setsid): tsx runs the simulator in a child.
  process.kill(-pid, 'SIGSTOP');
  try {
    return await timed();
  } finally {
    process.kill(-pid, 'SIGCONT');
  }
}

function print(title: string, rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\n${title}\n`);
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

async function main(): Promise<void> {
  const kubectl = process.env.KUBECTL;
  if (!kubectl) throw new Error('KUBECTL is not set: run through `make bench-diagnostics`');
  const aws = awsClients();
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  const counter = new RequestCounter({
    'kube API': loadKubeConfig(config.kubernetes.kubeconfig).getCurrentCluster()?.server,
    S3: process.env.AWS_ENDPOINT_URL,
    DynamoDB: process.env.AWS_ENDPOINT_URL_DYNAMODB,
  });
  const rows: string[][] = [['instance', 'pods', 'guide kubectl (s) median [min–max]', 'files', 'runbook (s) median [min–max]', 'files', 'runbook / guide (medians)']];
  const breakdown: string[][] = [['run', 'wall (s)', 'start', 'collect', 'archive', 'finish', 'client', 'requests from the worker']];
  const addBreakdown = (label: string, r: RunbookRuns) =>
    breakdown.push([
      label,
      r.seconds.toFixed(2),
      ...[r.phases.start, r.phases.collect, r.phases.archive, r.phases.finish, r.seconds * 1000 - r.historyMs].map((ms) => `${ms.toFixed(0)} ms`),
      Object.entries(r.requests).map(([endpoint, n]) => `${endpoint} ${n}`).join(', '),
    ]);
  try {
    for (const [name, replicas] of [
      ['bench-diag', { api: 2, frontend: 1 }],
      ['bench-diag-10x', { api: 20, frontend: 10 }],
    ] as const) {
      await deleteInstance(aws.kube, name);
      await seedInstance(aws.kube, aws.dynamodb, name, { sizes: { users: 40, matches: 25, feedback: 15 }, replicas, automatedSync: false });
      const guide: number[] = [];
      let guideFiles = 0;
      const runbook = await withSimulatorPaused(() =>
        runbookRuns(name, undefined, counter, async () => {
          const g = await guideCommands(kubectl, name);
          guide.push(g.seconds);
          guideFiles = g.files;
        }),
      );
      const g = median(guide);
      rows.push([name, String(replicas.api + replicas.frontend), spread(guide), String(guideFiles), spread(runbook.all), String(runbook.files), `${(runbook.seconds / g).toFixed(2)}x`]);
      addBreakdown(`${name}, 12 collectors`, runbook);
      if (name === 'bench-diag') addBreakdown(`${name}, configmap only (fixed cost)`, await withSimulatorPaused(() => runbookRuns(name, ['configmap'], counter)));
      await deleteInstance(aws.kube, name);
    }
  } finally {
    counter.close();
    aws.close();
  }
  print(`Diagnostic bundle vs the guide's six kubectl commands (median of ${RUNS} runs, platform simulator paused while timing)`, rows);
  print(
    'Where the runbook time goes (medians; phases from the event history: start = to the first workflow task, collect = to the archive scheduled, ' +
      'finish = archive done to the run closed, i.e. audit record and notification; client = start call and result poll)',
    breakdown,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
