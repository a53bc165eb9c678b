/**
 * The run-matching-job runbook's inputs, plan and result, and the pure parts: the Job built from the
 * CronJob's jobTemplate exactly as `kubectl create job --from=cronjob/<name>` builds it, its name
 * (derived from the run, so a retried create finds its own Job), and how a Job's state is read.
 * Pure code.
 */
import { sha256Hex } from './canonical';
import { InvalidInputError } from './instance';
import { MATCHING_CRONJOB } from './platform';
import type { RunbookOptions } from './runbook';

/** What kubectl marks a Job created from a CronJob by hand with. */
export const INSTANTIATE_ANNOTATION = 'cronjob.kubernetes.io/instantiate';
/** The run that created the Job (`<workflowId>/<runId>`), so a retry recognises its own. */
export const CREATED_BY_RUN_ANNOTATION = 'vcp-runbooks.io/created-by-run';
/** The label the Job controller puts on a Job's pods. */
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** At most this many log lines (and bytes) of the last pod are kept in the result. */
export const LOG_TAIL_LINES = 20;
export const LOG_TAIL_BYTES = 8192;

export interface RunMatchingJobInput {
  instance: string;
  reason?: string;
  options: RunbookOptions;
  /** How long to wait for the Job to complete. Default 10 minutes. */
  jobTimeoutMs?: number;
}

/** The parts of a CronJob the plan and the Job read (batch/v1). */
export interface CronJobObject {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec?: {
    suspend?: boolean;
    jobTemplate?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };
  };
}

/** The parts of a Job the plan and the wait read. */
export interface JobObject {
  metadata?: { name?: string; annotations?: Record<string, string>; ownerReferences?: { kind?: string; name?: string }[] };
  status?: { active?: number; succeeded?: number; failed?: number; conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

export interface MatchingJobPlan {
  instance: string;
  cronJob: { name: string; uid: string; suspended: boolean };
  /** The Job this run creates: `manual-matching-<hash of the run>`. */
  jobName: string;
  change: string;
}

/** What the create activity is asked to do; the approval guard checks it against the plan. */
export interface MatchingJobChange {
  instance: string;
  jobName: string;
  cronJobUid: string;
  /** `<workflowId>/<runId>`: recorded on the Job. */
  run: string;
}

export type JobOutcome = 'Complete' | 'Failed';

export interface MatchingJobReport {
  job: string;
  status: JobOutcome;
  succeeded: number;
  failed: number;
  /** The last pod's container exit code (status.containerStatuses[].state.terminated.exitCode). */
  exitCode?: number;
  pod?: string;
  /** The last pod's last lines, secrets redacted. */
  logTail: string[];
  reason?: string;
}

export interface RunMatchingJobDetails extends MatchingJobReport {
  cronJob: string;
  durationMs: number;
}

/** The run's Job name: the same for every attempt of one run, another for every other run. */
export function matchingJobName(runId: string): string {
  return `manual-matching-${sha256Hex(runId).slice(0, 10)}`;
}

/** Complete or Failed once the Job controller says so (a condition with status True), else undefined. */
export function jobOutcome(job: JobObject): JobOutcome | undefined {
  const done = (job.status?.conditions ?? []).find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  return done?.type as JobOutcome | undefined;
}

export function ownedByCronJob(job: JobObject, cronJob = MATCHING_CRONJOB): boolean {
  return (job.metadata?.ownerReferences ?? []).some((o) => o.kind === 'CronJob' && o.name === cronJob);
}

/** The CronJob's Jobs still running (concurrencyPolicy Forbid: no second one while one runs), except `own`. */
export function runningJobs(jobs: JobObject[], own?: string): string[] {
  return jobs
    .filter((j) => ownedByCronJob(j) && j.metadata?.name !== own && jobOutcome(j) === undefined)
    .map((j) => j.metadata?.name ?? '?')
    .sort();
}

/** The plan: the CronJob exists, no Job of it runs, and this run's Job name. */
export function planMatchingJob(instance: string, cronJob: CronJobObject | undefined, jobs: JobObject[], jobName: string, quiesced: boolean): MatchingJobPlan {
  if (!cronJob?.metadata?.uid) throw new InvalidInputError(`CronJob ${instance}/${MATCHING_CRONJOB} does not exist; nothing to run`);
  if (cronJob.metadata.deletionTimestamp) throw new InvalidInputError(`CronJob ${instance}/${MATCHING_CRONJOB} is being deleted; nothing to run`);
  if (quiesced) throw new InvalidInputError(`CronJob ${instance}/${MATCHING_CRONJOB} was suspended by a DynamoDB recovery that has not restored it; finish that first`);
  const running = runningJobs(jobs, jobName);
  if (running.length > 0) throw new InvalidInputError(`a Job of ${MATCHING_CRONJOB} is already running (${running.join(', ')}); wait for it (concurrencyPolicy Forbid)`);
  return {
    instance,
    cronJob: { name: MATCHING_CRONJOB, uid: cronJob.metadata.uid, suspended: Boolean(cronJob.spec?.suspend) },
    jobName,
    change: `kubectl create job --from=cronjob/${MATCHING_CRONJOB} -n ${instance} ${jobName}`,
  };
}

/** The Job `kubectl create job --from=cronjob/...` creates: the jobTemplate, marked manual, owned by the CronJob. */
export function jobFromCronJob(cronJob: CronJobObject, jobName: string, run: string) {
  const template = cronJob.spec?.jobTemplate ?? {};
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName,
      namespace: cronJob.metadata?.namespace,
      labels: template.metadata?.labels ?? {},
      annotations: { ...(template.metadata?.annotations ?? {}), [INSTANTIATE_ANNOTATION]: 'manual', [CREATED_BY_RUN_ANNOTATION]: run },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cronJob.metadata?.name ?? MATCHING_CRONJOB, uid: cronJob.metadata?.uid ?? '', controller: true }],
    },
    spec: template.spec ?? {},
  };
}

/** The last `LOG_TAIL_LINES` lines of a log, at most `LOG_TAIL_BYTES` characters. */
export function logTail(log: string): string[] {
  const lines = log.split('\n').filter((l) => l.length > 0).slice(-LOG_TAIL_LINES);
  let total = 0;
  const kept: string[] = [];
  for (const line of [...lines].reverse()) {
    total += line.length + 1;
    if (total > LOG_TAIL_BYTES) break;
    kept.unshift(line);
  }
  return kept;
}
