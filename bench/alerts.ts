/**
 * Benchmark: alerts per second the receiver sustains with deduplication, and request latency
 * percentiles, against the real Temporal server and the real kube-apiserver (the instance filter's
 * informer). Prints a table. Run with `make bench-alerts`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { loadKubeConfig } from '../activities/kubernetes/client';
import { INSTANCE_LABEL } from '../common/platform';
import { InstanceNamespaces } from '../receiver/instances';
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
  // Instance namespaces with nothing in them: the diagnostic bundles they start finish quickly.
  const instances = Array.from({ length: EPISODES }, () => uniqueInstance('bench-alert'));
  for (const name of instances) await aws.kube.core.createNamespace({ body: { metadata: { name, labels: { [INSTANCE_LABEL]: name } } } });
  const directory = new InstanceNamespaces(loadKubeConfig(config.kubernetes.kubeconfig));
  await directory.start();
  while (!instances.every((name) => directory.isInstance(name))) await new Promise((resolve) => setTimeout(resolve, 50));
  const startsAt = new Date().toISOString();
  const rows: string[][] = [['requests', 'concurrency', 'episodes', 'alerts/s', 'p50 ms', 'p99 ms', 'max ms', 'started', 'deduplicated']];
  try {
    await withWorker(async ({ client, taskQueue }) => {
      const receiver = new AlertReceiver({ client, taskQueue, rules, token: TOKEN, instances: directory, logger: pino({ name: 'bench' }, pino.destination('/dev/null')) });
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
      const counts = await receiver.metrics.counts();
      rows.push([
        String(REQUESTS),
        String(CONCURRENCY),
        String(EPISODES),
        (REQUESTS / seconds).toFixed(0),
        percentile(latencies, 50).toFixed(1),
        percentile(latencies, 99).toFixed(1),
        latencies[latencies.length - 1]!.toFixed(1),
        String(counts.started),
        String(counts.deduplicated),
      ]);
    });
  } finally {
    await directory.stop();
    for (const name of instances) await aws.kube.core.deleteNamespace({ name }).catch(() => undefined);
    aws.close();
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log('\nAlert receiver: identical firing alerts with deduplication\n');
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
