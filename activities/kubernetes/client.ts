/** Kubernetes API clients for the activities (and the simulators), built once from a KubeConfig. */
import { createHash } from 'node:crypto';
import https from 'node:https';
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { RequestContext, SecurityAuthentication } from '@kubernetes/client-node';
import { KubeRawReader } from './raw';

export interface KubeClients {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
  /** The server's own JSON and logs, over the same credentials and connections. */
  raw: KubeRawReader;
}

/** KUBECONFIG when given, in-cluster config inside a pod, ~/.kube/config otherwise. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  return kc;
}

/**
 * The kubeconfig's own authentication, over kept-alive connections. @kubernetes/client-node 1.4
 * builds a new https.Agent for every request, so every call paid a TCP and TLS handshake (most of a
 * small read's time). The library still applies credentials per request (a rotated token or
 * certificate file is read again); its agent is swapped for one pooled agent per distinct set of
 * TLS options, so a rotated client certificate gets fresh connections.
 */
export class PooledKubeAuthentication implements SecurityAuthentication {
  private pooled?: { tlsOptions: string; agent: https.Agent };
  private readonly retired: https.Agent[] = [];

  constructor(private readonly kc: KubeConfig) {}

  getName(): string {
    return 'kubeconfig authentication over pooled connections';
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.kc.applySecurityAuthentication(context);
    const agent = context.getAgent();
    // Proxies and plain HTTP keep the library's behaviour.
    if (this.kc.getCurrentCluster()?.proxyUrl || !(agent instanceof https.Agent)) return;
    const tlsOptions = fingerprint(agent.options);
    if (this.pooled?.tlsOptions !== tlsOptions) {
      // Requests in flight on the old agent finish; its idle connections close with destroy().
      if (this.pooled) this.retired.push(this.pooled.agent);
      this.pooled = { tlsOptions, agent: new https.Agent({ ...agent.options, keepAlive: true }) };
    }
    context.setAgent(this.pooled.agent);
  }

  /** Connections this authentication has opened and keeps (for tests and shutdown). */
  get agent(): https.Agent | undefined {
    return this.pooled?.agent;
  }

  close(): void {
    for (const agent of [...this.retired.splice(0), ...(this.pooled ? [this.pooled.agent] : [])]) agent.destroy();
    this.pooled = undefined;
  }
}

/** A digest of the TLS options that decide which connections may be shared. */
function fingerprint(options: https.AgentOptions): string {
  const hash = createHash('sha256');
  for (const name of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) {
    const value: unknown = options[name];
    const parts = Array.isArray(value) ? value : [value];
    hash.update(`${name}:${parts.length}:`);
    for (const part of parts) hash.update(Buffer.isBuffer(part) ? part : String(part)).update('\0');
  }
  return hash.digest('hex');
}

export function createKubeClients(kc: KubeConfig): KubeClients & { close: () => void } {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const authentication = new PooledKubeAuthentication(kc);
  const configuration = createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: authentication } });
  return {
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    batch: new BatchV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    raw: new KubeRawReader(kc, authentication),
    close: () => authentication.close(),
  };
}

/** Options that make a patch call send a JSON merge patch (RFC 7386). */
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

/** The object, or undefined when the API server answers 404; any other error propagates. */
export async function getOrUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
