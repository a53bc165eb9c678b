/**
 * The simulated pod logs (kwok's pods write none) behave as the runbooks expect of the kubelet's, so
 * runbook tests can trust them. Real API server, real Argo CD (which deploys the crash-looping revision).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MERGE_PATCH } from '../activities/kubernetes/client';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE } from '../common/platform';
import { platformRepo } from '../platform-sim/platform-repo';
import { LOGGED_BEARER_TOKEN } from '../platform-sim/pod-logs';
import { waitFor } from '../platform-sim/seed';
import { awsClients, uniqueInstance } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

const aws = awsClients();
const { kube } = aws;
afterAll(() => aws.close());

async function patchApp(instance: string, body: object): Promise<void> {
  await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}`, body }, MERGE_PATCH);
}

const tiny = { users: 3, matches: 1, feedback: 1 };

describe('simulated pod logs', () => {
  it('serve current logs through the API server, and previous logs for crash-looping pods', async () => {
    const instance = uniqueInstance('logs');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const pods = await kube.core.listNamespacedPod({ namespace: instance, labelSelector: `app=${API_DEPLOYMENT}` });
    const pod = pods.items[0]!.metadata!.name!;
    let log = '';
    await waitFor('pod logs', async () => {
      log = await kube.core.readNamespacedPodLog({ name: pod, namespace: instance, container: 'api' });
      return log.length > 0;
    });
    expect(log).toContain(`starting virtual-coffee-api version=1.2.0 pod=${pod}`);
    expect(log).toContain(LOGGED_BEARER_TOKEN);

    await patchApp(instance, { operation: { sync: { revision: platformRepo().fixtures.neverReady }, initiatedBy: { username: 't' } } });
    let crashing = '';
    await waitFor('a crash-looping pod', async () => {
      const list = await kube.core.listNamespacedPod({ namespace: instance, labelSelector: `app=${API_DEPLOYMENT}` });
      const found = list.items.find((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
      crashing = found?.metadata?.name ?? '';
      return crashing !== '';
    });
    let previous = '';
    await waitFor('previous logs', async () => {
      previous = await kube.core.readNamespacedPodLog({ name: crashing, namespace: instance, container: 'api', previous: true });
      return previous.length > 0;
    });
    expect(previous).toContain('FATAL exiting with code 1');
  });
});
