/**
 * A loopback proxy in front of dynalite that injects the faults real DynamoDB produces under load:
 * throttled requests and BatchWriteItem UnprocessedItems, which dynalite never returns. Tests point a
 * client at `url` to prove a caller ends with every item written anyway.
 */
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

type ThrottleError = 'ProvisionedThroughputExceededException' | 'ThrottlingException';

export interface DynamoDbFaultProxyOptions {
  /** Base URL of the real endpoint (dynalite). */
  target: string;
  /** Answer every Nth request of `operations` with a throttling error, without forwarding it. */
  throttleEveryNth?: number;
  /** The error a throttled request gets; both are retried by the AWS SDK as throttling. */
  throttleError?: ThrottleError;
  /**
   * Fraction (0..1) of each BatchWriteItem's write requests withheld from the target and returned as
   * UnprocessedItems; evenly spread and deterministic, at least one request always goes through.
   */
  unprocessedFraction?: number;
  /** Operations counted for throttling (X-Amz-Target without the API prefix). */
  operations?: string[];
  /** Latency added before each request of `operations` is handled, to slow a run down to a point a test can act at. */
  delayMs?: number;
}

interface DynamoDbFaultProxyStats {
  /** Requests passed on to the target. */
  forwarded: number;
  /** Requests answered with a throttling error. */
  throttled: number;
  /** Write requests withheld from BatchWriteItem calls and returned as UnprocessedItems. */
  unprocessedItems: number;
}

export interface DynamoDbFaultProxy {
  url: string;
  stats: DynamoDbFaultProxyStats;
  close(): Promise<void>;
}

const DEFAULT_FAULT_OPERATIONS = ['Scan', 'Query', 'BatchWriteItem', 'PutItem', 'GetItem'];

const THROTTLE_BODIES: Record<ThrottleError, { __type: string; message: string }> = {
  ProvisionedThroughputExceededException: {
    __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message:
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API. (injected by the fault proxy)',
  },
  ThrottlingException: {
    __type: 'com.amazon.coral.availability#ThrottlingException',
    message: 'Rate of requests exceeds the allowed throughput. (injected by the fault proxy)',
  },
};

type RequestItems = Record<string, unknown[]>;

export async function startDynamoDbFaultProxy(options: DynamoDbFaultProxyOptions): Promise<DynamoDbFaultProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:') throw new Error(`the fault proxy forwards to http:// endpoints only, not ${options.target}`);
  const { throttleEveryNth, throttleError = 'ProvisionedThroughputExceededException', unprocessedFraction = 0 } = options;
  if (throttleEveryNth !== undefined && !(Number.isInteger(throttleEveryNth) && throttleEveryNth >= 1)) {
    throw new Error(`throttleEveryNth must be an integer of at least 1, not ${throttleEveryNth}`);
  }
  if (!(unprocessedFraction >= 0 && unprocessedFraction <= 1)) {
    throw new Error(`unprocessedFraction must be between 0 and 1, not ${unprocessedFraction}`);
  }
  const operations = new Set(options.operations ?? DEFAULT_FAULT_OPERATIONS);
  const stats: DynamoDbFaultProxyStats = { forwarded: 0, throttled: 0, unprocessedItems: 0 };
  const agent = new http.Agent({ keepAlive: true });
  let counted = 0;

  /** Sends the request to the target; resolves with its response, not yet read. */
  function forward(req: IncomingMessage, headers: IncomingHttpHeaders, body?: Buffer): Promise<IncomingMessage> {
    stats.forwarded++;
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
        resolve,
      );
      upstream.on('error', reject);
      if (body) upstream.end(body);
      else req.pipe(upstream);
    });
  }

  async function passThrough(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const response = await forward(req, req.headers);
    res.writeHead(response.statusCode ?? 502, response.rawHeaders);
    response.pipe(res);
  }

  async function withholdUnprocessed(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readAll(req);
    const input = parseJson(raw);
    const requestItems = isRecord(input) && isRecord(input.RequestItems) ? (input.RequestItems as RequestItems) : undefined;
    const withheld = requestItems ? withhold(requestItems, unprocessedFraction) : {};
    const withheldCount = countItems(withheld);
    stats.unprocessedItems += withheldCount;
    // Input the target will refuse anyway goes as it came.
    const body = withheldCount > 0 ? Buffer.from(JSON.stringify(input)) : raw;
    // The body changes, so its length does; identity encoding keeps the response rewritable.
    const headers: IncomingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    delete headers['accept-encoding'];
    const response = await forward(req, headers, body);
    const responseBody = await readAll(response);
    const output = parseJson(responseBody);
    if (response.statusCode !== 200 || withheldCount === 0 || !isRecord(output)) {
      // The target refused the call (the client resends all of it) or nothing was withheld.
      res.writeHead(response.statusCode ?? 502, response.rawHeaders);
      res.end(responseBody);
      return;
    }
    output.UnprocessedItems = mergeItems(isRecord(output.UnprocessedItems) ? (output.UnprocessedItems as RequestItems) : {}, withheld);
    sendJson(res, 200, output, response.headers);
  }

  function throttle(req: IncomingMessage, res: ServerResponse): void {
    stats.throttled++;
    // Read the request to its end first, so the connection stays usable for the client's retry.
    req.resume();
    req.on('end', () => sendJson(res, 400, THROTTLE_BODIES[throttleError], { 'content-type': 'application/x-amz-json-1.0' }));
  }

  const server = http.createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (options.delayMs && operations.has(operation)) setTimeout(() => handle(req, res, operation), options.delayMs);
    else handle(req, res, operation);
  });

  function handle(req: IncomingMessage, res: ServerResponse, operation: string): void {
    if (throttleEveryNth !== undefined && operations.has(operation) && ++counted % throttleEveryNth === 0) {
      throttle(req, res);
      return;
    }
    const handled =
      operation === 'BatchWriteItem' && unprocessedFraction > 0 ? withholdUnprocessed(req, res) : passThrough(req, res);
    handled.catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy(err instanceof Error ? err : undefined);
      } else if (isConnectionFailure(err)) {
        // The target is down (restarted): the client sees its connection fail, as without the proxy.
        req.socket.resetAndDestroy();
      } else {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/**
 * Removes `fraction` of the write requests (over all tables, in order) from `requestItems` and returns
 * them: item i goes when floor((i+1)·f) > floor(i·f), so they are evenly spread and the same input
 * always loses the same items. The last one stays when all would go, so every retry makes progress.
 */
function withhold(requestItems: RequestItems, fraction: number): RequestItems {
  const total = countItems(requestItems);
  const withheld: RequestItems = {};
  let index = 0;
  let taken = 0;
  for (const [table, requests] of Object.entries(requestItems)) {
    if (!Array.isArray(requests)) continue;
    const kept: unknown[] = [];
    for (const request of requests) {
      const take = Math.floor((index + 1) * fraction) > Math.floor(index * fraction) && taken < total - 1;
      index++;
      if (take) {
        taken++;
        (withheld[table] ??= []).push(request);
      } else {
        kept.push(request);
      }
    }
    // DynamoDB refuses an empty list of requests for a table.
    if (kept.length > 0) requestItems[table] = kept;
    else delete requestItems[table];
  }
  return withheld;
}

function mergeItems(a: RequestItems, b: RequestItems): RequestItems {
  const merged: RequestItems = { ...a };
  for (const [table, requests] of Object.entries(b)) merged[table] = [...(merged[table] ?? []), ...requests];
  return merged;
}

function countItems(items: RequestItems): number {
  return Object.values(items).reduce((n, requests) => n + (Array.isArray(requests) ? requests.length : 0), 0);
}

/** Answers with a JSON body, its Content-Length and the CRC32 the AWS SDK may check. */
export function sendJson(res: ServerResponse, statusCode: number, data: unknown, headers: OutgoingHttpHeaders = {}): void {
  const body = Buffer.from(JSON.stringify(data));
  const out: OutgoingHttpHeaders = { 'x-amzn-requestid': randomBytes(26).toString('hex').toUpperCase(), ...headers };
  delete out['transfer-encoding'];
  out['content-length'] = body.length;
  out['x-amz-crc32'] = crc32(body);
  res.writeHead(statusCode, out);
  res.end(body);
}

export function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code);
}
