/**
 * Benchmark: alerts per second the receiver sustains with deduplication, and request latency
 * percentiles, against the real Temporal server. Prints a table. Run with `make bench-alerts`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRules } from '../receiver/rules';
import { AlertReceiver } from '../receiver/server';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const TOKEN = 'bench-alert-token-0123456789abcdef';
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const EPISODES = Number(process.env.BENCH_EPISODES ?? 5);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const aws = awsClients();
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  const rules = parseRules(readFileSync(path.join(__dirname, '..', 'receiver', 'default-rules.yaml'), 'utf8'));
  // Distinct instances that do not exist: the diagnostic bundles they start fail fast and harmlessly.
  const instances = Array.from({ length: EPISODES }, () => uniqueInstance('bench-alert'));
  const startsAt = new Date().toISOString();
  const rows: string[][] = [['requests', 'concurrency', 'episodes', 'alerts/s', 'p50 ms', 'p99 ms', 'started', 'deduplicated']];
  await withWorker(async ({ client, taskQueue }) => {
    const receiver = new AlertReceiver({ client, taskQueue, rules, token: TOKEN });
    const port = await receiver.listen(0);
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const instance = instances[i % instances.length]!;
          const body = JSON.stringify({
            version: '4',
            alerts: [{ status: 'firing', labels: { alertname: 'VirtualCoffeeApi5xx', namespace: instance }, annotations: {}, startsAt, fingerprint: `fp-${instance}` }],
          });
          const t0 = performance.now();
          const response = await fetch(`http://127.0.0.1:${port}/alerts`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body });
          await response.arrayBuffer();
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await receiver.close();
    latencies.sort((a, b) => a - b);
    rows.push([String(REQUESTS), String(CONCURRENCY), String(EPISODES), (REQUESTS / seconds).toFixed(0), percentile(latencies, 50).toFixed(1), percentile(latencies, 99).toFixed(1), String(receiver.metrics.started), String(receiver.metrics.deduplicated)]);
  });
  aws.close();
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log('\nAlert receiver: identical firing alerts with deduplication\n');
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
