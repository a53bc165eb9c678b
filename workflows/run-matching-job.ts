/**
 * The guide's `kubectl create job --from=cronjob/virtual-coffee-matching-cronjob -n <instance>
 * manual-matching`: plan (the CronJob exists, none of its Jobs runs), approval (the Job writes
 * matches), the run's own Job, and a wait for it to complete, with its exit code and log tail. A
 * Job that fails fails the run: the matches were not written, which is what the operator must see
 * (the exit code and log tail are in the failure's message and details).
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { matchingJobName, planMatchingJob } from '../common/matching-job-plan';
import type { MatchingJobPlan, MatchingJobReport, RunMatchingJobDetails, RunMatchingJobInput } from '../common/matching-job-plan';
import { validateReason } from '../common/rollback';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const RUN_MATCHING_JOB_STEPS = [
  { name: 'read', title: 'Read the matching CronJob and its Jobs' },
  { name: 'approve', title: 'Approval' },
  { name: 'create', title: 'kubectl create job --from=cronjob/virtual-coffee-matching-cronjob' },
  { name: 'wait', title: 'Wait for the Job to complete' },
] as const;

interface RunMatchingJob {
  runbook: Runbook<StepsOf<typeof RUN_MATCHING_JOB_STEPS>>;
  instance: string;
  timeoutMs: number;
  run: string;
}

export async function runMatchingJob(input: RunMatchingJobInput): Promise<RunbookResult<RunMatchingJobDetails>> {
  const m = setup(input);
  return m.runbook.run(async () => {
    const seen = await m.runbook.step('read', () => activity('readMatchingCronJob', 'Read the matching CronJob and its Jobs')(m.instance));
    const plan = validateInput(() => planMatchingJob(m.instance, seen.cronJob, seen.jobs, matchingJobName(workflowInfo().runId), seen.quiesced));
    await m.runbook.step('approve', () => m.runbook.approve(plan));
    const started = Date.now();
    await createJob(m, plan);
    const report = await waitForJob(m, plan);
    return { ...report, cronJob: plan.cronJob.name, durationMs: Date.now() - started };
  });
}

function setup(input: RunMatchingJobInput): RunMatchingJob {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const reason = input.reason === undefined ? undefined : validateInput(() => validateReason(input.reason));
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.runMatchingJob,
    title: 'Run the matching job',
    instance,
    options: { ...input.options, reason },
    // The Job writes the instance's matches: one such change per instance at a time (never during a DynamoDB recovery).
    destructive: true,
    startInput: input,
    steps: RUN_MATCHING_JOB_STEPS,
  });
  return { runbook, instance, timeoutMs: input.jobTimeoutMs ?? 10 * 60 * 1000, run: `${info.workflowId}/${info.runId}` };
}

async function createJob(m: RunMatchingJob, plan: MatchingJobPlan): Promise<void> {
  await m.runbook.step('create', async () => {
    const { created } = await activity('createMatchingJob', plan.change)({
      instance: m.instance,
      jobName: plan.jobName,
      cronJobUid: plan.cronJob.uid,
      run: m.run,
      approval: m.runbook.approvalEvidence(),
    });
    m.runbook.recordChange({ object: `jobs.batch/${m.instance}/${plan.jobName}`, action: `create from cronjob/${plan.cronJob.name}${created ? '' : ' (found, created by an earlier attempt)'}` });
  });
}

function pollJob(timeoutMs: number, summary: string): Activities['checkMatchingJob'] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 1, maximumInterval: '2 seconds', nonRetryableErrorTypes: ['JobNotFound'] },
  }).checkMatchingJob;
}

async function waitForJob(m: RunMatchingJob, plan: MatchingJobPlan): Promise<MatchingJobReport> {
  const report = await m.runbook.step('wait', async () => {
    try {
      return await pollJob(m.timeoutMs, `Wait for Job ${plan.jobName}`)({ instance: m.instance, jobName: plan.jobName });
    } catch (err) {
      let why = err instanceof Error ? err.message : String(err);
      if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
        const seen = (err.cause.lastHeartbeatDetails as { waitingFor?: string } | undefined)?.waitingFor;
        why = `not finished within ${Math.round(m.timeoutMs / 1000)}s${seen ? ` (${seen})` : ''}`;
      } else if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
        why = err.cause.message;
      }
      throw ApplicationFailure.create({ type: 'MatchingJobNotFinished', message: `Job ${m.instance}/${plan.jobName}: ${why}; it may still run`, nonRetryable: true });
    }
  });
  m.runbook.note(`Job ${report.job}: ${report.status}, exit code ${report.exitCode ?? 'unknown'}`);
  if (report.status === 'Failed') {
    throw ApplicationFailure.create({
      type: 'MatchingJobFailed',
      message:
        `Job ${m.instance}/${report.job} failed (${report.reason ?? 'Failed'}), ${report.failed} failed pod(s), exit code ${report.exitCode ?? 'unknown'}` +
        (report.logTail.length > 0 ? `; last log line: ${report.logTail.at(-1)}` : ''),
      nonRetryable: true,
      details: [report],
    });
  }
  return report;
}
