/**
 * The simulated Argo CD and pod logs behave as the runbooks expect of the real ones, so runbook
 * tests can trust them (Crossplane is the real one: test/crossplane-claim.test.ts). Real API server.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MERGE_PATCH } from '../activities/kubernetes/client';
import {
  API_DEPLOYMENT,
  APPLICATION,
  ARGOCD_NAMESPACE,
  MATCHING_CRONJOB,
  REFRESH_ANNOTATION,
} from '../common/platform';
import type { Application } from '../common/platform';
import { SIM } from '../platform-sim/argocd';
import { LOGGED_BEARER_TOKEN } from '../platform-sim/pod-logs';
import { SEEDED_REVISIONS, waitFor } from '../platform-sim/seed';
import { awsClients, uniqueInstance } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

const aws = awsClients();
const { kube } = aws;
afterAll(() => aws.close());

const [OLDEST, PREVIOUS, CURRENT] = SEEDED_REVISIONS;

async function readApp(instance: string): Promise<Application> {
  return (await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` })) as Application;
}

async function patchApp(instance: string, body: object): Promise<void> {
  await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}`, body }, MERGE_PATCH);
}

async function deployedRevision(instance: string): Promise<string | undefined> {
  const d = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  return d.spec?.template.metadata?.annotations?.[SIM.revision];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tiny = { users: 3, matches: 1, feedback: 1 };

describe('simulated Argo CD', () => {
  it('with automated sync, a new desired revision is synced: operation, history, Deployments and health follow', async () => {
    const instance = uniqueInstance('argo-auto');
    await seedForTest(instance, { sizes: tiny });
    const before = await readApp(instance);
    await patchApp(instance, { spec: { source: { targetRevision: PREVIOUS } } });

    await waitFor('sync to the previous revision', async () => {
      const app = await readApp(instance);
      return app.status?.operationState?.phase === 'Succeeded' && app.status.operationState.syncResult?.revision === PREVIOUS && app.status.health?.status === 'Healthy';
    });
    const after = await readApp(instance);
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: PREVIOUS });
    expect(after.status?.history).toHaveLength((before.status?.history?.length ?? 0) + 1);
    expect(after.status?.history?.at(-1)).toMatchObject({ revision: PREVIOUS, initiatedBy: { automated: true } });
    expect(Date.parse(after.status!.operationState!.startedAt)).toBeGreaterThan(Date.parse(before.status!.operationState!.startedAt));
    expect(await deployedRevision(instance)).toBe(PREVIOUS);
  });

  it('with automated sync off, a changed revision waits for an explicit operation.sync; refresh only re-evaluates', async () => {
    const instance = uniqueInstance('argo-manual');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await patchApp(instance, { metadata: { annotations: { [REFRESH_ANNOTATION]: 'hard' } }, spec: { source: { targetRevision: OLDEST } } });

    await waitFor('refresh handled', async () => (await readApp(instance)).metadata.annotations?.[REFRESH_ANNOTATION] === undefined);
    await sleep(1000);
    const refreshed = await readApp(instance);
    expect(refreshed.status?.sync).toMatchObject({ status: 'OutOfSync', revision: CURRENT });
    expect(refreshed.status?.operationState?.syncResult?.revision).toBe(CURRENT);
    expect(await deployedRevision(instance)).toBe(CURRENT);

    await patchApp(instance, { operation: { sync: { revision: OLDEST }, initiatedBy: { username: 'runbook-test' } } });
    await waitFor('explicit sync', async () => (await readApp(instance)).status?.operationState?.syncResult?.revision === OLDEST);
    const synced = await readApp(instance);
    expect(synced.operation).toBeUndefined();
    expect(synced.status?.operationState?.operation.initiatedBy).toEqual({ username: 'runbook-test' });
    expect(synced.status?.history?.at(-1)?.revision).toBe(OLDEST);
    expect(await deployedRevision(instance)).toBe(OLDEST);
  });

  it('a revision marked failing fails its sync; one marked degraded turns health Degraded', async () => {
    const instance = uniqueInstance('argo-bad');
    await seedForTest(instance, {
      sizes: tiny,
      automatedSync: false,
      applicationAnnotations: { [SIM.failingRevisions]: OLDEST, [SIM.degradedRevisions]: PREVIOUS },
    });
    await patchApp(instance, { operation: { sync: { revision: OLDEST }, initiatedBy: { username: 't' } } });
    await waitFor('failed sync', async () => (await readApp(instance)).status?.operationState?.phase === 'Failed');
    expect((await readApp(instance)).status?.sync?.revision).toBe(CURRENT);

    await patchApp(instance, { operation: { sync: { revision: PREVIOUS }, initiatedBy: { username: 't' } } });
    await waitFor('degraded health', async () => {
      const app = await readApp(instance);
      return app.status?.operationState?.syncResult?.revision === PREVIOUS && app.status.health?.status === 'Degraded';
    });
  });

  it('self-heal re-applies replicas and unsuspends the CronJob while on, and leaves drift alone when off', async () => {
    const instance = uniqueInstance('argo-heal');
    await seedForTest(instance, { sizes: tiny });
    await kube.apps.patchNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance, body: { spec: { replicas: 0 } } }, MERGE_PATCH);
    await kube.batch.patchNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance, body: { spec: { suspend: true } } }, MERGE_PATCH);
    await waitFor('self-heal', async () => {
      const d = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
      const c = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
      return d.spec?.replicas === 2 && c.spec?.suspend === false;
    });

    await patchApp(instance, { spec: { syncPolicy: { automated: { prune: true, selfHeal: false } } } });
    await kube.apps.patchNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance, body: { spec: { replicas: 0 } } }, MERGE_PATCH);
    await sleep(2500);
    expect((await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance })).spec?.replicas).toBe(0);
  });
});

describe('simulated pod logs', () => {
  it('serve current logs through the API server, and previous logs for crash-looping pods', async () => {
    const instance = uniqueInstance('logs');
    await seedForTest(instance, { sizes: tiny, automatedSync: false, applicationAnnotations: { [SIM.degradedRevisions]: PREVIOUS } });
    const pods = await kube.core.listNamespacedPod({ namespace: instance, labelSelector: `app=${API_DEPLOYMENT}` });
    const pod = pods.items[0]!.metadata!.name!;
    let log = '';
    await waitFor('pod logs', async () => {
      log = await kube.core.readNamespacedPodLog({ name: pod, namespace: instance, container: 'api' });
      return log.length > 0;
    });
    expect(log).toContain(`starting virtual-coffee-api revision=${CURRENT} pod=${pod}`);
    expect(log).toContain(LOGGED_BEARER_TOKEN);

    await patchApp(instance, { operation: { sync: { revision: PREVIOUS }, initiatedBy: { username: 't' } } });
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
