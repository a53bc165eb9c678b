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

/** The instance's Crossplane DynamoDB claim as the guide's check-crossplane-status reads it: its Ready and Synced conditions. */
export interface ClaimStatus {
  name: string;
  exists: boolean;
  ready?: 'True' | 'False' | 'Unknown';
  synced?: 'True' | 'False' | 'Unknown';
  /** The message of the first of those conditions that is not True, when it has one. */
  message?: string;
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

// ---------------------------------------------------------------------------------------------
// Problems: one wording for instance status and fleet status alike.

export function applicationProblems(application: ApplicationStatus): string[] {
  if (!application.exists) return [`Argo CD Application ${application.name} does not exist`];
  return [
    ...(application.syncStatus !== 'Synced' ? [`Application ${application.name} is ${application.syncStatus}`] : []),
    ...(application.health !== 'Healthy' ? [`Application ${application.name} health is ${application.health}`] : []),
  ];
}

export function deploymentProblems(deployments: DeploymentStatus[]): string[] {
  return [
    ...deployments.filter((d) => !d.exists).map((d) => `Deployment ${d.name} does not exist`),
    ...deployments.filter((d) => d.exists && !d.available).map((d) => `Deployment ${d.name} has ${d.availableReplicas}/${d.replicas} replicas available`),
  ];
}

export function tableProblems(tables: TableStatus[]): string[] {
  return [
    ...tables.filter((t) => !t.exists).map((t) => `table ${t.tableName} does not exist`),
    ...tables.filter((t) => t.exists && t.status !== 'ACTIVE').map((t) => `table ${t.tableName} is ${t.status}`),
  ];
}

export function claimProblems(claim: ClaimStatus): string[] {
  if (!claim.exists) return [`DynamoDB claim ${claim.name} does not exist`];
  const notTrue = [
    ...(claim.ready !== 'True' ? [`Ready is ${claim.ready ?? 'Unknown'}`] : []),
    ...(claim.synced !== 'True' ? [`Synced is ${claim.synced ?? 'Unknown'}`] : []),
  ];
  return notTrue.length ? [`DynamoDB claim ${claim.name}: ${notTrue.join(', ')}${claim.message ? ` (${claim.message})` : ''}`] : [];
}
