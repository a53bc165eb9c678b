/**
 * Pausing an Argo CD Application's automated sync (and with it self-heal) while a runbook changes what
 * the Application manages: self-heal would scale the writers back up and re-create a deleted claim.
 * The previous policy is kept on the Application, and put back from there.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from './client';
import { getOrUndefined, MERGE_PATCH } from './client';
import { RESTORE_ANNOTATIONS } from './restore-annotations';
import { snapshotOf } from '../../common/argocd';
import { argoApplicationName } from '../../common/instance';
import { APPLICATION, ARGOCD_NAMESPACE } from '../../common/platform';
import type { Application } from '../../common/platform';

export function createArgoCdSyncPauseActivities({ kube }: { kube: KubeClients }) {
  const readApplication = (instance: string) =>
    getOrUndefined(kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: argoApplicationName(instance) })) as Promise<
      Application | undefined
    >;

  return {
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
      const saved = app.metadata.annotations?.[RESTORE_ANNOTATIONS.pausedAutomated];
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
              annotations: { [RESTORE_ANNOTATIONS.pausedAutomated]: JSON.stringify(previous), [RESTORE_ANNOTATIONS.changedBy]: input.changedBy },
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
      const saved = app?.metadata.annotations?.[RESTORE_ANNOTATIONS.pausedAutomated];
      if (!app || saved === undefined) return { restored: undefined, changed: false };
      const previous = JSON.parse(saved) as unknown;
      await kube.custom.patchNamespacedCustomObject(
        {
          ...APPLICATION,
          namespace: ARGOCD_NAMESPACE,
          name: app.metadata.name,
          body: {
            metadata: { resourceVersion: app.metadata.resourceVersion, annotations: { [RESTORE_ANNOTATIONS.pausedAutomated]: null, [RESTORE_ANNOTATIONS.changedBy]: null } },
            spec: { syncPolicy: { automated: previous } },
          },
        },
        MERGE_PATCH,
      );
      return { restored: previous, changed: true };
    },
  };
}
