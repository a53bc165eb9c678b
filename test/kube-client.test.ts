/**
 * The Kubernetes clients keep their connections: against the real API server, sequential calls
 * reuse one TLS connection, where @kubernetes/client-node's own clients open one per call.
 */
import https from 'node:https';
import { CoreV1Api, RequestContext } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKubeClients, loadKubeConfig, PooledKubeAuthentication } from '../activities/kubernetes/client';
import { config } from '../test-support/stack';

afterEach(() => {
  vi.restoreAllMocks();
});

async function connectionsOpenedBy(calls: () => Promise<unknown>): Promise<number> {
  const opened = vi.spyOn(https.Agent.prototype, 'createConnection');
  try {
    await calls();
    return opened.mock.calls.length;
  } finally {
    opened.mockRestore();
  }
}

async function sequentially(n: number, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) await call();
}

describe('Kubernetes clients', () => {
  it('reuse one connection for sequential calls to the real API server; the library default opens one per call', async () => {
    const kc = loadKubeConfig(config.kubernetes.kubeconfig);
    const pooled = createKubeClients(kc);
    try {
      await pooled.core.listNamespace();
      const ours = await connectionsOpenedBy(() => sequentially(5, () => pooled.core.listNamespace()));
      expect(ours).toBe(0);

      const library = kc.makeApiClient(CoreV1Api);
      await library.listNamespace();
      const theirs = await connectionsOpenedBy(() => sequentially(5, () => library.listNamespace()));
      expect(theirs).toBe(5);
    } finally {
      pooled.close();
    }
  });

  it('a change of TLS material (a rotated client certificate) gets a new pool; the same material keeps it', async () => {
    let cert = 'first certificate';
    // The kubeconfig's part: credentials and a fresh agent per request, as the library does.
    const kc = {
      getCurrentCluster: () => ({ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }),
      applySecurityAuthentication: (context: RequestContext) => context.setAgent(new https.Agent({ cert, key: 'key', ca: 'ca' })),
    } as unknown as KubeConfig;
    const authentication = new PooledKubeAuthentication(kc);
    const agentFor = async () => {
      const context = new RequestContext('https://127.0.0.1:1/api', 'GET' as never);
      await authentication.applySecurityAuthentication(context);
      return context.getAgent();
    };
    const first = await agentFor();
    expect(first).toBe(authentication.agent);
    expect((first as https.Agent).options).toMatchObject({ keepAlive: true, cert: 'first certificate' });
    expect(await agentFor()).toBe(first);
    cert = 'rotated certificate';
    const second = await agentFor();
    expect(second).not.toBe(first);
    expect((second as https.Agent).options).toMatchObject({ keepAlive: true, cert: 'rotated certificate' });
    const destroyed = vi.spyOn(first as https.Agent, 'destroy');
    authentication.close();
    expect(destroyed).toHaveBeenCalled();
  });
});
