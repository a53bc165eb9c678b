/**
 * What the DynamoDB recovery does in Kubernetes: read the Crossplane claim and what it composes,
 * pause Argo CD's automated sync (self-heal would scale writers back up and re-create a deleted
 * claim), quiesce the writers, delete and recreate the claim (`dynamodb-claim.ts`), and put
 * everything back.
 *
 * Every change leaves its "before" on the object as an annotation, so a retried activity or a
 * re-run after a crash restores the original state, not the runbook's own intermediate one.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import type { V1Job } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined, MERGE_PATCH } from './client';
import type { EvidenceDeps } from '../aws/backup-evidence';
import type { WriterState } from '../../common/dynamodb-backup';
import { argoApplicationName } from '../../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, MATCHING_CRONJOB } from '../../common/platform';
import type { Application } from '../../common/platform';
import { snapshotOf } from './argocd';
import { CLAIM_ANNOTATIONS, createDynamoDbClaimActivities, notYet } from './dynamodb-claim';

export { ClaimNotFoundError } from './dynamodb-claim';

export const RECOVERY_ANNOTATIONS = {
  /** On the Application: JSON of spec.syncPolicy.automated before the pause ("null" when it was off). */
  pausedAutomated: 'vcp-runbooks.io/paused-automated-sync',
  /** On the API Deployment: replicas before the quiesce. */
  quiescedReplicas: 'vcp-runbooks.io/quiesced-from-replicas',
  /** On the CronJob: spec.suspend before the quiesce. */
  quiescedSuspend: 'vcp-runbooks.io/quiesced-from-suspend',
  /** Which run made the change. */
  changedBy: 'vcp-runbooks.io/changed-by',
  ...CLAIM_ANNOTATIONS,
} as const;

export function createRecoveryKubeActivities(deps: { kube: KubeClients; dynamodb: DynamoDBClient } & EvidenceDeps) {
  const { kube } = deps;
  const readApplication = (instance: string) =>
    getOrUndefined(kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: argoApplicationName(instance) })) as Promise<
      Application | undefined
    >;

  return {
    ...createDynamoDbClaimActivities(deps),

    /**
     * Turns automated sync (and with it self-heal) off, remembering the previous policy on the
     * Application itself. Returns that previous policy (null: it was off). Idempotent.
     */
    async pauseAutomatedSync(input: { instance: string; changedBy: string }): Promise<{ previous: unknown; changed: boolean }> {
      const app = await readApplication(input.instance);
      if (!app) throw ApplicationFailure.create({ type: 'ApplicationNotFoundError', message: `Application ${argoApplicationName(input.instance)} not found`, nonRetryable: true });
      // A parent rewrites its children's spec and would undo the pause (discovery refuses this too; it may have changed since).
      const owners = snapshotOf(app).owners;
      if (owners.length > 0) {
        const by = owners.map((o) => `${o.kind} ${o.name}`).join(', ');
        throw ApplicationFailure.create({ type: 'ApplicationOwned', message: `not pausing ${app.metadata.name}: it is managed by ${by}, which would undo the pause`, nonRetryable: true });
      }
      const saved = app.metadata.annotations?.[RECOVERY_ANNOTATIONS.pausedAutomated];
      if (saved !== undefined) return { previous: JSON.parse(saved) as unknown, changed: false };
      const previous = app.spec.syncPolicy?.automated ?? null;
      if (previous === null) return { previous, changed: false };
      await kube.custom.patchNamespacedCustomObject(
        {
          ...APPLICATION,
          namespace: ARGOCD_NAMESPACE,
          name: app.metadata.name,
          body: {
            metadata: {
              resourceVersion: app.metadata.resourceVersion,
              annotations: { [RECOVERY_ANNOTATIONS.pausedAutomated]: JSON.stringify(previous), [RECOVERY_ANNOTATIONS.changedBy]: input.changedBy },
            },
            spec: { syncPolicy: { automated: null } },
          },
        },
        MERGE_PATCH,
      );
      return { previous, changed: true };
    },

    /** Puts back the automated-sync policy the pause recorded on the Application. Idempotent. */
    async restoreAutomatedSync(instance: string): Promise<{ restored: unknown; changed: boolean }> {
      const app = await readApplication(instance);
      const saved = app?.metadata.annotations?.[RECOVERY_ANNOTATIONS.pausedAutomated];
      if (!app || saved === undefined) return { restored: undefined, changed: false };
      const previous = JSON.parse(saved) as unknown;
      await kube.custom.patchNamespacedCustomObject(
        {
          ...APPLICATION,
          namespace: ARGOCD_NAMESPACE,
          name: app.metadata.name,
          body: {
            metadata: { resourceVersion: app.metadata.resourceVersion, annotations: { [RECOVERY_ANNOTATIONS.pausedAutomated]: null, [RECOVERY_ANNOTATIONS.changedBy]: null } },
            spec: { syncPolicy: { automated: previous } },
          },
        },
        MERGE_PATCH,
      );
      return { restored: previous, changed: true };
    },

    /** The writers as they are now (for the plan). */
    async readWriters(instance: string): Promise<WriterState> {
      const deployment = await getOrUndefined(kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }));
      const cronJob = await getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }));
      return {
        apiDeployment: deployment ? { name: API_DEPLOYMENT, replicas: Number(deployment.metadata?.annotations?.[RECOVERY_ANNOTATIONS.quiescedReplicas] ?? deployment.spec?.replicas ?? 1) } : undefined,
        cronJob: cronJob ? { name: MATCHING_CRONJOB, suspended: (cronJob.metadata?.annotations?.[RECOVERY_ANNOTATIONS.quiescedSuspend] ?? String(Boolean(cronJob.spec?.suspend))) === 'true' } : undefined,
      };
    },

    /** Scales the API to 0 and suspends the CronJob, recording what to restore on each object. Idempotent. */
    async quiesceWriters(input: { instance: string; changedBy: string }): Promise<WriterState> {
      const { instance } = input;
      const state: WriterState = {};
      const deployment = await getOrUndefined(kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }));
      if (deployment) {
        const recorded = deployment.metadata?.annotations?.[RECOVERY_ANNOTATIONS.quiescedReplicas];
        const replicas = recorded !== undefined ? Number(recorded) : (deployment.spec?.replicas ?? 1);
        state.apiDeployment = { name: API_DEPLOYMENT, replicas };
        await kube.apps.patchNamespacedDeployment(
          {
            name: API_DEPLOYMENT,
            namespace: instance,
            body: { metadata: { annotations: { [RECOVERY_ANNOTATIONS.quiescedReplicas]: String(replicas), [RECOVERY_ANNOTATIONS.changedBy]: input.changedBy } }, spec: { replicas: 0 } },
          },
          MERGE_PATCH,
        );
      }
      const cronJob = await getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }));
      if (cronJob) {
        const recorded = cronJob.metadata?.annotations?.[RECOVERY_ANNOTATIONS.quiescedSuspend];
        const suspended = recorded !== undefined ? recorded === 'true' : Boolean(cronJob.spec?.suspend);
        state.cronJob = { name: MATCHING_CRONJOB, suspended };
        await kube.batch.patchNamespacedCronJob(
          {
            name: MATCHING_CRONJOB,
            namespace: instance,
            body: { metadata: { annotations: { [RECOVERY_ANNOTATIONS.quiescedSuspend]: String(suspended), [RECOVERY_ANNOTATIONS.changedBy]: input.changedBy } }, spec: { suspend: true } },
          },
          MERGE_PATCH,
        );
      }
      return state;
    },

    /** Polled: the API has no pods left and no Job of the CronJob is still running. */
    async checkWritersStopped(instance: string): Promise<{ apiPods: number; runningJobs: string[] }> {
      const deployment = await getOrUndefined(kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }));
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
      const deployment = await getOrUndefined(kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance }));
      const replicas = deployment?.metadata?.annotations?.[RECOVERY_ANNOTATIONS.quiescedReplicas];
      if (deployment && replicas !== undefined) {
        await kube.apps.patchNamespacedDeployment(
          {
            name: API_DEPLOYMENT,
            namespace: instance,
            body: { metadata: { annotations: { [RECOVERY_ANNOTATIONS.quiescedReplicas]: null, [RECOVERY_ANNOTATIONS.changedBy]: null } }, spec: { replicas: Number(replicas) } },
          },
          MERGE_PATCH,
        );
        state.apiDeployment = { name: API_DEPLOYMENT, replicas: Number(replicas) };
      }
      const cronJob = await getOrUndefined(kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance }));
      const suspended = cronJob?.metadata?.annotations?.[RECOVERY_ANNOTATIONS.quiescedSuspend];
      if (cronJob && suspended !== undefined) {
        await kube.batch.patchNamespacedCronJob(
          {
            name: MATCHING_CRONJOB,
            namespace: instance,
            body: { metadata: { annotations: { [RECOVERY_ANNOTATIONS.quiescedSuspend]: null, [RECOVERY_ANNOTATIONS.changedBy]: null } }, spec: { suspend: suspended === 'true' } },
          },
          MERGE_PATCH,
        );
        state.cronJob = { name: MATCHING_CRONJOB, suspended: suspended === 'true' };
      }
      return state;
    },
  };
}
