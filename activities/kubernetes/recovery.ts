/**
 * What the DynamoDB recovery does in Kubernetes: read the Crossplane claim and what it composes,
 * pause Argo CD's automated sync (self-heal would scale writers back up and re-create a deleted
 * claim), quiesce the writers, delete and recreate the claim, and put everything back.
 *
 * Every change leaves its "before" on the object as an annotation, so a retried activity or a
 * re-run after a crash restores the original state, not the runbook's own intermediate one.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import type { V1Job } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined, isConflict, MERGE_PATCH } from './client';
import { tableStatus } from '../aws/dynamodb-tables';
import type { ClaimInfo, WriterState } from '../../common/dynamodb-backup';
import { argoApplicationName, dynamodbClaimName } from '../../common/instance';
import {
  API_DEPLOYMENT,
  APPLICATION,
  ARGOCD_NAMESPACE,
  conditionStatus,
  DYNAMODB_CLAIM,
  DYNAMODB_COMPOSITE,
  EXTERNAL_NAME_ANNOTATION,
  MANAGED_TABLE,
  MATCHING_CRONJOB,
} from '../../common/platform';
import type { Application, DynamoDbClaim, DynamoDbComposite, ManagedTable } from '../../common/platform';

export const RECOVERY_ANNOTATIONS = {
  /** On the Application: JSON of spec.syncPolicy.automated before the pause ("null" when it was off). */
  pausedAutomated: 'vcp-runbooks.io/paused-automated-sync',
  /** On the API Deployment: replicas before the quiesce. */
  quiescedReplicas: 'vcp-runbooks.io/quiesced-from-replicas',
  /** On the CronJob: spec.suspend before the quiesce. */
  quiescedSuspend: 'vcp-runbooks.io/quiesced-from-suspend',
  /** Which run made the change. */
  changedBy: 'vcp-runbooks.io/changed-by',
  /** On a recreated claim: the run that recreated it. */
  recreatedBy: 'vcp-runbooks.io/recreated-by',
} as const;

export class ClaimNotFoundError extends Error {
  override readonly name = 'ClaimNotFoundError';
}

/** "Not yet": a benign failure the workflow's retry policy polls on. */
function notYet(message: string): Error {
  const err = new Error(message);
  err.name = 'NotReadyYet';
  return err;
}

export function createRecoveryKubeActivities({ kube, dynamodb }: { kube: KubeClients; dynamodb: DynamoDBClient }) {
  const claimName = dynamodbClaimName;
  const readClaim = (instance: string) =>
    getOrUndefined(kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: claimName(instance) })) as Promise<
      DynamoDbClaim | undefined
    >;
  const readApplication = (instance: string) =>
    getOrUndefined(kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: argoApplicationName(instance) })) as Promise<
      Application | undefined
    >;

  return {
    /** The claim, its composite and managed Tables (deletion policy, external name); read-only. */
    async inspectDynamoDbClaim(instance: string): Promise<ClaimInfo> {
      const claim = await readClaim(instance);
      if (!claim) {
        throw new ClaimNotFoundError(`claim ${DYNAMODB_CLAIM.plural}.${DYNAMODB_CLAIM.group}/${claimName(instance)} not found in namespace ${instance}`);
      }
      const ref = claim.spec.resourceRef;
      const composite = ref
        ? ((await getOrUndefined(kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: ref.name }))) as DynamoDbComposite | undefined)
        : undefined;
      const managedTables: ClaimInfo['managedTables'] = [];
      for (const tableRef of composite?.spec.resourceRefs ?? []) {
        const table = (await getOrUndefined(kube.custom.getClusterCustomObject({ ...MANAGED_TABLE, name: tableRef.name }))) as ManagedTable | undefined;
        if (!table) continue;
        managedTables.push({
          name: table.metadata.name,
          tableName: table.metadata.annotations?.[EXTERNAL_NAME_ANNOTATION] ?? table.metadata.name,
          deletionPolicy: table.spec.deletionPolicy ?? 'Delete',
        });
      }
      const { resourceRef: _ref, ...spec } = claim.spec;
      return {
        name: claim.metadata.name,
        namespace: instance,
        uid: claim.metadata.uid!,
        resourceVersion: claim.metadata.resourceVersion!,
        spec,
        labels: claim.metadata.labels ?? {},
        conditions: (claim.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason })),
        composite: composite ? { name: composite.metadata.name, uid: composite.metadata.uid } : ref ? { name: ref.name } : undefined,
        managedTables,
      };
    },

    /**
     * Turns automated sync (and with it self-heal) off, remembering the previous policy on the
     * Application itself. Returns that previous policy (null: it was off). Idempotent.
     */
    async pauseAutomatedSync(input: { instance: string; changedBy: string }): Promise<{ previous: unknown; changed: boolean }> {
      const app = await readApplication(input.instance);
      if (!app) throw ApplicationFailure.create({ type: 'ApplicationNotFoundError', message: `Application ${argoApplicationName(input.instance)} not found`, nonRetryable: true });
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

    /** Deletes the claim, only the incarnation that was planned (UID precondition). Idempotent. */
    async deleteDynamoDbClaim(input: { instance: string; uid: string }): Promise<{ deleted: boolean }> {
      const claim = await readClaim(input.instance);
      if (!claim || claim.metadata.uid !== input.uid) return { deleted: false };
      try {
        await kube.custom.deleteNamespacedCustomObject({
          ...DYNAMODB_CLAIM,
          namespace: input.instance,
          name: claimName(input.instance),
          body: { preconditions: { uid: input.uid } },
        });
      } catch (err) {
        if (isConflict(err)) return { deleted: false };
        throw err;
      }
      return { deleted: true };
    },

    /** Polled: the claim and its composite are gone and every table answers ResourceNotFound (or is orphaned). */
    async checkClaimDeleted(input: { instance: string; uid: string; composite?: string; tableNames: string[]; orphanedTables: string[] }): Promise<{ gone: true }> {
      const claim = await readClaim(input.instance);
      if (claim && claim.metadata.uid === input.uid) throw notYet(`claim ${claim.metadata.name} is still being deleted`);
      if (input.composite) {
        const composite: unknown = await getOrUndefined(kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: input.composite }));
        if (composite) throw notYet(`composite ${input.composite} still exists`);
      }
      for (const tableName of input.tableNames) {
        if (input.orphanedTables.includes(tableName)) continue;
        const status = await tableStatus(dynamodb, tableName);
        if (status !== undefined) throw notYet(`table ${tableName} still exists (${status})`);
      }
      return { gone: true };
    },

    /** Recreates the claim from the captured spec (no resourceRef, no status). Idempotent. */
    async createDynamoDbClaim(input: { instance: string; spec: Record<string, unknown>; labels: Record<string, string>; recreatedBy: string }): Promise<{ uid: string; created: boolean }> {
      const existing = await readClaim(input.instance);
      if (existing) return { uid: existing.metadata.uid!, created: false };
      const body = {
        apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`,
        kind: DYNAMODB_CLAIM.kind,
        metadata: { name: claimName(input.instance), namespace: input.instance, labels: input.labels, annotations: { [RECOVERY_ANNOTATIONS.recreatedBy]: input.recreatedBy } },
        spec: input.spec,
      };
      try {
        const created = (await kube.custom.createNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: input.instance, body })) as DynamoDbClaim;
        return { uid: created.metadata.uid!, created: true };
      } catch (err) {
        if (!isConflict(err)) throw err;
        const now = await readClaim(input.instance);
        return { uid: now!.metadata.uid!, created: false };
      }
    },

    /** Polled: the claim is Synced and Ready, and every table is ACTIVE. */
    async checkClaimReady(input: { instance: string; tableNames: string[] }): Promise<{ ready: true }> {
      const claim = await readClaim(input.instance);
      if (!claim) throw notYet(`claim ${claimName(input.instance)} does not exist yet`);
      const synced = claim.status?.conditions?.find((c) => c.type === 'Synced');
      if (synced?.status === 'False' && synced.reason === 'ReconcileError') {
        // Crossplane keeps retrying, but the runbook reports it rather than waiting silently.
        throw notYet(`claim is not Synced: ${synced.message ?? synced.reason}`);
      }
      if (conditionStatus(claim.status?.conditions, 'Synced') !== 'True' || conditionStatus(claim.status?.conditions, 'Ready') !== 'True') {
        throw notYet(`claim not Synced/Ready yet (Synced=${conditionStatus(claim.status?.conditions, 'Synced')}, Ready=${conditionStatus(claim.status?.conditions, 'Ready')})`);
      }
      for (const tableName of input.tableNames) {
        const status = await tableStatus(dynamodb, tableName);
        if (status !== 'ACTIVE') throw notYet(`table ${tableName} is ${status ?? 'missing'}`);
      }
      return { ready: true };
    },
  };
}
