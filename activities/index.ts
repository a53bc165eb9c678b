/**
 * Every activity the worker registers, built on injected clients so tests use the same object
 * against the local stack. Workflows see this only as a type (proxyActivities).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { STSClient } from '@aws-sdk/client-sts';
import { createDynamoDbActivities } from './aws/dynamodb';
import { createS3Activities } from './aws/s3';
import { createRunbookActivities } from './runbook';
import type { KubeClients } from './kubernetes/client';
import { createPlatformReadActivities } from './kubernetes/platform';
import { createArgoCdActivities } from './kubernetes/argocd';
import { createDiagnosticsActivities } from './diagnostics/collectors';
import { createArchiveActivities } from './aws/archive';
import { createBackupCatalogActivities } from './aws/backup-catalog';
import { createBackupStagingActivities } from './aws/backup-staging';
import { createDynamoDbBackupActivities } from './aws/dynamodb-backup';
import { createPitrExportActivities } from './aws/dynamodb-pitr-export';
import { createDynamoDbVerifyActivities } from './aws/dynamodb-verify';
import { createDrillActivities } from './aws/dynamodb-drill';
import { createArgoCdSyncPauseActivities } from './kubernetes/argocd-sync-pause';
import { createDynamoDbClaimActivities } from './kubernetes/dynamodb-claim';
import { createWriterActivities } from './kubernetes/writers';
import { createTriageActivities } from './triage/evidence';
import { createDeploymentActivities } from './kubernetes/deployments';
import { createMatchingJobActivities } from './kubernetes/matching-job';
import { createInstanceLockActivities } from './temporal/instance-lock';
import type { ApprovalConfig } from '../common/runbook';
import type { StagingArea } from './diagnostics/staging';
import { guardActivities } from './approval-guard';
import { DESTRUCTIVE_RULES } from './destructive';

export interface ActivityDeps {
  kube: KubeClients;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  /** For triage's caller-identity check; unset, it is not checked. */
  sts?: STSClient;
  backupBucket: string;
  expectedBucketOwner?: string;
  /** Buckets besides the backup bucket that imports and resumes may read backups from (VCP_ALLOWED_SOURCE_BUCKETS). */
  allowedSourceBuckets?: string[];
  /** The keyring and policies, or a function giving them as they are now (the approvers file is re-read when it changes). */
  approvals: ApprovalConfig | (() => ApprovalConfig);
  notifyWebhookUrl?: string;
  /** Where diagnostic bundles stage their files on this worker (VCP_STAGING_DIR). */
  stagingDir: string;
}

/** What one worker process adds to the shared dependencies: its own staging area and task queue. */
export interface WorkerProcessDeps {
  staging: StagingArea;
}

/** Every activity, without the approval guard: what tests of an action itself call. */
export function createUnguardedActivities(deps: ActivityDeps & WorkerProcessDeps) {
  return {
    ...createDynamoDbActivities(deps),
    ...createS3Activities(deps),
    ...createRunbookActivities(deps),
    ...createPlatformReadActivities(deps),
    ...createArgoCdActivities(deps),
    ...createDiagnosticsActivities(deps),
    ...createArchiveActivities(deps),
    ...createDynamoDbBackupActivities(deps),
    ...createBackupStagingActivities(deps),
    // Read-only for the instance: it starts DynamoDB exports into the backup bucket.
    ...createPitrExportActivities(deps),
    ...createBackupCatalogActivities(deps),
    ...createDynamoDbVerifyActivities(deps),
    // Not approval-guarded: a drill writes only scratch tables of its own run, which these activities check themselves.
    ...createDrillActivities(deps),
    ...createArgoCdSyncPauseActivities(deps),
    ...createWriterActivities(deps),
    ...createDynamoDbClaimActivities(deps),
    ...createTriageActivities(deps),
    ...createDeploymentActivities(deps),
    ...createMatchingJobActivities(deps),
    ...createInstanceLockActivities(),
  };
}

/** What the worker registers: destructive activities verify their approval before acting. */
export function createActivities(deps: ActivityDeps & WorkerProcessDeps) {
  return guardActivities(deps.approvals, createUnguardedActivities(deps), DESTRUCTIVE_RULES);
}

export type Activities = ReturnType<typeof createActivities>;
