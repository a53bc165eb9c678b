/** Read-only views of an instance's Argo CD Application, Deployments and DynamoDB claim, and of which instances there are. */
import type { V1Deployment } from '@kubernetes/client-node';
import type { KubeClients } from './client';
import { getOrUndefined } from './client';
import type { ApplicationStatus, ClaimStatus, DeploymentStatus } from '../../common/instance-status';
import { argoApplicationName, dynamodbClaimName } from '../../common/instance';
import { APPLICATION, ARGOCD_NAMESPACE, conditionStatus, deployedRevision, DYNAMODB_CLAIM, INSTANCE_DEPLOYMENTS, INSTANCE_LABEL } from '../../common/platform';
import type { Application, DynamoDbClaim } from '../../common/platform';

/** Rolled out and available: the controller saw the latest spec, every replica is updated and available, no old ones linger. */
export function deploymentAvailable(d: V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  return (
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s.updatedReplicas ?? 0) >= want &&
    (s.availableReplicas ?? 0) >= want &&
    (s.replicas ?? 0) <= want
  );
}

function summarizeApplication(name: string, app: Application | undefined): ApplicationStatus {
  if (!app) return { name, exists: false };
  const automated = app.spec.syncPolicy?.automated;
  const op = app.status?.operationState;
  return {
    name,
    exists: true,
    targetRevision: app.spec.sources?.[0]?.targetRevision ?? app.spec.source?.targetRevision,
    syncedRevision: deployedRevision(app),
    syncStatus: app.status?.sync?.status ?? 'Unknown',
    health: app.status?.health?.status ?? 'Unknown',
    automatedSync: automated !== undefined && automated.enabled !== false,
    selfHeal: Boolean(automated?.selfHeal),
    lastOperation: op ? { phase: op.phase, revision: op.syncResult?.revision ?? op.operation.sync?.revision, startedAt: op.startedAt, finishedAt: op.finishedAt } : undefined,
  };
}

export function createPlatformReadActivities({ kube }: { kube: KubeClients }) {
  return {
    async readApplicationStatus(instance: string): Promise<ApplicationStatus> {
      const name = argoApplicationName(instance);
      const app = (await getOrUndefined(kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name }))) as
        | Application
        | undefined;
      return summarizeApplication(name, app);
    },

    async describeDeployments(instance: string): Promise<DeploymentStatus[]> {
      return Promise.all(
        INSTANCE_DEPLOYMENTS.map(async (name): Promise<DeploymentStatus> => {
          const d = await getOrUndefined(kube.apps.readNamespacedDeployment({ name, namespace: instance }));
          if (!d) return { name, exists: false };
          const replicas = d.spec?.replicas ?? 1;
          const s = d.status ?? {};
          return {
            name,
            exists: true,
            replicas,
            readyReplicas: s.readyReplicas ?? 0,
            availableReplicas: s.availableReplicas ?? 0,
            updatedReplicas: s.updatedReplicas ?? 0,
            available: deploymentAvailable(d),
            images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ''),
          };
        }),
      );
    },

    /** The claim's Ready and Synced conditions (the guide's check-crossplane-status). */
    async readClaimStatus(instance: string): Promise<ClaimStatus> {
      const name = dynamodbClaimName(instance);
      const claim = (await getOrUndefined(kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name }))) as DynamoDbClaim | undefined;
      if (!claim) return { name, exists: false };
      const conditions = claim.status?.conditions;
      const message = conditions?.find((c) => (c.type === 'Ready' || c.type === 'Synced') && c.status !== 'True')?.message;
      return { name, exists: true, ready: conditionStatus(conditions, 'Ready'), synced: conditionStatus(conditions, 'Synced'), ...(message ? { message } : {}) };
    },

    /**
     * The names of the namespaces that carry the platform's instance label: the instances. A list of
     * namespaces (names and labels only) is all the worker may see cluster-wide; what is inside each
     * one it reads through that instance's own binding.
     */
    async listInstanceNamespaces(): Promise<string[]> {
      const names: string[] = [];
      let cont: string | undefined;
      do {
        const page = await kube.core.listNamespace({ labelSelector: INSTANCE_LABEL, limit: 500, _continue: cont });
        names.push(...page.items.flatMap((ns) => (ns.metadata?.name && !ns.metadata.deletionTimestamp ? [ns.metadata.name] : [])));
        cont = page.metadata?._continue || undefined;
      } while (cont);
      return names;
    },
  };
}
