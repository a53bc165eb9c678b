/**
 * The benchmark's load generator, run as a process of its own (as Alertmanager is), so its HTTP
 * client does not share the receiver's event loop: sends Alertmanager payloads over kept-alive
 * connections and reports each request's latency to the parent (bench/alerts.ts) over IPC.
 */
import http from 'node:http';

interface LoadRequest {
  url: string;
  token: string;
  requests: number;
  concurrency: number;
  /** One alert body per episode; request i sends bodies[i % bodies.length]. */
  bodies: string[];
}

function send(agent: http.Agent, url: URL, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function run({ url, token, requests, concurrency, bodies }: LoadRequest): Promise<{ latencies: number[]; seconds: number; failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const body = bodies[next++ % bodies.length]!;
        const t0 = performance.now();
        if ((await send(agent, target, token, body)) !== 200) failed++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, seconds, failed };
}

process.on('message', (request: LoadRequest) => {
  run(request).then(
    (result) => process.send!(result),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
