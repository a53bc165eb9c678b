/**
 * The restart runbook on the real Temporal server and the real API server, whose
 * kube-controller-manager rolls Deployments onto kwok pods that become Ready: a restart really rolls
 * a new ReplicaSet. Also `runbook approve` started before the run reaches its gate (it waits).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { V1Deployment } from '@kubernetes/client-node';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EXIT } from '../client/cli';
import { startRestart } from '../client/runbooks';
import { parseApprovalConfig } from '../common/approval-config';
import { API_DEPLOYMENT, FRONTEND_DEPLOYMENT } from '../common/platform';
import { CROSSPLANE_NAMESPACE, RESTARTED_AT_ANNOTATION } from '../common/restart-plan';
import type { RestartDetails, RestartInput } from '../common/restart-plan';
import type { RunbookResult } from '../common/runbook';
import type { RestartTarget } from '../common/triage';
import { MERGE_PATCH } from '../activities/kubernetes/client';
import { CRASH_LOOP_ANNOTATION } from '../platform-sim/platform-repo';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate, keys } from '../test-support/approvers';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const exec = promisify(execFile);
const aws = awsClients();
const { kube } = aws;
const tiny = { users: 2, matches: 1, feedback: 1 };
const workerOptions = { overrides: { approvals } };

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, target: RestartTarget): RestartInput {
  return { instance, target, reason: 'pods stuck after a config change', options: { requestedBy: { user: 'bob', via: 'test' } }, rolloutTimeoutMs: 120_000 };
}

function readDeployment(namespace: string, name: string): Promise<V1Deployment> {
  return kube.apps.readNamespacedDeployment({ name, namespace });
}

/** What a restart could change on a Deployment. */
function restartView(d: V1Deployment) {
  return { generation: d.metadata?.generation, template: d.spec?.template, replicas: d.spec?.replicas };
}

async function replicaSetsOf(d: V1Deployment): Promise<Record<string, number>> {
  const sets = await kube.apps.listNamespacedReplicaSet({ namespace: d.metadata!.namespace! });
  return Object.fromEntries(
    sets.items.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid)).map((rs) => [rs.metadata!.name!, rs.status?.replicas ?? 0]),
  );
}

function failureMessages(err: unknown): string {
  let out = '';
  for (let e: unknown = err; e instanceof Error; e = e.cause) out += `${e.name}: ${e.message}\n`;
  return out;
}

async function approved(handle: WorkflowHandle): Promise<RunbookResult<RestartDetails>> {
  await awaitApprovalGate(handle);
  await approveAs(handle, 'alice', 'approve', 'restart it');
  return (await handle.result()) as RunbookResult<RestartDetails>;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(v)})`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('restart runbook', () => {
  it('an approved restart of the API rolls a new ReplicaSet, scales the old one to 0 and verifies the Deployment available', async () => {
    const instance = uniqueInstance('rs-api');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const before = await readDeployment(instance, API_DEPLOYMENT);

    const result = await withWorker(async ({ client, taskQueue }) => approved(await startRestart(client, taskQueue, input(instance, 'api'))), workerOptions);

    expect(result.outcome).toBe('succeeded');
    const details = result.details!;
    const after = await readDeployment(instance, API_DEPLOYMENT);
    expect(after.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBe(details.restartedAt);
    expect(after.metadata?.generation).toBe(before.metadata!.generation! + 1);
    expect(details).toMatchObject({ deployment: API_DEPLOYMENT, namespace: instance, before: { generation: before.metadata!.generation }, after: { generation: after.metadata!.generation } });
    expect(details.after.replicaSet).toBeDefined();
    expect(details.after.replicaSet).not.toBe(details.before.replicaSet);
    const sets = await replicaSetsOf(after);
    expect(sets[details.before.replicaSet!]).toBe(0);
    expect(sets[details.after.replicaSet!]).toBe(2);
    expect(after.status).toMatchObject({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
    expect(after.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    expect(details.durationsMs.rollout).toBeGreaterThan(0);
    // Nothing else of the template changed: only the restart annotation.
    const { [RESTARTED_AT_ANNOTATION]: _restartedAt, ...otherAnnotations } = after.spec!.template.metadata!.annotations!;
    expect({ ...after.spec!.template, metadata: { ...after.spec!.template.metadata, annotations: otherAnnotations } }).toEqual(before.spec!.template);
    expect(result.audit.approvals).toEqual([expect.objectContaining({ approver: 'alice', signatureVerified: true })]);
    expect(result.audit.changes).toEqual([expect.objectContaining({ object: `deployments.apps/${instance}/${API_DEPLOYMENT}`, before: null, after: details.restartedAt })]);
  }, 240_000);

  it('refuses while a rollout is in progress (a new template whose pods never become ready), before asking for approval, patching nothing', async () => {
    const instance = uniqueInstance('rs-busy');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    // A real rollout held in progress: the new template's pods crash-loop, so the controller keeps
    // the old pods (maxUnavailable rounds to 0 of 2) and waits for the new one for 10 minutes.
    await kube.apps.patchNamespacedDeployment(
      { name: API_DEPLOYMENT, namespace: instance, body: { spec: { template: { metadata: { annotations: { [CRASH_LOOP_ANNOTATION]: 'true' } } } } } },
      MERGE_PATCH,
    );
    const held = await until(
      'the rollout to be under way',
      () => readDeployment(instance, API_DEPLOYMENT),
      (d) => d.status?.observedGeneration === d.metadata?.generation && (d.status?.updatedReplicas ?? 0) >= 1,
    );

    const err = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRestart(client, taskQueue, input(instance, 'api'));
      return handle.result().catch((e: unknown) => e);
    }, workerOptions);

    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureMessages(err)).toMatch(new RegExp(`a rollout is in progress, not restarting: Deployment ${instance}/${API_DEPLOYMENT}: `));
    const after = await readDeployment(instance, API_DEPLOYMENT);
    expect(restartView(after)).toEqual(restartView(held));
    expect(after.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBeUndefined();
  }, 240_000);

  it('re-checks after the approval: a rollout started while it waited fails the run, and the restart patches nothing', async () => {
    const instance = uniqueInstance('rs-late');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });

    const { err, changed } = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRestart(client, taskQueue, input(instance, 'api'));
      await awaitApprovalGate(handle);
      // While the approver reads the plan, someone deploys a new template (its pods never become ready).
      await kube.apps.patchNamespacedDeployment(
        { name: API_DEPLOYMENT, namespace: instance, body: { spec: { template: { metadata: { annotations: { [CRASH_LOOP_ANNOTATION]: 'true' } } } } } },
        MERGE_PATCH,
      );
      const changed = await until('the new rollout to be observed', () => readDeployment(instance, API_DEPLOYMENT), (d) => d.status?.observedGeneration === d.metadata?.generation);
      await approveAs(handle, 'alice', 'approve', 'restart it');
      return { err: await handle.result().catch((e: unknown) => e), changed };
    }, workerOptions);

    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureMessages(err)).toMatch(new RegExp(`a rollout started after the approval, not restarting: Deployment ${instance}/${API_DEPLOYMENT}: `));
    const after = await readDeployment(instance, API_DEPLOYMENT);
    expect(restartView(after)).toEqual(restartView(changed));
    expect(after.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBeUndefined();
  }, 240_000);

  it('a rejected approval changes nothing', async () => {
    const instance = uniqueInstance('rs-reject');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const before = await readDeployment(instance, FRONTEND_DEPLOYMENT);
    const setsBefore = await replicaSetsOf(before);

    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRestart(client, taskQueue, input(instance, 'frontend'));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'carol', 'reject', 'not now');
      return (await handle.result());
    }, workerOptions);

    expect(result.outcome).toBe('rejected');
    expect(result.audit.changes).toEqual([]);
    const after = await readDeployment(instance, FRONTEND_DEPLOYMENT);
    expect(restartView(after)).toEqual(restartView(before));
    expect(await replicaSetsOf(after)).toEqual(setsBefore);
  }, 240_000);

  it('restarts the AWS provider\'s Deployment in crossplane-system under the provider\'s own lock', async () => {
    // The stack runs provider-aws as a process beside the API server, not as a Deployment: this test
    // creates a Deployment named as Crossplane's package manager names it (provider-aws-<hash>), whose
    // kwok pods become Ready, so the runbook finds, restarts and verifies a real rollout.
    const name = `provider-aws-${randomBytes(6).toString('hex')}`;
    const labels = { 'pkg.crossplane.io/provider': name };
    await kube.apps.createNamespacedDeployment({
      namespace: CROSSPLANE_NAMESPACE,
      body: { metadata: { name }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'package-runtime', image: 'xpkg.upbound.io/crossplane-contrib/provider-aws:v0.0.0' }] } } } },
    });
    onTestFinished(() => kube.apps.deleteNamespacedDeployment({ name, namespace: CROSSPLANE_NAMESPACE }).then(() => undefined));
    await until('the provider Deployment to be available', () => readDeployment(CROSSPLANE_NAMESPACE, name), (d) => d.status?.availableReplicas === 1);
    const instance = uniqueInstance('rs-provider');

    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRestart(client, taskQueue, input(instance, 'provider-aws'));
      expect(handle.workflowId).toBe('shared/provider-aws');
      return approved(handle);
    }, workerOptions);

    expect(result.outcome).toBe('succeeded');
    expect(result.details).toMatchObject({ deployment: name, namespace: CROSSPLANE_NAMESPACE });
    expect(result.details!.after.replicaSet).not.toBe(result.details!.before.replicaSet);
    const after = await readDeployment(CROSSPLANE_NAMESPACE, name);
    expect(after.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBe(result.details!.restartedAt);
    expect(after.status).toMatchObject({ replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
  }, 240_000);
});

describe('runbook approve before the approval gate', () => {
  const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-restart-keys-'));
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await exec(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], { env: { ...process.env, VCP_KEY_DIR: keyDir, NODE_NO_WARNINGS: '1' } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('waits until the run asks for approval, then approves; gives up with exit 7 after --wait', async () => {
    const alice = JSON.parse((await cli(['keys', 'init', '--as', 'alice', '-o', 'json'])).stdout) as { publicKey: string };
    // Alice approves with the CLI's key; bob requests with the test key the client signs starts with.
    const cliApprovals = parseApprovalConfig({
      approvers: [
        { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
        { user: 'bob', groups: ['developers'], publicKey: keys.bob.publicKey },
      ],
      policies: { default: { approvers: { groups: ['sre'] } } },
    });
    const instance = uniqueInstance('rs-wait');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const { client, close } = await temporalClient();
    onTestFinished(close);
    // No worker polls this queue yet: the run cannot reach its gate until one does.
    const taskQueue = `test-${randomBytes(6).toString('hex')}`;

    // The bound: nothing answers within 2 s.
    const waiting = await startRestart(client, taskQueue, input(instance, 'frontend'));
    const asked = Date.now();
    const gaveUp = await cli(['approve', waiting.workflowId, '--as', 'alice', '--wait', '2s']);
    expect(gaveUp.code).toBe(EXIT.gateNotReached);
    // The bound holds although no worker answers the progress query (process start-up included).
    expect(Date.now() - asked).toBeLessThan(15_000);
    expect(gaveUp.stderr).toMatch(new RegExp(`${waiting.workflowId} did not reach its approval gate within 2000 ms`));

    // Approve first, then the worker starts: the approval waits for the gate and lands.
    const approval = cli(['approve', waiting.workflowId, '--as', 'alice', '--wait', '90s', '--comment', 'go']);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const result = await withWorker(async () => {
      const done = await approval;
      expect(done.code, done.stderr).toBe(EXIT.ok);
      expect(done.stdout).toMatch(/approved by alice .*; approval is now approved/);
      return (await waiting.result());
    }, { taskQueue, overrides: { approvals: cliApprovals } });
    expect(result.outcome).toBe('succeeded');
    expect(result.audit.approvals).toEqual([expect.objectContaining({ approver: 'alice', comment: 'go' })]);
  }, 240_000);
});
