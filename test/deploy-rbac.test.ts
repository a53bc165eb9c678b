/**
 * deploy/rbac.yaml and deploy/instance-rbac.yaml are least privilege that works, per instance: the
 * activities succeed against the real kube-apiserver as the worker's ServiceAccount (a real token
 * from the TokenRequest API) in an instance that has its binding, and the same identity is denied
 * what no activity does (Secrets, deleting a Deployment, editing a claim) and the same calls
 * anywhere else: kube-system, an instance without the binding, other objects of a bound instance.
 * Cluster-wide it may list namespaces (fleet status finds the instances so) and nothing inside them.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiException } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createUnguardedActivities } from '../activities';
import { createKubeClients, MERGE_PATCH } from '../activities/kubernetes/client';
import type { KubeClients } from '../activities/kubernetes/client';
import { apiPath } from '../activities/kubernetes/raw';
import { NOT_READY_YET } from '../activities/not-ready';
import { createArgoCdSyncPauseActivities } from '../activities/kubernetes/argocd-sync-pause';
import { createDynamoDbClaimActivities } from '../activities/kubernetes/dynamodb-claim';
import { createWriterActivities } from '../activities/kubernetes/writers';
import { createDeploymentActivities } from '../activities/kubernetes/deployments';
import { createMatchingJobActivities } from '../activities/kubernetes/matching-job';
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS } from '../common/diagnostics';
import { argoApplicationName, dynamodbClaimName, instanceTableNames } from '../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, DYNAMODB_CLAIM, FRONTEND_DEPLOYMENT, MATCHING_CRONJOB } from '../common/platform';
import type { Application } from '../common/platform';
import { seededRevisions } from '../platform-sim/seed';
import { INSTANCE_PLACEHOLDER, INSTANCE_RBAC_FILE, renderInstanceRbac } from '../platform-sim/worker-access';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { backupByActivities } from '../test-support/backups';
import { approvals } from '../test-support/approvers';
import { serviceAccountKubeConfig } from '../test-support/service-account';
import { awsClients, config, directStagingArea, uniqueInstance } from '../test-support/stack';

const exec = promisify(execFile);
const aws = awsClients();
afterAll(() => aws.close());

function workerKubeConfig(): Promise<KubeConfig> {
  return serviceAccountKubeConfig('vcp-runbooks-worker');
}

/** Kubernetes clients authenticated as the worker's ServiceAccount, closed when the test ends. */
async function asWorker(): Promise<KubeClients> {
  const kube = createKubeClients(await workerKubeConfig());
  onTestFinished(() => kube.close());
  return kube;
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
      if (!(err instanceof ApplicationFailure && err.type === NOT_READY_YET) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Runs an activity again after a 409 Conflict, as Temporal's retry policy does (Argo CD writes the Application's status meanwhile). */
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

function kubectl(...args: string[]) {
  const binary = process.env.KUBECTL;
  if (!binary) throw new Error('KUBECTL is not set: run the tests with `make test`');
  return exec(binary, ['--kubeconfig', config.kubernetes.kubeconfig!, ...args]);
}

/** A shell pipeline with the stack's kubectl as `kubectl` (the README's commands, verbatim in shape). */
function shell(script: string) {
  return exec('bash', ['-euo', 'pipefail', '-c', `kubectl() { "$KUBECTL" --kubeconfig "$VCP_TEST_KUBECONFIG" "$@"; }\n${script}`], {
    cwd: path.join(__dirname, '..'),
    env: { ...process.env, VCP_TEST_KUBECONFIG: config.kubernetes.kubeconfig },
  });
}

beforeAll(async () => {
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  await kubectl('apply', '-f', path.join(__dirname, '..', 'deploy', 'rbac.yaml'));
  // The upgrade step the README gives: the cluster-wide version of rbac.yaml also had a Role in
  // argocd for every Application, which applying this version leaves behind.
  await kubectl('delete', '--ignore-not-found', '-n', ARGOCD_NAMESPACE, 'role,rolebinding', 'vcp-runbooks-worker-applications');
});

/** What a bound instance's calls name; the probes aim them at other namespaces and names. */
interface Target {
  namespace: string;
  deployment: string;
  cronJob: string;
  claim: string;
  configMap: string;
  application: string;
  /** A pod whose log to read (the probe needs no pod to exist: a denial comes before the lookup). */
  pod: string;
}

function instanceTarget(instance: string, pod = 'any-pod'): Target {
  return {
    namespace: instance,
    deployment: API_DEPLOYMENT,
    cronJob: MATCHING_CRONJOB,
    claim: dynamodbClaimName(instance),
    configMap: CONFIG_MAP,
    application: argoApplicationName(instance),
    pod,
  };
}

const NO_SUCH_UID = '00000000-0000-0000-0000-000000000000';

/**
 * The Kubernetes calls the rollback, the DynamoDB recovery and the diagnostic bundle make on an
 * instance, aimed at `t`. Every write is a server-side dry run (and the delete carries a UID that
 * matches nothing), so where a call is wrongly allowed it still changes nothing.
 */
function instanceCalls(kube: KubeClients, t: Target) {
  const dryRun = 'All';
  const { namespace } = t;
  return {
    'get Deployment': () => kube.apps.readNamespacedDeployment({ name: t.deployment, namespace }),
    'scale Deployment': () => kube.apps.patchNamespacedDeployment({ name: t.deployment, namespace, body: { spec: { replicas: 0 } }, dryRun }, MERGE_PATCH),
    'get CronJob': () => kube.batch.readNamespacedCronJob({ name: t.cronJob, namespace }),
    'suspend CronJob': () => kube.batch.patchNamespacedCronJob({ name: t.cronJob, namespace, body: { spec: { suspend: true } }, dryRun }, MERGE_PATCH),
    'list Jobs': () => kube.batch.listNamespacedJob({ namespace }),
    'get claim': () => kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace, name: t.claim }),
    'delete claim': () => kube.custom.deleteNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace, name: t.claim, dryRun, body: { preconditions: { uid: NO_SUCH_UID } } }),
    'create claim': () =>
      kube.custom.createNamespacedCustomObject({
        ...DYNAMODB_CLAIM,
        namespace,
        dryRun,
        body: { apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`, kind: DYNAMODB_CLAIM.kind, metadata: { name: t.claim, namespace }, spec: { parameters: { instance: namespace } } },
      }),
    'get ConfigMap': () => kube.core.readNamespacedConfigMap({ name: t.configMap, namespace }),
    'list pods': () => kube.core.listNamespacedPod({ namespace }),
    'read pod log': () => kube.raw.text(apiPath('api/v1', 'namespaces', namespace, 'pods', t.pod, 'log'), { tailLines: 1 }),
    'get Application': () => kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: t.application }),
    'patch Application': () =>
      kube.custom.patchNamespacedCustomObject(
        { ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: t.application, body: { spec: { source: { targetRevision: seededRevisions()[0] } } }, dryRun },
        MERGE_PATCH,
      ),
  };
}

type CallName = keyof ReturnType<typeof instanceCalls>;

/** Each named call's answer from the API server ('allowed' or the refusing status), as one object, so a failure lists every call that was not refused. */
async function outcomes(calls: ReturnType<typeof instanceCalls>, names: CallName[] = Object.keys(calls) as CallName[]): Promise<Record<string, unknown>> {
  return Object.fromEntries(await Promise.all(names.map(async (name) => [name, await outcome(calls[name]())] as const)));
}

/** Polls until the answers are the expected ones (RBAC changes reach the authorizer's cache within moments), then asserts them. */
async function untilOutcomes(read: () => Promise<Record<string, unknown>>, expected: Record<string, unknown>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let answers = await read();
  while (JSON.stringify(answers) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    answers = await read();
  }
  expect(answers).toEqual(expected);
}

const everyCall = (status: unknown, names: readonly string[]) => Object.fromEntries(names.map((name) => [name, status]));

describe('deploy/rbac.yaml with deploy/instance-rbac.yaml', () => {
  it('lets every Kubernetes activity run as the worker ServiceAccount in an instance with its binding, and denies reading a Secret', async () => {
    const instance = uniqueInstance('rbac');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const kube = await asWorker();
    // The actions themselves, as the ServiceAccount: what RBAC allows, not what an approval allows (test/approval-trust.test.ts).
    const activities = createUnguardedActivities({ ...aws, kube, approvals, staging: directStagingArea(aws) });
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);

    const app = await run(() => activities.readApplicationStatus(instance));
    expect(app).toMatchObject({ exists: true, syncedRevision: seededRevisions()[2] });
    const deployments = await run(() => activities.describeDeployments(instance));
    expect(deployments.every((d) => d.exists && d.available)).toBe(true);
    // Fleet status: the instances (a list of namespaces), then each one's claim conditions and tables.
    expect(await run(() => activities.listInstanceNamespaces())).toContain(instance);
    expect(await run(() => activities.readClaimStatus(instance))).toEqual({ name: `${instance}-dynamodb`, exists: true, ready: 'True', synced: 'True' });
    expect((await run(() => activities.describeTableStatuses(instance))).map((t) => t.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE']);
    const snapshot = await run(() => activities.inspectApplication(instance));
    const change = await run(() => activities.setDesiredRevision({
      instance,
      changeId: `rbac-test/${instance}`,
      expectedDesiredRevision: snapshot.desiredRevision,
      toRevision: seededRevisions()[1],
      requestSyncOf: seededRevisions()[1],
      prune: false,
      initiatedBy: 'vcp-runbooks:rbac-test',
      reason: 'RBAC test',
    }));
    expect(change.changedAt).toBeTruthy();
    // The rollout check reads Applications and Deployments: "not ready yet" is fine, "forbidden" is not.
    const poll = await run(() => activities.checkRollout({ instance, changeId: change.changeId, revision: seededRevisions()[1], prune: false })).then(
      () => 'done',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    expect(poll).not.toMatch(/forbidden/i);

    for (const collector of COLLECTORS) {
      const outcome = await run(() => activities.collectDiagnostics({ bundleId: `rbac/${instance}`, instance, collector, limits: DEFAULT_DIAGNOSTIC_LIMITS }));
      expect({ collector, status: outcome.status, error: outcome.error }).toEqual({ collector, status: 'ok', error: undefined });
      // Pods of other namespaces are out of reach, so node allocation counts the instance's own.
      if (collector === 'nodes') expect(outcome.notes).toContain(`allocated resources count only the pods of ${instance}: the worker may not list pods in other namespaces`);
    }

    // Triage reads everything it needs as the ServiceAccount: nothing forbidden, every analyzer ran.
    const triage = await run(() => activities.triageInstance(instance));
    expect({ unreadable: triage.unreadable, failedAnalyzers: triage.failedAnalyzers }).toEqual({ unreadable: [], failedAnalyzers: [] });

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

  it('lets the DynamoDB recovery run its Kubernetes steps as the worker ServiceAccount in an instance with its binding, and denies what it does not do', async () => {
    const instance = uniqueInstance('rbac-ddb');
    // Automated sync on (the platform's default), so pausing it is a real patch.
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: true });
    const admin = aws.kube;
    const kube = await asWorker();
    const recovery = { ...createArgoCdSyncPauseActivities({ kube }), ...createWriterActivities({ kube }), ...createDynamoDbClaimActivities({ ...aws, kube }) };
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
    await run(() => untilReady(() => recovery.checkClaimDeleted({ instance, uid: claim.uid, composite: claim.composite?.name, managedTables: claim.managedTables, tableNames, orphanedTables: [] })));
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
  it('lets the restart and run-matching-job runbooks\' Kubernetes steps run as the worker ServiceAccount in a bound instance, and in crossplane-system only what the provider restart does', async () => {
    const instance = uniqueInstance('rbac-fix');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const kube = await asWorker();
    const fix = { ...createDeploymentActivities({ kube }), ...createMatchingJobActivities({ kube }) };
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);

    // Restart the frontend: read it with its ReplicaSets, patch the restart annotation, poll the rollout.
    const before = await run(() => fix.readRestartTarget({ instance, target: 'frontend' }));
    const { generation } = await run(() =>
      fix.restartDeployment({ instance, namespace: instance, name: before.name, uid: before.uid, generation: before.generation, restartedAt: '2026-12-03T00:00:00Z' }),
    );
    const after = await run(() => untilReady(() => fix.checkRestartRollout({ namespace: instance, name: before.name, generation, oldReplicaSet: before.currentReplicaSet })));
    expect(after.currentReplicaSet).not.toBe(before.currentReplicaSet);

    // Run the matching Job: read the CronJob and its Jobs, create the Job, poll it, read its pod's log.
    const seen = await run(() => fix.readMatchingCronJob(instance));
    const jobName = `manual-matching-rbac`;
    expect(await run(() => fix.createMatchingJob({ instance, jobName, cronJobUid: seen.cronJob!.metadata!.uid!, run: 'rbac-test/1' }))).toEqual({ job: jobName, created: true });
    const report = await run(() => untilReady(() => fix.checkMatchingJob({ instance, jobName })));
    expect(report).toMatchObject({ status: 'Complete', exitCode: 0 });
    expect(report.logTail.join('\n')).not.toMatch(/forbidden|no log/i);

    // crossplane-system: list, get and patch Deployments, list ReplicaSets; nothing else, and nowhere else.
    const cs = 'crossplane-system';
    expect(await outcome(kube.apps.listNamespacedDeployment({ namespace: cs }))).toBe('allowed');
    expect(await outcome(kube.apps.listNamespacedReplicaSet({ namespace: cs }))).toBe('allowed');
    // Allowed but absent is 404; a denial is 403 before the lookup.
    expect(await outcome(kube.apps.patchNamespacedDeployment({ name: 'provider-aws-none', namespace: cs, body: { metadata: { labels: { x: 'y' } } }, dryRun: 'All' }, MERGE_PATCH))).toBe(404);
    expect(await outcome(kube.apps.deleteNamespacedDeployment({ name: 'provider-aws-none', namespace: cs }))).toBe(403);
    expect(await outcome(kube.core.listNamespacedPod({ namespace: cs }))).toBe(403);
    expect(await outcome(kube.batch.createNamespacedJob({ namespace: cs, dryRun: 'All', body: { metadata: { name: 'x' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'x' }] } } } } }))).toBe(403);
    expect(await outcome(kube.apps.listNamespacedDeployment({ namespace: 'kube-system' }))).toBe(403);
  }, 180_000);

  it('answers the same calls on the bound instance\'s own objects past authorization, and refuses them with 403 on other Deployments, CronJobs, claims and ConfigMaps in that namespace', async () => {
    const instance = uniqueInstance('rbac-names');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const kube = await asWorker();
    // Real objects under other names: what the worker may not touch beside the ones it may.
    const other = 'unrelated-app';
    await aws.kube.apps.createNamespacedDeployment({
      namespace: instance,
      body: {
        metadata: { name: other },
        spec: { replicas: 0, selector: { matchLabels: { app: other } }, template: { metadata: { labels: { app: other } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } } },
      },
    });
    await aws.kube.batch.createNamespacedCronJob({
      namespace: instance,
      body: { metadata: { name: other }, spec: { schedule: '0 0 * * *', suspend: true, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'job', image: 'example.invalid/job:1' }] } } } } } },
    });
    await aws.kube.core.createNamespacedConfigMap({ namespace: instance, body: { metadata: { name: other }, data: { x: 'y' } } });
    const pod = (await aws.kube.core.listNamespacedPod({ namespace: instance, labelSelector: `app=${API_DEPLOYMENT}` })).items[0]!.metadata!.name!;

    // Baseline: every call on the instance's own objects is authorized. The claim's delete and
    // create answer 409 (the UID matches nothing; the claim exists): past authorization, changing nothing.
    const own = instanceCalls(kube, instanceTarget(instance, pod));
    expect(await outcomes(own)).toEqual({ ...everyCall('allowed', Object.keys(own)), 'delete claim': 409, 'create claim': 409 });

    // The same calls on other names. A claim under another name would make the simulated Crossplane
    // create tables, so that one does not exist: a 403 still comes before the lookup (else 404).
    const renamed = instanceCalls(kube, { ...instanceTarget(instance, pod), deployment: other, cronJob: other, configMap: other, claim: `${other}-dynamodb` });
    const named: CallName[] = ['get Deployment', 'scale Deployment', 'get CronJob', 'suspend CronJob', 'get claim', 'delete claim', 'get ConfigMap'];
    expect(await outcomes(renamed, named)).toEqual(everyCall(403, named));
    // The frontend may be read (instance status) and patched (the restart runbook's rollout restart).
    const frontend = instanceCalls(kube, { ...instanceTarget(instance, pod), deployment: FRONTEND_DEPLOYMENT });
    expect(await outcomes(frontend, ['get Deployment', 'scale Deployment'])).toEqual({ 'get Deployment': 'allowed', 'scale Deployment': 'allowed' });
  }, 120_000);

  it('refuses with 403 every one of those calls in a platform instance without its binding, and the runbooks\' own activities there fail with 403', async () => {
    const bound = uniqueInstance('rbac-bound');
    const unbound = uniqueInstance('rbac-unbound');
    await seedForTest(bound, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false, wait: false });
    await seedForTest(unbound, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false, workerAccess: false });
    const kube = await asWorker();
    const pod = (await aws.kube.core.listNamespacedPod({ namespace: unbound, labelSelector: `app=${API_DEPLOYMENT}` })).items[0]!.metadata!.name!;

    const calls = instanceCalls(kube, instanceTarget(unbound, pod));
    expect(await outcomes(calls)).toEqual(everyCall(403, Object.keys(calls)));

    // Through the activities, as a runbook started for that instance would call them.
    // The actions themselves, as the ServiceAccount: what RBAC allows, not what an approval allows (test/approval-trust.test.ts).
    const activities = createUnguardedActivities({ ...aws, kube, approvals, staging: directStagingArea(aws) });
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);
    expect(await outcome(run(() => activities.inspectApplication(unbound)))).toBe(403);
    expect(await outcome(run(() => activities.readWriters(unbound)))).toBe(403);
    expect(await outcome(run(() => activities.inspectDynamoDbClaim(unbound)))).toBe(403);
    // Fleet status lists the unbound instance among the others but reads nothing inside it.
    expect(await run(() => activities.listInstanceNamespaces())).toEqual(expect.arrayContaining([bound, unbound]));
    expect(await outcome(run(() => activities.readClaimStatus(unbound)))).toBe(403);
    expect(await outcome(run(() => activities.readApplicationStatus(unbound)))).toBe(403);
    const logs = await run(() => activities.collectDiagnostics({ bundleId: `rbac/${unbound}`, instance: unbound, collector: 'api-logs', limits: DEFAULT_DIAGNOSTIC_LIMITS }));
    expect({ status: logs.status, error: logs.error }).toEqual({ status: 'failed', error: expect.stringMatching(/\b403\b/) as unknown });
    // The bound instance's Application, one Role away in the same namespace, stays within reach.
    expect(await outcome(kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: argoApplicationName(bound) }))).toBe('allowed');
    // Nothing changed in the unbound instance.
    expect(await writersOf(aws.kube, unbound)).toEqual({ apiReplicas: 2, cronSuspended: false });
  }, 120_000);

  it('refuses with 403 every one of those calls in kube-system, reading its pods\' logs, and listing pods across namespaces', async () => {
    const kube = await asWorker();
    // kube-system as if it were an instance: the very names the worker may use in a bound one.
    const calls = instanceCalls(kube, instanceTarget('kube-system'));
    expect(await outcomes(calls)).toEqual(everyCall(403, Object.keys(calls)));
    // Any Deployment, any pod's log there (403 comes before the lookup: allowed but absent is 404).
    const anyTarget = instanceCalls(kube, { ...instanceTarget('kube-system'), deployment: 'coredns', pod: 'kube-proxy' });
    expect(await outcomes(anyTarget, ['scale Deployment', 'read pod log'])).toEqual({ 'scale Deployment': 403, 'read pod log': 403 });
    expect(await outcome(kube.core.listPodForAllNamespaces())).toBe(403);
    expect(await outcome(kube.apps.listDeploymentForAllNamespaces())).toBe(403);
    // Fleet status may list namespaces (names and labels), but not read one, nor list every Application or claim.
    expect(await outcome(kube.core.listNamespace({ labelSelector: 'virtualcoffee.io/instance' }))).toBe('allowed');
    expect(await outcome(kube.core.readNamespace({ name: 'kube-system' }))).toBe(403);
    expect(await outcome(kube.custom.listNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE }))).toBe(403);
    expect(await outcome(kube.custom.listClusterCustomObject({ ...DYNAMODB_CLAIM }))).toBe(403);
  });

  it('grants a new instance the access the seed grants with the command in deploy/instance-rbac.yaml, and revokes it with its delete', async () => {
    const instance = uniqueInstance('rbac-operator');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false, wait: false, workerAccess: false });
    const kube = await asWorker();
    const probe = instanceCalls(kube, instanceTarget(instance));
    const checked: CallName[] = ['get Deployment', 'get CronJob', 'get claim', 'get ConfigMap', 'list pods', 'get Application'];
    expect(await outcomes(probe, checked)).toEqual(everyCall(403, checked));

    // The operator's command as the file's header gives it, for this instance.
    const header = readFileSync(INSTANCE_RBAC_FILE, 'utf8');
    const apply = /^#\s+(sed .*\| kubectl apply -f -)$/m.exec(header)?.[1];
    expect(apply, 'deploy/instance-rbac.yaml gives the command that renders and applies it').toBeDefined();
    await shell(apply!.replace('<instance>', instance));
    for (const object of renderInstanceRbac(instance)) {
      const [group, version] = object.apiVersion.split('/') as [string, string];
      const plural = object.kind === 'Role' ? 'roles' : 'rolebindings';
      const stored = (await aws.kube.custom.getNamespacedCustomObject({ group, version, plural, namespace: object.metadata.namespace, name: object.metadata.name })) as typeof object;
      expect({ rules: stored.rules, roleRef: stored.roleRef, subjects: stored.subjects }).toEqual({ rules: object.rules, roleRef: object.roleRef, subjects: object.subjects });
      expect(JSON.stringify(stored)).not.toContain(INSTANCE_PLACEHOLDER);
    }
    // The API server's authorizer sees new bindings within moments.
    await untilOutcomes(() => outcomes(probe, checked), everyCall('allowed', checked));

    await shell(apply!.replace('<instance>', instance).replace('kubectl apply -f -', 'kubectl delete -f -'));
    await untilOutcomes(() => outcomes(probe, checked), everyCall(403, checked));
  }, 120_000);
});
