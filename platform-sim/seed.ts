/**
 * Seeds one platform instance into the local cluster and DynamoDB, the way `make deploy-instance`
 * and Argo CD leave it: the namespace, the runbook worker's access to it (deploy/instance-rbac.yaml,
 * which the platform ships with each instance), the Argo CD Application following the platform
 * repository (platform-sim/platform-repo.ts), which the real application controller syncs (the
 * Deployments, CronJob and ConfigMap come from that sync), the Deployments scaled as the instance
 * runs them, and the DynamoDB claim whose tables Crossplane and the provider-aws Table controller create and the seed then fills.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KubeClients } from '../activities/kubernetes/client';
import { getOrUndefined, isConflict, MERGE_PATCH } from '../activities/kubernetes/client';
import { argoApplicationName, instanceTableNames } from '../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, conditionStatus, DYNAMODB_CLAIM, FRONTEND_DEPLOYMENT, INSTANCE_LABEL } from '../common/platform';
import type { Application, DynamoDbClaim, HistoryEntry, ManagementAction } from '../common/platform';
import { DEFAULT_SEED_SIZES, seedItems, writeItems } from '../scripts/seed/aws';
import type { SeedSizes } from '../scripts/seed/aws';
import { INSTANCE_PATH, PART_OF_LABEL, PLATFORM, PLATFORM_BRANCH, platformRepo } from './platform-repo';
import { grantWorkerAccess, revokeWorkerAccess } from './worker-access';

export { SEEDED_SECRETS } from './platform-repo';

/** The AppProject the stack creates for instances (scripts/stack/argocd/up.sh): this repository, instance namespaces only. */
export const PLATFORM_PROJECT = 'virtual-coffee';

/** The instance's deployment history, oldest first; the last is what runs now (the branch's head): the releases' commits. */
export function seededRevisions(): readonly [string, string, string] {
  const [oldest, previous, current] = platformRepo().releases;
  if (!oldest || !previous || !current) throw new Error('the platform repository has fewer than three releases');
  return [oldest, previous, current];
}

const DAY_MS = 86_400_000;

export interface SeedOptions {
  sizes?: SeedSizes;
  /** Automated sync with self-heal (the platform's default) or manual sync. */
  automatedSync?: boolean;
  replicas?: { api: number; frontend: number };
  /**
   * Commits deployed before the branch's head, oldest first (default: the releases before it). Argo CD
   * records history only for syncs it ran, so these entries are written as it records them, a day
   * apart; the head is then synced for real and appended by the controller.
   */
  earlierRevisions?: readonly string[];
  /** The branch the Application follows (default main). */
  branch?: string;
  /** Wait for pods, tables and rows (default true); the first sync is always waited for. */
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

/** Creates an object unless it exists; true if it was created. */
async function createOrKeep(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (!isConflict(err)) throw err;
    return false;
  }
}

export async function seedInstance(
  kube: KubeClients,
  dynamodb: DynamoDBClient,
  instance: string,
  options: SeedOptions = {},
): Promise<SeededInstance> {
  const { sizes = DEFAULT_SEED_SIZES, automatedSync = true, replicas = { api: 2, frontend: 1 }, wait = true, workerAccess = true } = options;
  const repo = platformRepo();
  const branch = options.branch ?? PLATFORM_BRANCH;
  const head = repo.branchHead(branch);
  const earlier = options.earlierRevisions ?? repo.releases.slice(0, -1);
  const labels = { [PART_OF_LABEL]: PLATFORM, [INSTANCE_LABEL]: instance };

  await createOrKeep(() => kube.core.createNamespace({ body: { metadata: { name: instance, labels } } }));
  // The platform ships the worker's access with the instance, once its namespace exists.
  if (workerAccess) await grantWorkerAccess(kube, instance);
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
  const claim: DynamoDbClaim = {
    apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`,
    kind: DYNAMODB_CLAIM.kind,
    metadata: { name: `${instance}-dynamodb`, namespace: instance, labels },
    spec: claimSpec,
  };
  await createOrKeep(() => kube.custom.createNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, body: claim }));

  const source = { repoURL: repo.url, path: INSTANCE_PATH, targetRevision: branch };
  const start = Date.now() - (earlier.length + 1) * DAY_MS;
  const history: HistoryEntry[] = earlier.map((revision, id) => ({
    id,
    revision,
    deployStartedAt: new Date(start + id * DAY_MS).toISOString().replace(/\.\d+Z$/, 'Z'),
    deployedAt: new Date(start + id * DAY_MS + 42_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    source,
    initiatedBy: { automated: true },
  }));
  const app: Application = {
    apiVersion: `${APPLICATION.group}/${APPLICATION.version}`,
    kind: APPLICATION.kind,
    metadata: { name: argoApplicationName(instance), namespace: ARGOCD_NAMESPACE, labels: { [INSTANCE_LABEL]: instance } },
    spec: {
      project: PLATFORM_PROJECT,
      destination: { server: 'https://kubernetes.default.svc', namespace: instance },
      source,
      ...(automatedSync ? { syncPolicy: { automated: { prune: true, selfHeal: true } } } : {}),
    },
    // Without automated sync, someone deploys the head by hand, as `argocd app sync` does.
    ...(automatedSync ? {} : { operation: { sync: { revision: head }, initiatedBy: { username: 'platform-team' }, info: [{ name: 'Reason', value: 'deploy' }] } }),
    status: { history },
  };
  const created = await createOrKeep(() => kube.custom.createNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, body: app }));
  // Seeding again (make seed) leaves an existing Application as it is, rolled back or not.
  if (created) {
    await waitFor(`Argo CD to sync ${app.metadata.name} to ${head.slice(0, 12)}`, async () => {
    const found = (await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: app.metadata.name })) as Application;
    const op = found.status?.operationState;
    if (op && (op.phase === 'Failed' || op.phase === 'Error')) throw new SeedError(`the first sync of ${app.metadata.name} failed: ${op.message ?? op.phase}`);
    return op?.phase === 'Succeeded' && op.syncResult?.revision === head;
    });
  }
  // Replicas are not in git (as with an autoscaler): the instance's own.
  for (const [name, count] of [[API_DEPLOYMENT, replicas.api], [FRONTEND_DEPLOYMENT, replicas.frontend]] as const) {
    await kube.apps.patchNamespacedDeployment({ name, namespace: instance, body: { spec: { replicas: count } } }, MERGE_PATCH);
  }

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
    await waitFor(`Deployments of ${instance} available and ${app.metadata.name} Healthy`, async () => {
      for (const name of [API_DEPLOYMENT, FRONTEND_DEPLOYMENT]) {
        const d = await kube.apps.readNamespacedDeployment({ name, namespace: instance });
        if ((d.status?.availableReplicas ?? 0) < (d.spec?.replicas ?? 1) || (d.status?.replicas ?? 0) > (d.spec?.replicas ?? 1)) return false;
      }
      const found = (await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: app.metadata.name })) as Application;
      return found.status?.health?.status === 'Healthy' && found.status.sync?.status === 'Synced';
    });
  }
  return { instance, revisions: [...earlier, head], items };
}

/** Removes an instance: its Application (so nothing syncs it any more), claim (and so its tables), the worker's access to it, and namespace. */
export async function deleteInstance(kube: KubeClients, instance: string): Promise<void> {
  await getOrUndefined(kube.custom.deleteNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: argoApplicationName(instance) }));
  await getOrUndefined(kube.custom.deleteNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` }));
  await revokeWorkerAccess(kube, instance);
  await getOrUndefined(kube.core.deleteNamespace({ name: instance }));
}

/** A seed that cannot succeed: not worth waiting out. */
class SeedError extends Error {
  override readonly name = 'SeedError';
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await check().catch((err: unknown) => {
      if (err instanceof SeedError) throw err;
      return false;
    });
    if (done) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
