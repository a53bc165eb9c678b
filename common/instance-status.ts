/** The instance status runbook's input and report (the guide's "Check overall instance status"). */

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
