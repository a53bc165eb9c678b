/**
 * The platform's Kubernetes resources as the runbooks see them: API coordinates and the parts of
 * each object they read. Pure code.
 */
export const ARGOCD_NAMESPACE = 'argocd';

export const APPLICATION = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications', kind: 'Application' } as const;
export const DYNAMODB_CLAIM = {
  group: 'virtualcoffee.io',
  version: 'v1alpha1',
  plural: 'virtualcoffeedynamodbclaims',
  kind: 'VirtualCoffeeDynamoDBClaim',
} as const;
export const DYNAMODB_COMPOSITE = {
  group: 'virtualcoffee.io',
  version: 'v1alpha1',
  plural: 'xvirtualcoffeedynamodbs',
  kind: 'XVirtualCoffeeDynamoDB',
} as const;
/** crossplane-contrib/provider-aws's Table: the one whose ProviderConfig takes an endpoint. */
export const MANAGED_TABLE = { group: 'dynamodb.aws.crossplane.io', version: 'v1alpha1', plural: 'tables', kind: 'Table' } as const;
/** Crossplane's Usage: while one exists, deleting the resource it protects is refused by Crossplane's webhook. */
export const USAGE = { group: 'apiextensions.crossplane.io', version: 'v1beta1', plural: 'usages', kind: 'Usage' } as const;

export const API_DEPLOYMENT = 'virtual-coffee-api';
export const FRONTEND_DEPLOYMENT = 'virtual-coffee-frontend';
export const MATCHING_CRONJOB = 'virtual-coffee-matching-cronjob';
export const CONFIG_MAP = 'virtual-coffee-config';
/** Environment the API cannot start without (its instance, region and tables). */
export const API_REQUIRED_ENV = ['INSTANCE', 'AWS_REGION', 'USERS_TABLE'] as const;
/** The OAuth settings the API reads from the ConfigMap (the guide's "Verify OAuth configuration"). */
export const OAUTH_SETTINGS = ['oauth_provider', 'oauth_client_id', 'oauth_client_secret'] as const;
export const INSTANCE_DEPLOYMENTS = [API_DEPLOYMENT, FRONTEND_DEPLOYMENT] as const;

/** Namespaces of platform instances carry this label. */
export const INSTANCE_LABEL = 'virtualcoffee.io/instance';
export const EXTERNAL_NAME_ANNOTATION = 'crossplane.io/external-name';
/** "true" on a claim, composite or managed resource: Crossplane does not reconcile it, deletion included. */
export const PAUSED_ANNOTATION = 'crossplane.io/paused';
/** "true" on a resource a Usage protects: Crossplane's webhook refuses its deletion. */
export const IN_USE_LABEL = 'crossplane.io/in-use';
export const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
}

interface ApplicationSource {
  repoURL: string;
  path?: string;
  targetRevision?: string;
  chart?: string;
}

interface SyncOperation {
  revision?: string;
  revisions?: string[];
  prune?: boolean;
  source?: ApplicationSource;
}

export interface HistoryEntry {
  id: number;
  revision?: string;
  revisions?: string[];
  deployedAt: string;
  deployStartedAt?: string;
  source?: ApplicationSource;
  initiatedBy?: { username?: string; automated?: boolean };
}

export interface OperationInfo {
  name: string;
  value: string;
}

export interface Operation {
  sync?: SyncOperation;
  initiatedBy?: { username?: string; automated?: boolean };
  info?: OperationInfo[];
  retry?: { limit?: number };
}

export interface OperationState {
  operation: Operation;
  /** Running while a sync (or its retries: then finishedAt is set and retryCount > 0) goes on. */
  phase: 'Running' | 'Terminating' | 'Failed' | 'Error' | 'Succeeded';
  message?: string;
  /** Whole seconds (RFC 3339 without fractions), as Argo CD writes it. */
  startedAt: string;
  finishedAt?: string;
  retryCount?: number;
  syncResult?: { revision: string; revisions?: string[]; source?: ApplicationSource };
}

/** One resource of the Application as Argo CD compared it (status.resources). */
export interface ResourceStatus {
  group?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: 'Synced' | 'OutOfSync' | 'Unknown';
  requiresPruning?: boolean;
  health?: { status?: string; message?: string };
}

export interface Application {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    project: string;
    destination: { server?: string; namespace?: string; name?: string };
    source?: ApplicationSource;
    sources?: ApplicationSource[];
    syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean; enabled?: boolean }; syncOptions?: string[]; retry?: { limit?: number } };
  };
  /** A requested operation; Argo CD clears it when the operation completes. */
  operation?: Operation;
  status?: {
    reconciledAt?: string;
    sync?: { status: 'Synced' | 'OutOfSync' | 'Unknown'; revision?: string; revisions?: string[] };
    health?: { status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown'; message?: string };
    history?: HistoryEntry[];
    operationState?: OperationState;
    /** Errors and warnings of the last reconcile (ComparisonError, InvalidSpecError, SyncError, ...). */
    conditions?: { type: string; message: string; lastTransitionTime?: string }[];
    resources?: ResourceStatus[];
  };
}

/**
 * What the Application last deployed: the newest entry of its history (Argo CD appends one for every
 * sync that succeeded), else the last sync operation's result if it succeeded. Not status.sync.revision,
 * which is the target's revision as resolved at the last refresh, whether or not it was ever synced.
 */
export function deployedRevision(app: Application): string | undefined {
  const newest = (app.status?.history ?? []).reduce<HistoryEntry | undefined>((last, h) => (last === undefined || h.id > last.id ? h : last), undefined);
  if (newest) return newest.revision ?? newest.revisions?.[0];
  const op = app.status?.operationState;
  return op?.phase === 'Succeeded' ? (op.syncResult?.revision ?? op.syncResult?.revisions?.[0]) : undefined;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface DynamoDbClaim {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    parameters: { instance: string; region?: string; deletionPolicy?: 'Delete' | 'Orphan'; managementPolicies?: ManagementAction[] };
    compositeDeletePolicy?: 'Background' | 'Foreground';
    compositionRef?: { name: string };
    resourceRef?: { apiVersion: string; kind: string; name: string };
  };
  status?: { conditions?: Condition[] };
}

export interface DynamoDbComposite {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    parameters: DynamoDbClaim['spec']['parameters'];
    claimRef?: { apiVersion: string; kind: string; name: string; namespace: string };
    resourceRefs?: { apiVersion: string; kind: string; name: string }[];
  };
  status?: { conditions?: Condition[] };
}

/** What Crossplane may do to a managed resource's external resource (crossplane-runtime's ManagementAction). */
export type ManagementAction = 'Observe' | 'Create' | 'Update' | 'Delete' | 'LateInitialize' | '*';

export interface ManagedTable {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta & { generateName?: string };
  spec: {
    deletionPolicy?: 'Delete' | 'Orphan';
    managementPolicies?: ManagementAction[];
    providerConfigRef?: { name: string };
    forProvider: Record<string, unknown>;
  };
  status?: { conditions?: Condition[]; atProvider?: { tableARN?: string; tableStatus?: string } };
}

export interface Usage {
  metadata: ObjectMeta;
  spec: {
    of: { apiVersion: string; kind: string; resourceRef?: { name: string } };
    by?: { apiVersion: string; kind: string; resourceRef?: { name: string } };
    reason?: string;
  };
}

export function conditionStatus(conditions: Condition[] | undefined, type: string): Condition['status'] {
  return conditions?.find((c) => c.type === type)?.status ?? 'Unknown';
}
