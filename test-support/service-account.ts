/** A kubeconfig that authenticates as a ServiceAccount with a real token, to prove what its RBAC allows. */
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeClients, loadKubeConfig } from '../activities/kubernetes/client';
import { config } from './stack';

export async function serviceAccountKubeConfig(name: string, namespace = 'vcp-runbooks'): Promise<KubeConfig> {
  const admin = loadKubeConfig(config.kubernetes.kubeconfig);
  const clients = createKubeClients(admin);
  try {
    const token = await clients.core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const cluster = admin.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'local', server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
      users: [{ name, token: token.status!.token }],
      contexts: [{ name, cluster: 'local', user: name }],
      currentContext: name,
    });
    return kc;
  } finally {
    clients.close();
  }
}
