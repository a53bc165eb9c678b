/**
 * Seeds one platform instance into the local cluster and DynamoDB, the way `make deploy-instance`
 * and Argo CD leave it: namespace, Deployments with running pods and logs, the matching CronJob,
 * the ConfigMap, the Argo CD Application with a realistic history, and the DynamoDB claim whose
 * tables Crossplane and the provider-aws Table controller create and the seed then fills; and the runbook worker's access
 * to the instance (deploy/instance-rbac.yaml), which the platform ships with each instance.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { V1Deployment } from '@kubernetes/client-node';
import type { KubeClients } from '../activities/kubernetes/client';
import { getOrUndefined, isConflict } from '../activities/kubernetes/client';
import { instanceTableNames } from '../common/instance';
import {
  API_DEPLOYMENT,
  APPLICATION,
  ARGOCD_NAMESPACE,
  CONFIG_MAP,
  conditionStatus,
  DYNAMODB_CLAIM,
  FRONTEND_DEPLOYMENT,
  INSTANCE_LABEL,
  MATCHING_CRONJOB,
} from '../common/platform';
import type { Application, DynamoDbClaim, HistoryEntry, ManagementAction } from '../common/platform';
import { DEFAULT_SEED_SIZES, seedItems, writeItems } from '../scripts/seed/aws';
import type { SeedSizes } from '../scripts/seed/aws';
import { imageFor, SIM } from './argocd';
import type { DesiredState } from './argocd';
import { PART_OF_LABEL, PLATFORM } from './pod-logs';
import { grantWorkerAccess, revokeWorkerAccess } from './worker-access';

/** Secret-looking values the seed plants; no diagnostic bundle may contain them. */
export const SEEDED_SECRETS = {
  databasePassword: 'vc-db-password-3f9a1c',
  oauthClientSecret: 'GOCSPX-simulated-oauth-secret-71b2',
} as const;

/** The instance's deployment history, oldest first; the last is what runs now. */
export const SEEDED_REVISIONS = [
  '4f2c9d1e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d',
  '9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b',
  'c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2',
] as const;

export interface SeedOptions {
  sizes?: SeedSizes;
  /** Automated sync with self-heal (the platform's default) or manual sync. */
  automatedSync?: boolean;
  replicas?: { api: number; frontend: number };
  /** Extra Application annotations (e.g. failing or degraded revisions). */
  applicationAnnotations?: Record<string, string>;
  /** Wait for pods, tables and rows (default true). */
  wait?: boolean;
  /** The claim's deletion policy for its tables (Crossplane's default: Delete). */
  deletionPolicy?: 'Delete' | 'Orphan';
  /** The Tables' management policies (Crossplane's default: ['*']). */
  managementPolicies?: ManagementAction[];
  /** The Composition the claim selects (default: the XRD's, platform-sim/crossplane/composition.yaml). */
  compositionName?: string;
  /** Fill the platform tables (default true; a Composition that names its tables otherwise has none). */
  fillTables?: boolean;
  /** Grant the runbook worker's ServiceAccount its access to the instance (deploy/instance-rbac.yaml; default true). */
  workerAccess?: boolean;
}

export interface SeededInstance {
  instance: string;
  revisions: readonly string[];
  items: ReturnType<typeof seedItems>;
}

async function createOrKeep(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

function deployment(instance: string, name: string, container: string, replicas: number, revision: string): V1Deployment {
  const labels = { app: name, [PART_OF_LABEL]: PLATFORM, [INSTANCE_LABEL]: instance };
  return {
    metadata: { name, namespace: instance, labels, annotations: { [SIM.revision]: revision } },
    spec: {
      replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels, annotations: { [SIM.revision]: revision } },
        spec: {
          containers: [
            {
              name: container,
              image: imageFor(name, revision),
              ports: [{ containerPort: container === 'api' ? 8000 : 80 }],
              env: [
                { name: 'INSTANCE', value: instance },
                { name: 'AWS_REGION', value: 'us-west-2' },
                { name: 'USERS_TABLE', value: `users-${instance}` },
                ...(container === 'api' ? [{ name: 'DB_PASSWORD', value: SEEDED_SECRETS.databasePassword }] : []),
              ],
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
              readinessProbe: { httpGet: { path: container === 'api' ? '/api/v1/health' : '/', port: container === 'api' ? 8000 : 80 } },
              volumeMounts: [{ name: 'config', mountPath: '/etc/virtual-coffee' }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: CONFIG_MAP } }],
        },
      },
    },
  };
}

export async function seedInstance(
  kube: KubeClients,
  dynamodb: DynamoDBClient,
  instance: string,
  options: SeedOptions = {},
): Promise<SeededInstance> {
  const { sizes = DEFAULT_SEED_SIZES, automatedSync = true, replicas = { api: 2, frontend: 1 }, wait = true, workerAccess = true } = options;
  const current = SEEDED_REVISIONS[SEEDED_REVISIONS.length - 1]!;
  const labels = { [PART_OF_LABEL]: PLATFORM, [INSTANCE_LABEL]: instance };

  await createOrKeep(() => kube.core.createNamespace({ body: { metadata: { name: ARGOCD_NAMESPACE } } }));
  await createOrKeep(() => kube.core.createNamespace({ body: { metadata: { name: instance, labels } } }));
  // The platform ships the worker's access with the instance, once its namespace exists.
  if (workerAccess) await grantWorkerAccess(kube, instance);
  await createOrKeep(() =>
    kube.core.createNamespacedConfigMap({
      namespace: instance,
      body: {
        metadata: { name: CONFIG_MAP, namespace: instance, labels },
        data: {
          'api_base_url': `https://${instance}.virtualcoffee.example/api`,
          'matching_schedule': '0 9 * * MON',
          'matching_group_size': '2',
          'oauth_provider': 'google',
          'oauth_client_id': 'virtual-coffee.apps.googleusercontent.example',
          'oauth_client_secret': SEEDED_SECRETS.oauthClientSecret,
        },
      },
    }),
  );
  await createOrKeep(() => kube.apps.createNamespacedDeployment({ namespace: instance, body: deployment(instance, API_DEPLOYMENT, 'api', replicas.api, current) }));
  await createOrKeep(() =>
    kube.apps.createNamespacedDeployment({ namespace: instance, body: deployment(instance, FRONTEND_DEPLOYMENT, 'frontend', replicas.frontend, current) }),
  );
  await createOrKeep(() =>
    kube.batch.createNamespacedCronJob({
      namespace: instance,
      body: {
        metadata: { name: MATCHING_CRONJOB, namespace: instance, labels },
        spec: {
          schedule: '0 9 * * 1',
          concurrencyPolicy: 'Forbid',
          suspend: false,
          successfulJobsHistoryLimit: 3,
          jobTemplate: {
            spec: {
              backoffLimit: 1,
              template: {
                metadata: { labels },
                spec: {
                  restartPolicy: 'Never',
                  containers: [{ name: 'matching', image: imageFor(API_DEPLOYMENT, current), command: ['python', '-m', 'backend.matching'] }],
                },
              },
            },
          },
        },
      },
    }),
  );

  const claimSpec: DynamoDbClaim['spec'] = {
    parameters: {
      instance,
      region: 'us-west-2',
      ...(options.deletionPolicy ? { deletionPolicy: options.deletionPolicy } : {}),
      ...(options.managementPolicies ? { managementPolicies: options.managementPolicies } : {}),
    },
    compositeDeletePolicy: 'Background',
    ...(options.compositionName ? { compositionRef: { name: options.compositionName } } : {}),
  };
  const desired: DesiredState = { replicas: { [API_DEPLOYMENT]: replicas.api, [FRONTEND_DEPLOYMENT]: replicas.frontend }, claim: claimSpec };
  const source = { repoURL: 'https://git.example/virtual-coffee/platform-deploy.git', path: `instances/${instance}`, targetRevision: 'main' };
  const start = Date.now() - SEEDED_REVISIONS.length * 86_400_000;
  const history: HistoryEntry[] = SEEDED_REVISIONS.map((revision, id) => ({
    id,
    revision,
    deployStartedAt: new Date(start + id * 86_400_000).toISOString(),
    deployedAt: new Date(start + id * 86_400_000 + 42_000).toISOString(),
    source,
    initiatedBy: { automated: true },
  }));
  const app: Application = {
    apiVersion: `${APPLICATION.group}/${APPLICATION.version}`,
    kind: APPLICATION.kind,
    metadata: {
      name: `virtual-coffee-${instance}`,
      namespace: ARGOCD_NAMESPACE,
      labels: { [INSTANCE_LABEL]: instance },
      annotations: { [SIM.branchHead]: current, [SIM.desiredState]: JSON.stringify(desired), ...options.applicationAnnotations },
    },
    spec: {
      project: 'default',
      destination: { server: 'https://kubernetes.default.svc', namespace: instance },
      source,
      syncPolicy: automatedSync ? { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] } : { syncOptions: ['CreateNamespace=true'] },
    },
    status: {
      sync: { status: 'Synced', revision: current },
      health: { status: 'Healthy' },
      history,
      reconciledAt: new Date().toISOString(),
      operationState: {
        operation: { sync: { revision: current }, initiatedBy: { automated: true } },
        phase: 'Succeeded',
        message: 'successfully synced (all tasks run)',
        startedAt: history[history.length - 1]!.deployStartedAt!,
        finishedAt: history[history.length - 1]!.deployedAt,
        syncResult: { revision: current, source },
      },
    },
  };
  await createOrKeep(() => kube.custom.createNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, body: app }));
  const claim: DynamoDbClaim = {
    apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`,
    kind: DYNAMODB_CLAIM.kind,
    metadata: { name: `${instance}-dynamodb`, namespace: instance, labels },
    spec: claimSpec,
  };
  await createOrKeep(() => kube.custom.createNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, body: claim }));

  const items = seedItems(instance, sizes);
  if (wait) {
    // Ready once every Table is (the provider reports a table Available when it is ACTIVE).
    await waitFor(`claim ${instance}-dynamodb Ready`, async () => {
      const found = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
      return conditionStatus(found.status?.conditions, 'Ready') === 'True';
    }, 180_000);
    if (options.fillTables ?? true) {
      for (const tableName of instanceTableNames(instance)) await writeItems(dynamodb, tableName, items[tableName] ?? []);
    }
    await waitFor(`Deployments of ${instance} available`, async () => {
      for (const name of [API_DEPLOYMENT, FRONTEND_DEPLOYMENT]) {
        const d = await kube.apps.readNamespacedDeployment({ name, namespace: instance });
        if ((d.status?.availableReplicas ?? 0) < (d.spec?.replicas ?? 1)) return false;
      }
      return true;
    });
  }
  return { instance, revisions: SEEDED_REVISIONS, items };
}

/** Removes an instance: its claim (and so its tables), Application, the worker's access to it, and namespace. */
export async function deleteInstance(kube: KubeClients, instance: string): Promise<void> {
  await getOrUndefined(kube.custom.deleteNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` }));
  await getOrUndefined(kube.custom.deleteNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` }));
  await revokeWorkerAccess(kube, instance);
  await getOrUndefined(kube.core.deleteNamespace({ name: instance }));
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
