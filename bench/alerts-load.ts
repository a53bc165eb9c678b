/**
 * The benchmark's load generator, run as a process of its own (as Alertmanager is), so its HTTP
 * client does not share the receiver's event loop: sends Alertmanager payloads over kept-alive
 * connections and reports each request's latency to the parent (bench/alerts.ts) over IPC.
 */
import http from 'node:http';
import { forEachLimit } from '../common/concurrency';

interface LoadRequest {
  url: string;
  token: string;
  requests: number;
  /** Closed loop: this many requests in flight, each sent when the previous one is answered. */
  concurrency: number;
  /**
   * Open loop instead, when set: one request every 1/rate s whatever the answers, latency counted
   * from when it was due (so a stalled receiver cannot slow the load down and hide its own delay).
   */
  rate?: number;
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

async function atRate(agent: http.Agent, target: URL, { token, requests, rate, bodies }: LoadRequest): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const sent: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < requests; ) {
    // Everything due by now goes out; then wait for the next one's time.
    for (; i < requests && start + (i * 1000) / rate! <= performance.now(); i++) {
      const due = start + (i * 1000) / rate!;
      sent.push(
        send(agent, target, token, bodies[i % bodies.length]!).then((status) => {
          if (status !== 200) failed++;
          latencies.push(performance.now() - due);
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(sent);
  return { latencies, failed };
}

async function run(request: LoadRequest): Promise<{ latencies: number[]; seconds: number; failed: number }> {
  const { url, token, requests, concurrency, bodies } = request;
  const agent = new http.Agent({ keepAlive: true, maxSockets: request.rate ? 256 : concurrency });
  if (request.rate) {
    const started = performance.now();
    const result = await atRate(agent, new URL(url), request);
    agent.destroy();
    return { ...result, seconds: (performance.now() - started) / 1000 };
  }
  const target = new URL(url);
  const latencies: number[] = [];
  let failed = 0;
  const started = performance.now();
  await forEachLimit(Array.from({ length: requests }, (_, i) => bodies[i % bodies.length]!), concurrency, async (body) => {
    const t0 = performance.now();
    if ((await send(agent, target, token, body)) !== 200) failed++;
    latencies.push(performance.now() - t0);
  });
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
