/**
 * deploy/rbac.yaml is least privilege that works: the activities succeed against the real
 * kube-apiserver as the worker's ServiceAccount (a real token from the TokenRequest API), and the
 * same identity is denied Secrets.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { createKubeClients, loadKubeConfig } from '../activities/kubernetes/client';
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS } from '../common/diagnostics';
import { SEEDED_REVISIONS } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { approvals } from '../test-support/approvers';
import { awsClients, config, uniqueInstance } from '../test-support/stack';

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
    const activities = createActivities({ ...aws, kube, approvals });
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
});
