/**
 * What client and worker share: task queue, workflow IDs, search attributes, inputs and results.
 * Pure code: safe to import from workflows.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TASK_QUEUE = 'vcp-runbooks';

export const RUNBOOK_NAME = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const RUNBOOK_INSTANCE = defineSearchAttributeKey('RunbookInstance', SearchAttributeType.KEYWORD);
export const RUNBOOK_STATUS = defineSearchAttributeKey('RunbookStatus', SearchAttributeType.KEYWORD);
export const RUNBOOK_STEP = defineSearchAttributeKey('RunbookStep', SearchAttributeType.KEYWORD);
/** For alert-started runs: the alert episode (fingerprint + startsAt digest) that started it. */
export const RUNBOOK_TRIGGER = defineSearchAttributeKey('RunbookTrigger', SearchAttributeType.KEYWORD);

/** Every search attribute the workflows set; the stack and `register-search-attributes` create these. */
export const SEARCH_ATTRIBUTES = [RUNBOOK_NAME, RUNBOOK_INSTANCE, RUNBOOK_STATUS, RUNBOOK_STEP, RUNBOOK_TRIGGER] as const;

export const RUNBOOKS = {
  instanceStatus: 'instance-status',
  rollback: 'rollback',
  unpin: 'unpin',
  diagnosticBundle: 'diagnostic-bundle',
  dynamodbRecovery: 'dynamodb-recovery',
  dynamodbExport: 'dynamodb-export',
  dynamodbImport: 'dynamodb-import',
} as const;

/**
 * A status check is read-only, so concurrent requests for one instance can share a run:
 * the ID is the business key and callers attach to a running one.
 */
export function instanceStatusWorkflowId(instance: string): string {
  return `${RUNBOOKS.instanceStatus}/${instance}`;
}

export interface InstanceStatusInput {
  instance: string;
}

export interface TableStatus {
  tableName: string;
  exists: boolean;
  /** DynamoDB's TableStatus (ACTIVE, CREATING, ...) when the table exists. */
  status?: string;
  /** Counted by a paginated Scan: DescribeTable's ItemCount is hours stale on AWS. */
  itemCount?: number;
}

export interface BackupBucketStatus {
  bucket: string;
  exists: boolean;
  versioning?: string;
  region?: string;
}

export interface ApplicationStatus {
  name: string;
  exists: boolean;
  targetRevision?: string;
  syncedRevision?: string;
  syncStatus?: string;
  health?: string;
  automatedSync?: boolean;
  selfHeal?: boolean;
  lastOperation?: { phase: string; revision?: string; startedAt: string; finishedAt?: string };
}

export interface DeploymentStatus {
  name: string;
  exists: boolean;
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
  /** Every desired replica is updated and available. */
  available?: boolean;
  images?: string[];
}

export interface InstanceStatusReport {
  instance: string;
  checkedAt: string;
  application: ApplicationStatus;
  deployments: DeploymentStatus[];
  tables: TableStatus[];
  backupBucket: BackupBucketStatus;
  /** Human-readable findings: missing tables, tables not ACTIVE, a missing bucket. */
  problems: string[];
  healthy: boolean;
}
