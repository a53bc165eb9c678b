/**
 * The sync runbook on the real Temporal server, API server and Argo CD application controller and
 * repo server: an instance made OutOfSync for real (a Deployment changed by hand, a managed
 * ConfigMap deleted, a branch moved to manifests that do not generate), synced back to its target.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startSync } from '../client/runbooks';
import { SYNC_CHANGE_INFO } from '../common/argocd';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, REFRESH_ANNOTATION } from '../common/platform';
import type { Application } from '../common/platform';
import type { RunbookResult } from '../common/runbook';
import type { SyncDetails, SyncInput, SyncPlan } from '../common/sync-plan';
import { getOrUndefined, MERGE_PATCH } from '../activities/kubernetes/client';
import { platformRepo } from '../platform-sim/platform-repo';
import { waitFor } from '../platform-sim/seed';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { approveIfAsked, messages, readApp } from '../test-support/recovery';
import { rogueAttempts } from '../test-support/rogue';
import { seedForTest } from '../test-support/seed';
import { awsClients, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { kube } = aws;
const repo = platformRepo();
const CURRENT = repo.releases.at(-1)!;
const tiny = { users: 2, matches: 1, feedback: 1 };
const workerOptions = { overrides: { approvals } };

afterAll(() => aws.close());

function input(instance: string, extra: Partial<SyncInput> = {}): SyncInput {
  return { instance, reason: 'OutOfSync after a manual change', options: { requestedBy: { user: 'bob', via: 'test' } }, rolloutTimeoutMs: 90_000, ...extra };
}

/** What a runbook could change on the Application (the controller keeps writing its status). */
function runbookView(app: Application) {
  const { [REFRESH_ANNOTATION]: _refresh, ...annotations } = app.metadata.annotations ?? {};
  return { spec: app.spec, operation: app.operation, annotations, ownerReferences: app.metadata.ownerReferences };
}

async function apiImage(instance: string): Promise<string | undefined> {
  const d = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  return d.spec?.template.spec?.containers[0]?.image;
}

/** A hand-made change Argo CD sees: the API's image, outside git. */
async function driftApiImage(instance: string): Promise<string> {
  const image = (await apiImage(instance))!;
  await kube.apps.patchNamespacedDeployment(
    { name: API_DEPLOYMENT, namespace: instance, body: { spec: { template: { spec: { containers: [{ name: 'api', image: `${image}-hotfix` }] } } } } },
    MERGE_PATCH,
  );
  await waitFor(`${instance} OutOfSync`, async () => (await readApp(kube, instance)).status?.sync?.status === 'OutOfSync');
  return image;
}

async function approvedSync(instance: string, extra: Partial<SyncInput> = {}): Promise<{ plan: SyncPlan; result: RunbookResult<SyncDetails> }> {
  return withWorker(async ({ client, taskQueue }) => {
    const handle = await startSync(client, taskQueue, input(instance, extra));
    const plan = (await awaitApprovalGate(handle)).plan as SyncPlan;
    await approveAs(handle, 'alice', 'approve', 'sync it');
    return { plan, result: await handle.result() };
  }, workerOptions);
}

describe('sync runbook', { timeout: 240_000 }, () => {
  it('syncs a Deployment changed by hand back to the target: hard refresh, its own sync, Synced and Healthy there, the sync policy unchanged', async () => {
    const instance = uniqueInstance('sync-drift');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const image = await driftApiImage(instance);
    const before = await readApp(kube, instance);

    const { plan, result } = await approvedSync(instance);

    expect(plan.current.syncStatus).toBe('OutOfSync');
    expect(plan.sync).toMatchObject({ revision: 'main', prune: false });
    expect(plan.automatedSync).toMatchObject({ enable: false, current: null });
    expect(result.outcome, result.reason).toBe('succeeded');
    expect(result.details).toMatchObject({
      operation: { phase: 'Succeeded', revision: CURRENT, prune: false },
      final: { syncStatus: 'Synced', health: 'Healthy', syncedRevision: CURRENT, resolvedRevision: CURRENT },
      automatedSync: { before: null, after: null, changed: false },
    });
    expect(result.details!.refresh.reconciledAt).toBeDefined();
    // The drift is gone, by the runbook's own sync; nothing but the sync changed on the Application.
    expect(await apiImage(instance)).toBe(image);
    const after = await readApp(kube, instance);
    expect(after.status?.operationState?.operation.info?.find((i) => i.name === SYNC_CHANGE_INFO)?.value).toMatch(/\/sync$/);
    expect(after.status?.operationState?.operation.initiatedBy).toMatchObject({ username: 'vcp-runbooks:bob' });
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.annotations?.[REFRESH_ANNOTATION]).toBeUndefined();
    expect(after.status?.history).toHaveLength(before.status!.history!.length + 1);
    expect(result.audit.changes.map((c) => c.action)).toEqual(['annotate argocd.argoproj.io/refresh=hard (hard refresh)', 'request operation.sync of the target revision']);
  });

  it('with enableAutomatedSync: the managed ConfigMap deleted by hand comes back, and the policy is exactly the guide\'s, set after the sync', async () => {
    const instance = uniqueInstance('sync-auto');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await kube.core.deleteNamespacedConfigMap({ name: CONFIG_MAP, namespace: instance });
    await waitFor(`${instance} OutOfSync`, async () => (await readApp(kube, instance)).status?.sync?.status === 'OutOfSync');

    const { plan, result } = await approvedSync(instance, { enableAutomatedSync: true });

    expect(plan.automatedSync.patch).toEqual({ spec: { syncPolicy: { automated: { prune: true, selfHeal: true } } } });
    expect(plan.sync.prune).toBe(true);
    expect(result.outcome, result.reason).toBe('succeeded');
    expect(result.details).toMatchObject({ final: { syncStatus: 'Synced', health: 'Healthy' }, automatedSync: { before: null, changed: true } });
    expect(await getOrUndefined(kube.core.readNamespacedConfigMap({ name: CONFIG_MAP, namespace: instance }))).toBeDefined();
    const after = await readApp(kube, instance);
    expect(after.spec.syncPolicy).toEqual({ automated: { prune: true, selfHeal: true } });
    expect(after.status?.sync?.status).toBe('Synced');
    expect(result.audit.changes.map((c) => c.action)).toEqual([
      'annotate argocd.argoproj.io/refresh=hard (hard refresh)',
      'request operation.sync of the target revision with prune',
      "patch spec.syncPolicy.automated (the guide's force sync)",
    ]);
  });

  it('a rejected approval changes nothing: no refresh, no sync, no policy', async () => {
    const instance = uniqueInstance('sync-reject');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const image = await driftApiImage(instance);
    const before = await readApp(kube, instance);
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startSync(client, taskQueue, input(instance, { enableAutomatedSync: true }));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'carol', 'reject', 'leave the hotfix in place');
      return handle.result();
    }, workerOptions);
    expect(result.outcome).toBe('rejected');
    const after = await readApp(kube, instance);
    expect(runbookView(after)).toEqual(runbookView(before));
    expect(after.metadata.annotations?.[REFRESH_ANNOTATION]).toBeUndefined();
    expect(after.status?.operationState).toEqual(before.status?.operationState);
    expect(await apiImage(instance)).toBe(`${image}-hotfix`);
  });

  it('an Application managed by a parent is refused before the approval, changing nothing', async () => {
    const instance = uniqueInstance('sync-owned');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const parent = await kube.core.createNamespacedConfigMap({ namespace: ARGOCD_NAMESPACE, body: { metadata: { name: `parent-${instance}` } } });
    try {
      await kube.custom.patchNamespacedCustomObject(
        {
          ...APPLICATION,
          namespace: ARGOCD_NAMESPACE,
          name: `virtual-coffee-${instance}`,
          body: { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: parent.metadata!.name!, uid: parent.metadata!.uid! }] } },
        },
        MERGE_PATCH,
      );
      const before = await readApp(kube, instance);
      const ended = await withWorker(async ({ client, taskQueue }) => approveIfAsked<SyncDetails>(await startSync(client, taskQueue, input(instance, { enableAutomatedSync: true }))), workerOptions);
      expect(ended.asked).toBe(false);
      expect(messages(ended.failure)).toMatch(new RegExp(`sync refused, nothing changed: virtual-coffee-${instance} is managed by ConfigMap parent-${instance} .*sync the parent instead`));
      const after = await readApp(kube, instance);
      expect(runbookView(after)).toEqual(runbookView(before));
      expect(after.status?.operationState).toEqual(before.status?.operationState);
    } finally {
      await kube.core.deleteNamespacedConfigMap({ namespace: ARGOCD_NAMESPACE, name: `parent-${instance}` });
    }
  });

  it('an operation in progress (a failing sync that retries) is waited out, not overwritten: the runbook\'s own sync runs after it', async () => {
    const instance = uniqueInstance('sync-busy');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await driftApiImage(instance);
    // Someone syncs a revision that cannot apply, with retries: the operation stays Running for about 10 s.
    await kube.custom.patchNamespacedCustomObject(
      {
        ...APPLICATION,
        namespace: ARGOCD_NAMESPACE,
        name: `virtual-coffee-${instance}`,
        body: { operation: { sync: { revision: repo.fixtures.immutableSelector }, initiatedBy: { username: 'someone-else' }, retry: { limit: 2, backoff: { duration: '5s', factor: 1 } } } },
      },
      MERGE_PATCH,
    );
    // Argo CD's first attempt waits for the repo server's manifests, slow when the cores are saturated.
    await waitFor('the other sync to retry', async () => ((await readApp(kube, instance)).status?.operationState?.retryCount ?? 0) >= 1, 90_000);
    const { plan, result } = await approvedSync(instance);
    expect(plan.risks.join('\n')).toMatch(/an operation is in progress/);
    expect(result.outcome, result.reason).toBe('succeeded');
    const after = await readApp(kube, instance);
    expect(after.status?.operationState?.operation.info?.find((i) => i.name === SYNC_CHANGE_INFO)?.value).toMatch(/\/sync$/);
    expect(after.status?.sync).toMatchObject({ status: 'Synced', revision: CURRENT });
    expect(after.status?.history?.at(-1)?.revision).toBe(CURRENT);
  });

  it('the hard refresh, the sync request and the automated-sync patch each refuse a run of the sync type without its approval', async () => {
    const instance = uniqueInstance('sync-rogue');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await driftApiImage(instance);
    const before = await readApp(kube, instance);
    const results = await withWorker(
      ({ client, taskQueue }) =>
        rogueAttempts(client, taskQueue, 'sync', instance, [
          { label: 'requestHardRefresh', activity: 'requestHardRefresh', input: { instance, token: 'rogue' } },
          { label: 'setDesiredRevision', activity: 'setDesiredRevision', input: { instance, changeId: 'rogue', expectedDesiredRevision: 'main', toRevision: 'main', requestSyncOf: 'main', prune: true, initiatedBy: 'rogue', reason: 'rogue' } },
          { label: 'enableAutomatedSync', activity: 'enableAutomatedSync', input: { instance, expected: null, automated: { prune: true, selfHeal: true } } },
        ]),
      { ...workerOptions, workflows: 'rogue' },
    );
    for (const { label, outcome } of results) expect(outcome, label).toMatch(/needs the approval it acts on; none was given/);
    const after = await readApp(kube, instance);
    expect(runbookView(after)).toEqual(runbookView(before));
    expect(after.metadata.annotations?.[REFRESH_ANNOTATION]).toBeUndefined();
  });

  it('a branch moved to manifests that do not generate: the hard refresh sees it, and the run fails with Argo CD\'s reason', async () => {
    const instance = uniqueInstance('sync-broken');
    const branch = `test/${instance}`;
    const git = (...args: string[]) => execFileSync('git', ['--git-dir', repo.gitDir, ...args]);
    git('update-ref', `refs/heads/${branch}`, CURRENT);
    try {
      await seedForTest(instance, { sizes: tiny, automatedSync: false, branch });
      git('update-ref', `refs/heads/${branch}`, repo.fixtures.unparsable);
      const err = await approvedSync(instance).then(
        ({ result }) => result,
        (e: unknown) => e,
      );
      expect(messages(err)).toMatch(new RegExp(`the sync of virtual-coffee-${instance} at ${branch} did not become Synced and Healthy: sync to \\S+ errored: .*ComparisonError`));
      expect(await apiImage(instance)).toBeDefined();
      const after = await readApp(kube, instance);
      expect(after.spec.syncPolicy).toBeUndefined();
      expect(after.status?.history?.at(-1)?.revision).toBe(CURRENT);
    } finally {
      git('update-ref', '-d', `refs/heads/${branch}`);
    }
  });
});
