/**
 * Benchmark: the diagnostic bundle runbook against the guide's six sequential kubectl commands, on
 * the same local API server and instance, at the seeded size and at 10x the pods. Prints a table.
 * Run with `make bench-diagnostics` (uses the test stack).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDiagnosticBundle } from '../client/runbooks';
import type { DiagnosticBundleDetails } from '../common/diagnostics';
import type { RunbookResult } from '../common/runbook';
import { deleteInstance, seedInstance } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config, withWorker } from '../test-support/stack';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

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

async function main(): Promise<void> {
  const kubectl = process.env.KUBECTL;
  if (!kubectl) throw new Error('KUBECTL is not set: run through `make bench-diagnostics`');
  const aws = awsClients();
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  const rows: string[][] = [['instance', 'pods', 'guide kubectl (s)', 'files', 'runbook (s)', 'files', 'runbook / guide']];
  try {
    for (const [name, replicas] of [
      ['bench-diag', { api: 2, frontend: 1 }],
      ['bench-diag-10x', { api: 20, frontend: 10 }],
    ] as const) {
      await deleteInstance(aws.kube, name);
      await seedInstance(aws.kube, aws.dynamodb, name, { sizes: { users: 40, matches: 25, feedback: 15 }, replicas, automatedSync: false });
      const guide: number[] = [];
      let guideFiles = 0;
      const runbook: number[] = [];
      let runbookFiles = 0;
      await withWorker(async ({ client, taskQueue }) => {
        for (let i = 0; i < RUNS; i++) {
          const g = await guideCommands(kubectl, name);
          guide.push(g.seconds);
          guideFiles = g.files;
          const started = performance.now();
          const handle = await startDiagnosticBundle(client, taskQueue, { instance: name, options: { requestedBy: { user: 'bench', via: 'test' } } });
          const result = (await handle.result()) as RunbookResult<DiagnosticBundleDetails>;
          runbook.push((performance.now() - started) / 1000);
          runbookFiles = result.details!.archive.files;
        }
      });
      const g = median(guide);
      const r = median(runbook);
      rows.push([name, String(replicas.api + replicas.frontend), g.toFixed(2), String(guideFiles), r.toFixed(2), String(runbookFiles), `${(r / g).toFixed(2)}x`]);
      await deleteInstance(aws.kube, name);
    }
  } finally {
    aws.close();
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\nDiagnostic bundle vs the guide's six kubectl commands (median of ${RUNS} runs)\n`);
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
