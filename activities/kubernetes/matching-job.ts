/**
 * The matching CronJob's manual run (the guide's `kubectl create job --from=cronjob/...`): read the
 * CronJob and its Jobs for the plan, create the run's own Job, and poll it to completion with its
 * last pod's exit code and log tail.
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined, isConflict } from './client';
import { apiPath } from './raw';
import { RESTORE_ANNOTATIONS } from './restore-annotations';
import { notYet } from '../not-ready';
import {
  CREATED_BY_RUN_ANNOTATION,
  JOB_NAME_LABEL,
  jobFromCronJob,
  jobOutcome,
  LOG_TAIL_BYTES,
  LOG_TAIL_LINES,
  logTail,
  ownedByCronJob,
  runningJobs,
} from '../../common/matching-job-plan';
import type { CronJobObject, JobObject, MatchingJobChange, MatchingJobReport } from '../../common/matching-job-plan';
import { MATCHING_CRONJOB } from '../../common/platform';
import { redactText } from '../../common/redact';

/** How long after a Job's end its last pod's log may still be missing before it is reported so. */
const LOG_GRACE_MS = 20_000;

function refuse(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

export function createMatchingJobActivities({ kube }: { kube: KubeClients }) {
  const readCronJob = (instance: string) => getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }));

  async function lastPod(instance: string, jobName: string): Promise<V1Pod | undefined> {
    const pods = (await kube.core.listNamespacedPod({ namespace: instance, labelSelector: `${JOB_NAME_LABEL}=${jobName}` })).items;
    const created = (p: V1Pod) => (p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : 0);
    return pods.sort((a, b) => created(a) - created(b)).at(-1);
  }

  /** The pod's last lines; a log not readable yet is waited for a little (the kubelet may lag the pod's end), then reported missing. */
  async function podLogTail(instance: string, pod: V1Pod, endedAt: Date | undefined): Promise<string[]> {
    const name = pod.metadata?.name ?? '';
    try {
      const log = await kube.raw.text(apiPath('api/v1', 'namespaces', instance, 'pods', name, 'log'), { tailLines: LOG_TAIL_LINES, limitBytes: LOG_TAIL_BYTES });
      return logTail(redactText(log));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (endedAt && Date.now() - endedAt.getTime() < LOG_GRACE_MS) throw notYet(`the Job ended; waiting for pod ${name}'s log (${message})`);
      return [`(no log: ${message})`];
    }
  }

  return {
    /** What the plan reads: the CronJob (undefined when it does not exist), its Jobs, and whether a recovery quiesced it. */
    async readMatchingCronJob(instance: string): Promise<{ cronJob?: CronJobObject; jobs: JobObject[]; quiesced: boolean }> {
      const cron = await readCronJob(instance);
      const jobs = (await kube.batch.listNamespacedJob({ namespace: instance })).items.filter((j) => ownedByCronJob(j as JobObject));
      return {
        cronJob: cron
          ? {
              metadata: { name: cron.metadata?.name, namespace: instance, uid: cron.metadata?.uid, annotations: cron.metadata?.annotations, deletionTimestamp: cron.metadata?.deletionTimestamp?.toISOString() },
              spec: { suspend: cron.spec?.suspend },
            }
          : undefined,
        jobs: jobs.map((j) => ({
          metadata: { name: j.metadata?.name, annotations: j.metadata?.annotations, ownerReferences: j.metadata?.ownerReferences?.map((o) => ({ kind: o.kind, name: o.name })) },
          status: { active: j.status?.active, succeeded: j.status?.succeeded, failed: j.status?.failed, conditions: j.status?.conditions?.map((c) => ({ type: c.type, status: c.status, reason: c.reason })) },
        })),
        quiesced: cron?.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedSuspend] !== undefined,
      };
    },

    /**
     * Creates the run's Job from the CronJob's jobTemplate, as kubectl does. Idempotent: a retry finds
     * the Job it created (by name and the run recorded on it) and creates no second one; a Job of that
     * name from another run, another CronJob UID, or another Job of the CronJob running refuses.
     */
    async createMatchingJob(change: MatchingJobChange): Promise<{ job: string; created: boolean }> {
      const { instance, jobName } = change;
      const existing = await getOrUndefined(kube.batch.readNamespacedJob({ name: jobName, namespace: instance }));
      if (existing) {
        if (existing.metadata?.annotations?.[CREATED_BY_RUN_ANNOTATION] === change.run) return { job: jobName, created: false };
        throw refuse('JobNameTaken', `Job ${instance}/${jobName} exists and was not created by this run`);
      }
      const cron = await readCronJob(instance);
      if (!cron || cron.metadata?.uid !== change.cronJobUid || cron.metadata.deletionTimestamp) throw refuse('PlanNoLongerHolds', `CronJob ${instance}/${MATCHING_CRONJOB} (uid ${change.cronJobUid}) no longer exists; start a new run`);
      const jobs = (await kube.batch.listNamespacedJob({ namespace: instance })).items as JobObject[];
      const running = runningJobs(jobs, jobName);
      if (running.length > 0) throw refuse('JobAlreadyRunning', `a Job of ${MATCHING_CRONJOB} is already running (${running.join(', ')}); wait for it (concurrencyPolicy Forbid)`);
      const body = jobFromCronJob({ metadata: { name: cron.metadata?.name, namespace: instance, uid: cron.metadata?.uid }, spec: cron.spec as CronJobObject['spec'] }, jobName, change.run);
      try {
        await kube.batch.createNamespacedJob({ namespace: instance, body: body as never });
        return { job: jobName, created: true };
      } catch (err) {
        // Created by an earlier attempt whose answer was lost: the next attempt finds it above.
        if (isConflict(err)) throw ApplicationFailure.create({ type: 'Conflict', message: `Job ${instance}/${jobName} appeared meanwhile; reading it again`, cause: err as Error });
        throw err;
      }
    },

    /** Polled: "not yet" until the Job is Complete or Failed; then its counts, last pod's exit code and log tail. */
    async checkMatchingJob(input: { instance: string; jobName: string }): Promise<MatchingJobReport> {
      const job = await getOrUndefined(kube.batch.readNamespacedJob({ name: input.jobName, namespace: input.instance }));
      if (!job) throw refuse('JobNotFound', `Job ${input.instance}/${input.jobName} disappeared while it ran`);
      const status = jobOutcome(job);
      if (!status) {
        const waiting = `Job ${input.jobName}: ${job.status?.active ?? 0} active, ${job.status?.succeeded ?? 0} succeeded, ${job.status?.failed ?? 0} failed`;
        heartbeat({ waitingFor: waiting });
        throw notYet(waiting);
      }
      const pod = await lastPod(input.instance, input.jobName);
      const exitCode = (pod?.status?.containerStatuses ?? []).map((c) => c.state?.terminated?.exitCode).find((c) => c !== undefined);
      const condition = (job.status?.conditions ?? []).find((c) => c.type === status);
      return {
        job: input.jobName,
        status,
        succeeded: job.status?.succeeded ?? 0,
        failed: job.status?.failed ?? 0,
        exitCode,
        pod: pod?.metadata?.name,
        logTail: pod ? await podLogTail(input.instance, pod, condition?.lastTransitionTime ? new Date(condition.lastTransitionTime) : undefined) : [],
        reason: condition?.reason ? `${condition.reason}${condition.message ? `: ${condition.message}` : ''}` : undefined,
      };
    },
  };
}
