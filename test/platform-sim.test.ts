/**
 * The simulated Argo CD, Crossplane and pod logs behave as the runbooks expect of the real ones,
 * so runbook tests can trust them. Real API server, real dynalite.
 */
import { DescribeTableCommand, ResourceNotFoundException, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { MERGE_PATCH } from '../activities/kubernetes/client';
import { instanceTableNames } from '../common/instance';
import {
  API_DEPLOYMENT,
  APPLICATION,
  ARGOCD_NAMESPACE,
  conditionStatus,
  DYNAMODB_CLAIM,
  DYNAMODB_COMPOSITE,
  MATCHING_CRONJOB,
  REFRESH_ANNOTATION,
} from '../common/platform';
import type { Application, DynamoDbClaim } from '../common/platform';
import { SIM } from '../platform-sim/argocd';
import { LOGGED_BEARER_TOKEN } from '../platform-sim/pod-logs';
import { SEEDED_REVISIONS, waitFor } from '../platform-sim/seed';
import { awsClients, uniqueInstance } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

const aws = awsClients();
const { kube, dynamodb } = aws;
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

async function tableExists(tableName: string): Promise<boolean> {
  try {
    await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return true;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return false;
    throw err;
  }
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

describe('simulated Crossplane', () => {
  it('deleting the claim removes composite and tables asynchronously; recreating it creates empty tables', async () => {
    const instance = uniqueInstance('xp-delete');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const claim = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
    const composite = claim.spec.resourceRef!.name;

    await kube.custom.deleteNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` });
    // Asynchronous: right after the delete the tables are still there.
    expect(await tableExists(`users-${instance}`)).toBe(true);
    await waitFor('tables deleted', async () => {
      for (const table of instanceTableNames(instance)) if (await tableExists(table)) return false;
      return true;
    });
    await waitFor('composite deleted', async () =>
      kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: composite }).then(() => false, () => true),
    );

    await kube.custom.createNamespacedCustomObject({
      ...DYNAMODB_CLAIM,
      namespace: instance,
      body: { apiVersion: 'virtualcoffee.io/v1alpha1', kind: DYNAMODB_CLAIM.kind, metadata: { name: `${instance}-dynamodb` }, spec: claim.spec.parameters && { parameters: claim.spec.parameters } },
    });
    await waitFor('recreated claim Ready', async () => {
      const c = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
      return conditionStatus(c.status?.conditions, 'Ready') === 'True';
    });
    const scan = await dynamodb.send(new ScanCommand({ TableName: `users-${instance}`, Select: 'COUNT' }));
    expect(scan.Count).toBe(0);
  });

  it('with deletionPolicy Orphan the tables and their data survive the claim, and a new claim adopts them', async () => {
    const instance = uniqueInstance('xp-orphan');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const name = `${instance}-dynamodb`;
    const claim = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name })) as DynamoDbClaim;
    const tables = (await kube.custom.listClusterCustomObject({ group: 'dynamodb.aws.upbound.io', version: 'v1beta1', plural: 'tables' })) as {
      items: { metadata: { name: string }; spec: { deletionPolicy: string } }[];
    };
    for (const t of tables.items.filter((t) => t.metadata.name.startsWith(claim.spec.resourceRef!.name))) {
      await kube.custom.patchClusterCustomObject(
        { group: 'dynamodb.aws.upbound.io', version: 'v1beta1', plural: 'tables', name: t.metadata.name, body: { spec: { deletionPolicy: 'Orphan' } } },
        MERGE_PATCH,
      );
    }
    await kube.custom.deleteNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name });
    await waitFor('claim gone', async () => kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name }).then(() => false, () => true));
    await sleep(2000);
    expect(await tableExists(`users-${instance}`)).toBe(true);
    expect((await dynamodb.send(new ScanCommand({ TableName: `users-${instance}`, Select: 'COUNT' }))).Count).toBe(3);

    await kube.custom.createNamespacedCustomObject({
      ...DYNAMODB_CLAIM,
      namespace: instance,
      body: { apiVersion: 'virtualcoffee.io/v1alpha1', kind: DYNAMODB_CLAIM.kind, metadata: { name }, spec: { parameters: claim.spec.parameters } },
    });
    await waitFor('adopting claim Ready', async () => {
      const c = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name })) as DynamoDbClaim;
      return conditionStatus(c.status?.conditions, 'Ready') === 'True';
    });
    expect((await dynamodb.send(new ScanCommand({ TableName: `users-${instance}`, Select: 'COUNT' }))).Count).toBe(3);
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
