/**
 * The simulated Crossplane and pod logs behave as the runbooks expect of the real ones, so runbook
 * tests can trust them. Real API server, real dynalite, real Argo CD.
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
} from '../common/platform';
import type { DynamoDbClaim } from '../common/platform';
import { platformRepo } from '../platform-sim/platform-repo';
import { LOGGED_BEARER_TOKEN } from '../platform-sim/pod-logs';
import { waitFor } from '../platform-sim/seed';
import { awsClients, uniqueInstance } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

const aws = awsClients();
const { kube, dynamodb } = aws;
afterAll(() => aws.close());

async function patchApp(instance: string, body: object): Promise<void> {
  await kube.custom.patchNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}`, body }, MERGE_PATCH);
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
