/**
 * deploy/rbac.yaml is least privilege that works: the activities succeed against the real
 * kube-apiserver as the worker's ServiceAccount (a real token from the TokenRequest API), and the
 * same identity is denied what no activity does (Secrets, deleting a Deployment, editing a claim).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { createKubeClients, loadKubeConfig, MERGE_PATCH } from '../activities/kubernetes/client';
import type { KubeClients } from '../activities/kubernetes/client';
import { createRecoveryKubeActivities } from '../activities/kubernetes/recovery';
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS } from '../common/diagnostics';
import { instanceTableNames } from '../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, DYNAMODB_CLAIM, MATCHING_CRONJOB } from '../common/platform';
import type { Application } from '../common/platform';
import { SEEDED_REVISIONS } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { backupByActivities } from '../test-support/backups';
import { approvals } from '../test-support/approvers';
import { awsClients, config, directStagingArea, uniqueInstance } from '../test-support/stack';

const exec = promisify(execFile);
const aws = awsClients();
afterAll(() => aws.close());

async function serviceAccountKubeConfig(): Promise<KubeConfig> {
  const admin = loadKubeConfig(config.kubernetes.kubeconfig);
  const token = await aws.kube.core.createNamespacedServiceAccountToken({
    name: 'vcp-runbooks-worker',
    namespace: 'vcp-runbooks',
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: 'vcp-runbooks-worker', token: token.status!.token }],
    contexts: [{ name: 'worker', cluster: 'local', user: 'vcp-runbooks-worker' }],
    currentContext: 'worker',
  });
  return kc;
}

/** The API server's answer to a call: 'allowed', or the HTTP status it refused with. */
function outcome(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => 'allowed',
    (err: unknown) => (err instanceof ApiException ? err.code : err),
  );
}

/** Runs a polled activity until it stops answering "not yet" (what the workflow's retry policy does); any other error fails at once. */
async function untilReady<R>(check: () => Promise<R>, timeoutMs = 90_000): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (!(err instanceof Error && err.name === 'NotReadyYet') || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Runs an activity again after a 409 Conflict, as Temporal's retry policy does (the simulated Argo CD writes the Application's status meanwhile). */
async function retryOnConflict<R>(call: () => Promise<R>, attempts = 5): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409) || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function writersOf(kube: KubeClients, instance: string) {
  const api = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  const cron = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
  return { apiReplicas: api.spec?.replicas, cronSuspended: Boolean(cron.spec?.suspend) };
}

beforeAll(async () => {
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  const kubectl = process.env.KUBECTL;
  if (!kubectl) throw new Error('KUBECTL is not set: run the tests with `make test`');
  await exec(kubectl, ['--kubeconfig', config.kubernetes.kubeconfig!, 'apply', '-f', path.join(__dirname, '..', 'deploy', 'rbac.yaml')]);
});

describe('deploy/rbac.yaml', () => {
  it('lets every Kubernetes activity run as the worker ServiceAccount, and denies reading a Secret', async () => {
    const instance = uniqueInstance('rbac');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const kube = createKubeClients(await serviceAccountKubeConfig());
    const activities = createActivities({ ...aws, kube, approvals, staging: directStagingArea(aws) });
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);

    const app = await run(() => activities.readApplicationStatus(instance));
    expect(app).toMatchObject({ exists: true, syncedRevision: SEEDED_REVISIONS[2] });
    const deployments = await run(() => activities.describeDeployments(instance));
    expect(deployments.every((d) => d.exists && d.available)).toBe(true);
    const snapshot = await run(() => activities.inspectApplication(instance));
    const change = await run(() => activities.setDesiredRevision({
      instance,
      changeId: `rbac-test/${instance}`,
      expectedDesiredRevision: snapshot.desiredRevision,
      toRevision: SEEDED_REVISIONS[1],
      requestSyncOf: SEEDED_REVISIONS[1],
      initiatedBy: 'vcp-runbooks:rbac-test',
      reason: 'RBAC test',
    }));
    expect(change.changedAt).toBeTruthy();
    // The rollout check reads Applications and Deployments: "not ready yet" is fine, "forbidden" is not.
    const poll = await run(() => activities.checkRollout({ instance, revision: SEEDED_REVISIONS[1], previousOperationStartedAt: change.previousOperationStartedAt })).then(
      () => 'done',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    expect(poll).not.toMatch(/forbidden/i);

    for (const collector of COLLECTORS) {
      const outcome = await run(() => activities.collectDiagnostics({ bundleId: `rbac/${instance}`, instance, collector, limits: DEFAULT_DIAGNOSTIC_LIMITS }));
      expect({ collector, status: outcome.status, error: outcome.error }).toEqual({ collector, status: 'ok', error: undefined });
    }

    const secret = await kube.core.readNamespacedSecret({ name: 'anything', namespace: instance }).then(
      () => 'allowed',
      (err: unknown) => (err instanceof ApiException ? err.code : err),
    );
    expect(secret).toBe(403);
    const secrets = await kube.core.listNamespacedSecret({ namespace: instance }).then(
      () => 'allowed',
      (err: unknown) => (err instanceof ApiException ? err.code : err),
    );
    expect(secrets).toBe(403);
  });

  it('lets the DynamoDB recovery run its Kubernetes steps as the worker ServiceAccount, and denies what it does not do', async () => {
    const instance = uniqueInstance('rbac-ddb');
    // Automated sync on (the platform's default), so pausing it is a real patch.
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: true });
    const admin = aws.kube;
    const kube = createKubeClients(await serviceAccountKubeConfig());
    const recovery = createRecoveryKubeActivities({ ...aws, kube });
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);
    const changedBy = `rbac-test/${instance}`;
    const tableNames = instanceTableNames(instance);
    const automatedBefore = ((await admin.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` })) as Application).spec.syncPolicy?.automated;
    expect(automatedBefore).toBeTruthy();

    // Discover: the claim, its composite and its managed Tables (get on each).
    const claim = await run(() => recovery.inspectDynamoDbClaim(instance));
    expect(claim).toMatchObject({ name: `${instance}-dynamodb`, namespace: instance, composite: { name: expect.any(String) as unknown } });
    expect(claim.managedTables.map((t) => t.tableName).sort()).toEqual([...tableNames].sort());

    // Pause sync, stop the writers, wait until they are gone (patch Application, Deployment, CronJob; list Jobs).
    expect(await run(() => retryOnConflict(() => recovery.pauseAutomatedSync({ instance, changedBy })))).toEqual({ previous: automatedBefore, changed: true });
    const writers = await run(() => recovery.readWriters(instance));
    expect(writers).toEqual({ apiDeployment: { name: API_DEPLOYMENT, replicas: 2 }, cronJob: { name: MATCHING_CRONJOB, suspended: false } });
    expect(await run(() => recovery.quiesceWriters({ instance, changedBy }))).toEqual(writers);
    expect(await writersOf(admin, instance)).toEqual({ apiReplicas: 0, cronSuspended: true });
    expect(await run(() => untilReady(() => recovery.checkWritersStopped(instance)))).toEqual({ apiPods: 0, runningJobs: [] });

    // Delete the claim (its planned UID only, with a verified backup of its tables) and recreate it from the captured spec.
    const backup = await backupByActivities(env, aws, instance, tableNames);
    expect(await run(() => recovery.deleteDynamoDbClaim({ instance, uid: claim.uid, backup }))).toEqual({ deleted: true });
    await run(() => untilReady(() => recovery.checkClaimDeleted({ instance, uid: claim.uid, composite: claim.composite?.name, tableNames, orphanedTables: [] })));
    const created = await run(() => recovery.createDynamoDbClaim({ instance, spec: claim.spec, labels: claim.labels, recreatedBy: changedBy }));
    expect(created.created).toBe(true);
    expect(created.uid).not.toBe(claim.uid);
    await run(() => untilReady(() => recovery.checkClaimReady({ instance, tableNames })));

    // Put everything back as it was.
    expect(await run(() => recovery.restoreWriters(instance))).toEqual(writers);
    expect(await writersOf(admin, instance)).toEqual({ apiReplicas: 2, cronSuspended: false });
    expect(await run(() => retryOnConflict(() => recovery.restoreAutomatedSync(instance)))).toEqual({ restored: automatedBefore, changed: true });

    // Nothing beyond that: no deleting workloads, no editing the claim, no Secrets.
    expect(await outcome(kube.apps.deleteNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }))).toBe(403);
    expect(await outcome(kube.batch.deleteNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }))).toBe(403);
    expect(await outcome(kube.custom.patchNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb`, body: { metadata: { labels: { x: 'y' } } } }, MERGE_PATCH))).toBe(403);
    expect(await outcome(kube.core.readNamespacedSecret({ name: 'anything', namespace: instance }))).toBe(403);
    expect(await outcome(kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }))).toBe('allowed');
  }, 240_000);
});
