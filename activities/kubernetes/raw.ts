/**
 * Reads of the API server's own JSON and logs, for the diagnostic bundle. The generated clients
 * turn every answer into model objects, which drops fields the client does not know (newer API
 * versions, CRD fields) and costs more than the request itself for a list of pods; a bundle wants
 * exactly what the server said. Credentials and connections are the generated clients' own
 * (PooledKubeAuthentication), and failures are the same ApiException.
 */
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { ApiException, HttpMethod, RequestContext } from '@kubernetes/client-node';
import type { KubeConfig, SecurityAuthentication } from '@kubernetes/client-node';

export type Query = Record<string, string | number | boolean | undefined>;

/** A request that has not answered within this time fails (and its activity retries). */
const REQUEST_TIMEOUT_MS = 60_000;

export class KubeRawReader {
  private readonly server: string;

  constructor(
    kc: KubeConfig,
    /** The generated clients' own (PooledKubeAuthentication in client.ts): same credentials, same connections. */
    private readonly authentication: SecurityAuthentication,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
  }

  /** GET `path` (segments already encoded, see `apiPath`) as parsed JSON. */
  async json<T>(path: string, query: Query = {}): Promise<T> {
    return JSON.parse(await this.text(path, query, 'application/json')) as T;
  }

  /** GET `path` as text (a log). */
  async text(path: string, query: Query = {}, accept = '*/*'): Promise<string> {
    const url = new URL(this.server + path);
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, String(value));
    const context = new RequestContext(url.toString(), HttpMethod.GET);
    context.setHeaderParam('Accept', accept);
    await this.authentication.applySecurityAuthentication(context);
    const { status, headers, body } = await get(url, context);
    if (status >= 200 && status < 300) return body;
    throw new ApiException(status, `HTTP ${status} from GET ${url.pathname}: ${statusMessage(body)}`, body, headers);
  }
}

/** A path from segments, each encoded: `apiPath('api/v1', 'namespaces', ns, 'pods')`. */
export function apiPath(...segments: string[]): string {
  return '/' + segments.map((segment, i) => (i === 0 ? segment : encodeURIComponent(segment))).join('/');
}

/** The API group's path prefix: the core group lives under /api, every other under /apis. */
export function groupPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

function get(url: URL, context: RequestContext): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { agent: context.getAgent(), headers: context.getHeaders() };
    const onResponse = (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const headers = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
        resolve({ status: response.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    };
    const request = url.protocol === 'http:' ? http.get(url, options, onResponse) : https.get(url, options, onResponse);
    request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`GET ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

/** The message of a Kubernetes Status body, or the body's start. */
function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not JSON: the text itself
  }
  return body.slice(0, 200);
}
