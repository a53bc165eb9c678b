/**
 * Worker Versioning on the real Temporal server (the dev server of CLI v1.5.1, server 1.29.1): a deploy
 * while a run waits for its approval. Build A's worker starts the run; build B's worker, with changed
 * workflow code (test-support/workflows/next-release.ts), joins the queue and is made current with the
 * command deploy/ROLLOUT.md gives. Pinned (the worker's default), the waiting run finishes on A and new
 * runs start on B; AutoUpgrade, the same run moves to B, whose code cannot replay it. A run started
 * before versioning (an unversioned worker) moves to the first version made current, as AutoUpgrade.
 * A diagnostic bundle, whose archive runs on a per-process unversioned queue, runs whole on its build.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { VersioningBehavior } from '@temporalio/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { buildApproval, waitForApprovalGate } from '../client/approvals';
import { startDiagnosticBundle } from '../client/runbooks';
import { approveUpdate } from '../common/runbook';
import type { RunbookResult } from '../common/runbook';
import { destructiveWorkflowId } from '../common/workflows';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approveAs, keys } from '../test-support/approvers';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import type { approvalDrill } from '../test-support/workflows/approval-drill';
import { createDrillActivities } from '../test-support/workflows/drill-activities';
import type { DrillSystem } from '../test-support/workflows/drill-activities';
import { NEXT_RELEASE } from '../test-support/workflows/next-release';

const exec = promisify(execFile);

// Enum values of Temporal's API (temporal.api.enums.v1), which @temporalio/client does not re-export.
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;
const VERSIONING_BEHAVIOR_PINNED = 1;

/**
 * One deployment for this file's runs: each run adds two versions with fresh build IDs (the server
 * removes the oldest drained ones past its limit of 100), where a deployment per run would pile up
 * toward the namespace's limit of 100 deployments on a long-lived stack.
 */
const DEPLOYMENT = 'vcp-runbooks-versioning-test';
const DRILL_STEPS = ['read', 'pause', 'read', 'change', 'resume'];

/** What each build's drill activities did, apart, so a test sees which build's activities ran. */
const systems = new Map<string, DrillSystem>();
const systemsOfB = new Map<string, DrillSystem>();
const aws = awsClients();
const drills = { workflows: 'drills' as const, extraActivities: createDrillActivities(systems) };
const drillsOfB = { extraActivities: createDrillActivities(systemsOfB) };
let nextRelease: { code: string };

type DrillResult = RunbookResult<{ inputs: Record<string, string> }> & { release?: string };

beforeAll(async () => {
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };
  nextRelease = await bundleWorkflowCode({ workflowsPath: path.join(__dirname, '..', 'test-support', 'workflows', 'next-release.ts'), logger: quiet });
});
afterAll(() => aws.close());

/** The temporal CLI of the stack, on its server, as an operator runs it. */
async function temporalCli(args: string[]): Promise<string> {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('TEMPORAL_CLI is not set: run the tests with `make test`');
  const { stdout } = await exec(cli, [...args, '--address', config.temporal.connection.address!, '--namespace', config.temporal.namespace]);
  return stdout;
}

/**
 * deploy/ROLLOUT.md's promotion step. The server learns a version from its workers' first polls, so
 * right after a worker starts the command may not find it yet: asked again for up to 30 s.
 */
async function setCurrentVersion(client: Client, taskQueue: string, buildId: string, extraFlags: string[] = []): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await temporalCli(['worker', 'deployment', 'set-current-version', '--deployment-name', DEPLOYMENT, '--build-id', buildId, '--yes', ...extraFlags]);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  // The task queue learns its routing from the deployment shortly after.
  while ((await currentBuildId(client, taskQueue)) !== buildId) {
    if (Date.now() > deadline) throw new Error(`${taskQueue} does not route to ${buildId} (it routes to ${await currentBuildId(client, taskQueue)})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function currentBuildId(client: Client, taskQueue: string): Promise<string | undefined> {
  const described = await client.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
  });
  return described.versioningInfo?.currentDeploymentVersion?.buildId ?? undefined;
}

async function startDrill(client: Client, taskQueue: string): Promise<{ instance: string; handle: WorkflowHandle<typeof approvalDrill> }> {
  const instance = uniqueInstance('versioned');
  const handle = await client.workflow.start<typeof approvalDrill>('approvalDrill', {
    taskQueue,
    workflowId: destructiveWorkflowId(instance),
    args: [{ instance, options: { requestedBy: { user: 'bob', via: 'test' } } }],
  });
  return { instance, handle };
}

/** The build ID of the worker that completed each workflow task, from the run's history. */
async function completedBy(handle: WorkflowHandle): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.deploymentVersion?.buildId ?? 'unversioned'] : []));
}

type WaitingRun = Awaited<ReturnType<typeof startDrill>> & { gate: Awaited<ReturnType<typeof waitForApprovalGate>> };

/** Build A's worker with a run of its own waiting for approval, then build B's beside it, made current. */
async function deployDuringApproval<T>(
  behavior: VersioningBehavior,
  afterDeploy: (ctx: { client: Client; taskQueue: string; waiting: WaitingRun; builds: { a: string; b: string } }) => Promise<T>,
): Promise<T> {
  const suffix = randomBytes(4).toString('hex');
  const builds = { a: `a-${suffix}`, b: `b-${suffix}` };
  return withWorker(
    async ({ client, taskQueue }) => {
      // The version current until now is an earlier run's B, whose queue (its worker long gone) A
      // does not poll: the CLI refuses to drop a queue unless told.
      await setCurrentVersion(client, taskQueue, builds.a, ['--ignore-missing-task-queues']);
      const started = await startDrill(client, taskQueue);
      const waiting = { ...started, gate: await waitForApprovalGate(started.handle) };
      return withWorker(
        async () => {
          try {
            await setCurrentVersion(client, taskQueue, builds.b);
            return await afterDeploy({ client, taskQueue, waiting, builds });
          } finally {
            // A run the test left open would wait on the stack for workers that are gone.
            await waiting.handle.terminate('test cleanup').catch(() => undefined);
          }
        },
        { ...drillsOfB, taskQueue, workflowBundle: nextRelease, versioning: { deploymentName: DEPLOYMENT, buildId: builds.b, defaultBehavior: behavior } },
      );
    },
    { ...drills, versioning: { deploymentName: DEPLOYMENT, buildId: builds.a, defaultBehavior: behavior } },
  );
}

describe('deploying while a run waits for approval (Worker Versioning, real Temporal server)', () => {
  it('a pinned run approved after a new build became current finishes on the build it started on; new runs start on the new build', async () => {
    await deployDuringApproval('PINNED', async ({ client, taskQueue, waiting, builds }) => {
      await approveAs(waiting.handle, 'alice');
      const result: DrillResult = await waiting.handle.result();
      expect(result.outcome).toBe('succeeded');
      // Build A's code ran it to the end: its step sequence on A's activities, no release marker, every task completed by A.
      expect(result.release).toBeUndefined();
      expect(systems.get(waiting.instance)?.calls).toEqual(DRILL_STEPS);
      expect(systemsOfB.get(waiting.instance)).toBeUndefined();
      const steps = await completedBy(waiting.handle);
      expect(steps.length).toBeGreaterThan(2);
      expect(new Set(steps)).toEqual(new Set([builds.a]));
      const versioning = (await waiting.handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
      expect(versioning?.behavior).toBe(VERSIONING_BEHAVIOR_PINNED);
      expect(versioning?.deploymentVersion).toMatchObject({ deploymentName: DEPLOYMENT, buildId: builds.a });

      const fresh = await startDrill(client, taskQueue);
      await waitForApprovalGate(fresh.handle);
      await approveAs(fresh.handle, 'alice');
      const freshResult: DrillResult = await fresh.handle.result();
      expect(freshResult.outcome).toBe('succeeded');
      expect(freshResult.release).toBe(NEXT_RELEASE);
      expect(systemsOfB.get(fresh.instance)?.calls).toEqual(['read', ...DRILL_STEPS]);
      expect(systems.get(fresh.instance)).toBeUndefined();
      expect(new Set(await completedBy(fresh.handle))).toEqual(new Set([builds.b]));
    });
  });

  it('without pinning (AutoUpgrade) the same run moves to the new build at its approval, and the new code cannot replay it', async () => {
    await deployDuringApproval('AUTO_UPGRADE', async ({ waiting, builds }) => {
      // Not even a query is answered now (B's code cannot replay the run): the plan digest is from
      // before the deploy. The approval is sent without waiting: B fails the task that carries it.
      const { planDigest } = waiting.gate.approval!;
      const { runId } = await waiting.handle.describe();
      const approval = buildApproval(waiting.handle.workflowId, runId, planDigest, { approver: 'alice', privateKey: keys.alice.privateKey, decision: 'approve' });
      const pending = waiting.handle.executeUpdate(approveUpdate, { args: [approval] }).catch((err: unknown) => err);
      const failure = await firstWorkflowTaskFailure(waiting.handle);
      expect(failure).toMatch(/nondetermin/i);
      // Nothing after the approval ran; A completed every task before the deploy.
      expect(systems.get(waiting.instance)?.calls).toEqual(['read', 'pause']);
      expect(new Set(await completedBy(waiting.handle))).toEqual(new Set([builds.a]));
      await waiting.handle.terminate('test: a run B cannot replay');
      await pending;
    });
  });
});

describe('a product runbook on a versioned worker', () => {
  it('a diagnostic bundle runs whole on its build: collectors, and the archive on the process\'s own unversioned staging queue', async () => {
    const instance = uniqueInstance('versioned-diag');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const buildId = `c-${randomBytes(4).toString('hex')}`;
    await withWorker(
      async ({ client, taskQueue, worker }) => {
        await setCurrentVersion(client, taskQueue, buildId, ['--ignore-missing-task-queues']);
        const handle = await startDiagnosticBundle(client, taskQueue, { instance, options: { requestedBy: { user: 'bob', via: 'test' } } });
        expect((await handle.result()).outcome).toBe('succeeded');
        expect(new Set(await completedBy(handle))).toEqual(new Set([buildId]));
        const { events } = await handle.fetchHistory();
        const archive = (events ?? []).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'buildDiagnosticArchive');
        expect(archive?.activityTaskScheduledEventAttributes?.taskQueue?.name).toBe(worker.stagingTaskQueue);
      },
      { versioning: { deploymentName: DEPLOYMENT, buildId } },
    );
  });
});

describe('the first versioned deploy (upgrading from unversioned workers)', () => {
  it('a run started on an unversioned worker moves to the first version made current at its next task, even while the unversioned worker still polls', async () => {
    const buildB = `b-${randomBytes(4).toString('hex')}`;
    await withWorker(async ({ client, taskQueue }) => {
      const started = await startDrill(client, taskQueue);
      const gate = await waitForApprovalGate(started.handle);
      await withWorker(
        async () => {
          try {
            await setCurrentVersion(client, taskQueue, buildB, ['--ignore-missing-task-queues']);
            const { runId } = await started.handle.describe();
            const approval = buildApproval(started.handle.workflowId, runId, gate.approval!.planDigest, { approver: 'alice', privateKey: keys.alice.privateKey, decision: 'approve' });
            const pending = started.handle.executeUpdate(approveUpdate, { args: [approval] }).catch((err: unknown) => err);
            expect(await firstWorkflowTaskFailure(started.handle)).toMatch(/nondetermin/i);
            expect(systems.get(started.instance)?.calls).toEqual(['read', 'pause']);
            expect(new Set(await completedBy(started.handle))).toEqual(new Set(['unversioned']));
            await started.handle.terminate('test: a run B cannot replay');
            await pending;
          } finally {
            await started.handle.terminate('test cleanup').catch(() => undefined);
          }
        },
        { ...drillsOfB, taskQueue, workflowBundle: nextRelease, versioning: { deploymentName: DEPLOYMENT, buildId: buildB } },
      );
    }, drills);
  });
});

/** The message of the run's first failed workflow task, waiting up to 30 s for one. */
async function firstWorkflowTaskFailure(handle: WorkflowHandle): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { events } = await handle.fetchHistory();
    const failed = (events ?? []).find((e) => e.workflowTaskFailedEventAttributes);
    if (failed) return failed.workflowTaskFailedEventAttributes?.failure?.message ?? '';
    if (Date.now() > deadline) throw new Error(`${handle.workflowId}: no workflow task failed within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
