/**
 * The run-matching-job runbook on the real Temporal server and API server: the Job controller of the
 * real kube-controller-manager runs the Job on kwok pods (which complete, or fail with exit code 1
 * when the pod template is annotated job-fails: scripts/stack/kube/kwok-stages.yaml), the pod-log
 * simulator gives them logs.
 */
import type { V1Job } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMatchingJobActivities } from '../activities/kubernetes/matching-job';
import { getOrUndefined, MERGE_PATCH } from '../activities/kubernetes/client';
import { startRunMatchingJob } from '../client/runbooks';
import { INSTANTIATE_ANNOTATION, JOB_NAME_LABEL, matchingJobName, ownedByCronJob } from '../common/matching-job-plan';
import type { JobObject, MatchingJobReport, RunMatchingJobDetails, RunMatchingJobInput } from '../common/matching-job-plan';
import { MATCHING_CRONJOB } from '../common/platform';
import type { RunbookResult } from '../common/runbook';
import { JOB_FAILS_ANNOTATION, LOG_FAULTS_ANNOTATION } from '../platform-sim/platform-repo';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { kube } = aws;
const tiny = { users: 2, matches: 1, feedback: 1 };
const workerOptions = { overrides: { approvals } };

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string): RunMatchingJobInput {
  return { instance, reason: 'no matches this week', options: { requestedBy: { user: 'bob', via: 'test' } }, jobTimeoutMs: 120_000 };
}

async function cronJobsJobs(instance: string): Promise<V1Job[]> {
  return (await kube.batch.listNamespacedJob({ namespace: instance })).items.filter((j) => ownedByCronJob(j as JobObject));
}

function failureMessages(err: unknown): string {
  let out = '';
  for (let e: unknown = err; e instanceof Error; e = e.cause) out += `${e.name}: ${e.message}\n`;
  return out;
}

/** The failure's details as the workflow's failure carries them (the cause chain down to the runbook's own). */
function failureDetails(err: unknown): unknown[] {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof ApplicationFailure && e.type === 'MatchingJobFailed') return [...(e.details ?? [])];
  return [];
}

async function approved(handle: WorkflowHandle): Promise<RunbookResult<RunMatchingJobDetails>> {
  await awaitApprovalGate(handle);
  await approveAs(handle, 'alice', 'approve', 'run it');
  return (await handle.result()) as RunbookResult<RunMatchingJobDetails>;
}

describe('run-matching-job runbook', () => {
  it('an approved run creates the Job from the CronJob as kubectl does, waits for it, and reports status, exit code 0 and the redacted log tail', async () => {
    const instance = uniqueInstance('mj-ok');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const cron = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });

    const { result, runId } = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRunMatchingJob(client, taskQueue, input(instance));
      return { result: await approved(handle), runId: handle.firstExecutionRunId };
    }, workerOptions);

    expect(result.outcome).toBe('succeeded');
    const jobName = matchingJobName(runId);
    expect(result.details).toMatchObject({ job: jobName, cronJob: MATCHING_CRONJOB, status: 'Complete', succeeded: 1, failed: 0, exitCode: 0 });
    expect(result.details!.logTail).toContain('INFO  matching job finished');
    const job = await kube.batch.readNamespacedJob({ name: jobName, namespace: instance });
    expect(job.metadata?.annotations?.[INSTANTIATE_ANNOTATION]).toBe('manual');
    expect(job.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'CronJob', name: MATCHING_CRONJOB, uid: cron.metadata!.uid, controller: true })]);
    expect(job.spec?.template.spec?.containers).toEqual(cron.spec!.jobTemplate.spec!.template.spec!.containers);
    expect(await cronJobsJobs(instance)).toHaveLength(1);
    expect(result.audit.changes).toEqual([expect.objectContaining({ object: `jobs.batch/${instance}/${jobName}` })]);
  }, 240_000);

  it('a Job that fails fails the run, naming exit code 1 and its last log line; the details carry the status, counts and the log tail', async () => {
    const instance = uniqueInstance('mj-fail');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    await kube.batch.patchNamespacedCronJob(
      { name: MATCHING_CRONJOB, namespace: instance, body: { spec: { jobTemplate: { spec: { template: { metadata: { annotations: { [JOB_FAILS_ANNOTATION]: 'true', [LOG_FAULTS_ANNOTATION]: 'matching-failure' } } } } } } } },
      MERGE_PATCH,
    );

    const err = await withWorker(async ({ client, taskQueue }) => approved(await startRunMatchingJob(client, taskQueue, input(instance))).catch((e: unknown) => e), workerOptions);

    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureMessages(err)).toMatch(/Job .*\/manual-matching-[0-9a-f]{10} failed \(BackoffLimitExceeded.*\), 2 failed pod\(s\), exit code 1; last log line: FATAL exiting with code 1/);
    const [report] = failureDetails(err) as MatchingJobReport[];
    expect(report).toMatchObject({ status: 'Failed', succeeded: 0, failed: 2, exitCode: 1 });
    expect(report!.logTail).toContainEqual(expect.stringMatching(/^ERROR matching failed: no active users table/));
    const [job] = await cronJobsJobs(instance);
    expect(job?.status?.conditions?.find((c) => c.type === 'Failed')?.status).toBe('True');
  }, 240_000);

  it('refuses while a Job of the CronJob runs, naming it, and when the CronJob does not exist, creating no Job', async () => {
    const instance = uniqueInstance('mj-refuse');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const cron = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
    // A scheduled run still going: a Job of the CronJob, held suspended so it never finishes.
    const running = 'virtual-coffee-matching-cronjob-29400000';
    await kube.batch.createNamespacedJob({
      namespace: instance,
      body: {
        metadata: { name: running, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: MATCHING_CRONJOB, uid: cron.metadata!.uid!, controller: true }] },
        spec: { suspend: true, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'matching', image: 'example.invalid/matching:1' }] } } },
      },
    });

    await withWorker(async ({ client, taskQueue }) => {
      const busy = await startRunMatchingJob(client, taskQueue, input(instance));
      const err = await busy.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(failureMessages(err)).toContain(`a Job of ${MATCHING_CRONJOB} is already running (${running}); wait for it (concurrencyPolicy Forbid)`);
      expect((await cronJobsJobs(instance)).map((j) => j.metadata?.name)).toEqual([running]);

      await kube.batch.deleteNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance, propagationPolicy: 'Orphan' });
      // Orphaning its Jobs keeps the CronJob (being deleted) until the garbage collector is done.
      for (let i = 0; i < 60 && (await getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }))); i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const missing = await startRunMatchingJob(client, taskQueue, input(instance));
      const gone = await missing.result().catch((e: unknown) => e);
      expect(failureMessages(gone)).toContain(`CronJob ${instance}/${MATCHING_CRONJOB} does not exist; nothing to run`);
    }, workerOptions);
    expect((await kube.batch.listNamespacedJob({ namespace: instance })).items.map((j) => j.metadata?.name)).toEqual([running]);
  }, 240_000);

  it('a rejected approval creates no Job', async () => {
    const instance = uniqueInstance('mj-reject');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startRunMatchingJob(client, taskQueue, input(instance));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'carol', 'reject', 'matching runs on Monday anyway');
      return (await handle.result());
    }, workerOptions);
    expect(result.outcome).toBe('rejected');
    expect(await cronJobsJobs(instance)).toEqual([]);
  }, 240_000);

  it('the create is idempotent: a retried attempt of the same run finds its Job and creates no second; another run\'s name is refused', async () => {
    const instance = uniqueInstance('mj-idem');
    await seedForTest(instance, { sizes: tiny, automatedSync: false });
    const cron = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
    const activities = createMatchingJobActivities({ kube });
    const env = new MockActivityEnvironment();
    const jobName = matchingJobName('run-1');
    const change = { instance, jobName, cronJobUid: cron.metadata!.uid!, run: 'destructive/x/run-1' };

    expect(await env.run(() => activities.createMatchingJob(change))).toEqual({ job: jobName, created: true });
    const first = await kube.batch.readNamespacedJob({ name: jobName, namespace: instance });
    expect(await env.run(() => activities.createMatchingJob(change))).toEqual({ job: jobName, created: false });
    const again = await kube.batch.readNamespacedJob({ name: jobName, namespace: instance });
    expect(again.metadata?.uid).toBe(first.metadata?.uid);
    expect((await cronJobsJobs(instance)).map((j) => j.metadata?.name)).toEqual([jobName]);
    const pods = await kube.core.listNamespacedPod({ namespace: instance, labelSelector: `${JOB_NAME_LABEL}=${jobName}` });
    expect(pods.items.length).toBeLessThanOrEqual(1);

    const taken = await env.run(() => activities.createMatchingJob({ ...change, run: 'destructive/x/run-2' })).catch((e: unknown) => e);
    expect(taken).toMatchObject({ type: 'JobNameTaken', message: `Job ${instance}/${jobName} exists and was not created by this run` });
  }, 240_000);
});
