/**
 * The instance's writers to DynamoDB: the API Deployment and the matching CronJob (and its Jobs).
 * Quiescing scales the API to 0 and suspends the CronJob, recording on each object what to restore.
 */
import type { V1Job } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined, MERGE_PATCH } from './client';
import { RESTORE_ANNOTATIONS } from './restore-annotations';
import { notYet } from '../not-ready';
import type { WriterState } from '../../common/dynamodb-backup';
import { API_DEPLOYMENT, MATCHING_CRONJOB } from '../../common/platform';

export function createWriterActivities({ kube }: { kube: KubeClients }) {
  const readDeployment = (instance: string) => getOrUndefined(kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }));
  const readCronJob = (instance: string) => getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }));

  return {
    /** The writers as they are now (for the plan). */
    async readWriters(instance: string): Promise<WriterState> {
      const deployment = await readDeployment(instance);
      const cronJob = await readCronJob(instance);
      return {
        apiDeployment: deployment ? { name: API_DEPLOYMENT, replicas: Number(deployment.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedReplicas] ?? deployment.spec?.replicas ?? 1) } : undefined,
        cronJob: cronJob ? { name: MATCHING_CRONJOB, suspended: (cronJob.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedSuspend] ?? String(Boolean(cronJob.spec?.suspend))) === 'true' } : undefined,
      };
    },

    /** Scales the API to 0 and suspends the CronJob, recording what to restore on each object. Idempotent. */
    async quiesceWriters(input: { instance: string; changedBy: string }): Promise<WriterState> {
      const { instance } = input;
      const state: WriterState = {};
      const deployment = await readDeployment(instance);
      if (deployment) {
        const recorded = deployment.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedReplicas];
        const replicas = recorded !== undefined ? Number(recorded) : (deployment.spec?.replicas ?? 1);
        state.apiDeployment = { name: API_DEPLOYMENT, replicas };
        await kube.apps.patchNamespacedDeployment(
          {
            name: API_DEPLOYMENT,
            namespace: instance,
            body: { metadata: { annotations: { [RESTORE_ANNOTATIONS.quiescedReplicas]: String(replicas), [RESTORE_ANNOTATIONS.changedBy]: input.changedBy } }, spec: { replicas: 0 } },
          },
          MERGE_PATCH,
        );
      }
      const cronJob = await readCronJob(instance);
      if (cronJob) {
        const recorded = cronJob.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedSuspend];
        const suspended = recorded !== undefined ? recorded === 'true' : Boolean(cronJob.spec?.suspend);
        state.cronJob = { name: MATCHING_CRONJOB, suspended };
        await kube.batch.patchNamespacedCronJob(
          {
            name: MATCHING_CRONJOB,
            namespace: instance,
            body: { metadata: { annotations: { [RESTORE_ANNOTATIONS.quiescedSuspend]: String(suspended), [RESTORE_ANNOTATIONS.changedBy]: input.changedBy } }, spec: { suspend: true } },
          },
          MERGE_PATCH,
        );
      }
      return state;
    },

    /** Polled: the API has no pods left and no Job of the CronJob is still running. */
    async checkWritersStopped(instance: string): Promise<{ apiPods: number; runningJobs: string[] }> {
      const deployment = await readDeployment(instance);
      const apiPods = deployment?.status?.replicas ?? 0;
      const jobs = await kube.batch.listNamespacedJob({ namespace: instance });
      const runningJobs = jobs.items
        .filter((j: V1Job) => (j.metadata?.ownerReferences ?? []).some((o) => o.kind === 'CronJob' && o.name === MATCHING_CRONJOB))
        .filter((j: V1Job) => (j.status?.active ?? 0) > 0)
        .map((j: V1Job) => j.metadata!.name!);
      if (apiPods > 0 || runningJobs.length > 0) {
        throw notYet(`writers still running: ${apiPods} API pods, jobs ${runningJobs.join(', ') || 'none'}`);
      }
      return { apiPods, runningJobs };
    },

    /** Restores replicas and suspend as recorded on the objects by the quiesce. Idempotent. */
    async restoreWriters(instance: string): Promise<WriterState> {
      const state: WriterState = {};
      const deployment = await readDeployment(instance);
      const replicas = deployment?.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedReplicas];
      if (deployment && replicas !== undefined) {
        await kube.apps.patchNamespacedDeployment(
          {
            name: API_DEPLOYMENT,
            namespace: instance,
            body: { metadata: { annotations: { [RESTORE_ANNOTATIONS.quiescedReplicas]: null, [RESTORE_ANNOTATIONS.changedBy]: null } }, spec: { replicas: Number(replicas) } },
          },
          MERGE_PATCH,
        );
        state.apiDeployment = { name: API_DEPLOYMENT, replicas: Number(replicas) };
      }
      const cronJob = await readCronJob(instance);
      const suspended = cronJob?.metadata?.annotations?.[RESTORE_ANNOTATIONS.quiescedSuspend];
      if (cronJob && suspended !== undefined) {
        await kube.batch.patchNamespacedCronJob(
          {
            name: MATCHING_CRONJOB,
            namespace: instance,
            body: { metadata: { annotations: { [RESTORE_ANNOTATIONS.quiescedSuspend]: null, [RESTORE_ANNOTATIONS.changedBy]: null } }, spec: { suspend: suspended === 'true' } },
          },
          MERGE_PATCH,
        );
        state.cronJob = { name: MATCHING_CRONJOB, suspended: suspended === 'true' };
      }
      return state;
    },
  };
}
