/**
 * What triage's analyzers read: one instance's objects as the API servers returned them, log tails,
 * and the AWS side. Built live by an activity (activities/triage/evidence.ts) or from a diagnostic
 * bundle's files (bundle.ts), so the same analyzers diagnose a live instance and a bundle read later.
 * Secrets are never part of it: only whether a referenced Secret exists, when that may be read.
 */
import type { CoreV1Event, V1CronJob, V1Deployment, V1Job, V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { Application, Condition, DynamoDbClaim, DynamoDbComposite, ManagedTable } from '../platform';

/** A container's log tail (newest lines last), redacted. */
export interface LogTail {
  pod: string;
  container: string;
  previous: boolean;
  /** The Job the pod ran for, for matching Jobs' logs. */
  job?: string;
  lines: string[];
}

export interface TableEvidence {
  tableName: string;
  exists: boolean;
  status?: string;
}

/** A Crossplane package (pkg.crossplane.io Provider) with its conditions. */
export interface ProviderEvidence {
  name: string;
  conditions: Condition[];
}

export type CallerIdentity = { ok: true; account?: string; arn?: string } | { ok: false; code: string; message: string };

/** Parts of the evidence that can be absent from a bundle (their collector failed, or an older bundle). */
export type EvidencePart =
  | 'application'
  | 'claim'
  | 'composite'
  | 'crossplane'
  | 'identity'
  | 'workloads'
  | 'cronJob'
  | 'events'
  | 'pvcs'
  | 'networkPolicies'
  | 'configMap'
  | 'configMapNames'
  | 'tables';

export interface TriageEvidence {
  instance: string;
  collectedAt: string;
  /** Undefined when the object does not exist. */
  application?: Application;
  claim?: DynamoDbClaim;
  composite?: DynamoDbComposite;
  managedTables: ManagedTable[];
  /** The claim's CompositeResourceDefinition; `missing` when it does not exist, undefined when not read. */
  xrd?: { name: string; conditions: Condition[] } | 'missing';
  /** Undefined when Crossplane's package API is not installed or not readable. */
  providers?: ProviderEvidence[];
  /** Undefined when not checked (a bundle from before it was collected). */
  callerIdentity?: CallerIdentity;
  deployments: V1Deployment[];
  pods: V1Pod[];
  jobs: V1Job[];
  /** Undefined when the matching CronJob does not exist. */
  cronJob?: V1CronJob;
  events: CoreV1Event[];
  pvcs: V1PersistentVolumeClaim[];
  networkPolicies: V1NetworkPolicy[];
  /** The platform ConfigMap's keys and (redacted) values; undefined when it does not exist. */
  configMap?: Record<string, string>;
  /** Names of the namespace's ConfigMaps and Secrets (Secrets: undefined when they may not be listed). */
  configMapNames: string[];
  secretNames?: string[];
  tables: TableEvidence[];
  logs: LogTail[];
  /** What the worker was not allowed to read (RBAC), as the report shows it. */
  unreadable?: string[];
  /** Parts not read (a bundle without their files): an analyzer never reports them missing. */
  unknown?: EvidencePart[];
}

/** Whether `part` was read: its absence then means the object does not exist. */
export function known(e: TriageEvidence, part: EvidencePart): boolean {
  return !e.unknown?.includes(part);
}

export function condition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function describeCondition(c: Condition): string {
  return `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`;
}

export function objectRef(kind: string, name: string, namespace?: string): string {
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}
