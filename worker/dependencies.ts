import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { parseApprovalConfig } from '../common/approval-config';
import type { ApprovalConfig } from '../common/runbook';
import type { ActivityDeps } from '../activities';
import { createKubeClients, loadKubeConfig } from '../activities/kubernetes/client';
import type { RunbooksConfig } from '../common/config';

/**
 * Builds the real clients the activities use. Endpoints and credentials come from the AWS SDK's own
 * default chain (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, profiles, IRSA, ...); Kubernetes from
 * KUBECONFIG, in-cluster config or ~/.kube/config.
 */
export function createActivityDeps(config: RunbooksConfig): ActivityDeps & { close: () => void } {
  // Without a request timeout a call on a connection the server dropped can wait forever; the SDK
  // only warns at the timeout unless told to fail the call (then the SDK or Temporal retries it).
  const requestHandler = { connectionTimeout: 5_000, requestTimeout: 60_000, throwOnRequestTimeout: true };
  // Every DynamoDB call runs in an activity, under the activity's retry policy, and the data path
  // (scans, batch writes and reads) also under untilNotThrottled's backoff (aws/dynamodb-retry.ts):
  // the SDK's own three attempts would nest a third retry loop inside those two.
  const dynamodb = new DynamoDBClient({ region: config.aws.region, requestHandler, maxAttempts: 1 });
  const s3 = new S3Client({ region: config.aws.region, forcePathStyle: config.aws.s3ForcePathStyle, requestHandler });
  const sts = new STSClient({ region: config.aws.region, requestHandler, maxAttempts: 1 });
  const kube = createKubeClients(loadKubeConfig(config.kubernetes.kubeconfig));
  return {
    kube,
    approvals: watchApprovalConfig(config.approvals.approversFile),
    notifyWebhookUrl: config.approvals.notifyWebhookUrl,
    dynamodb,
    s3,
    sts,
    backupBucket: config.aws.backupBucket,
    expectedBucketOwner: config.aws.expectedBucketOwner,
    allowedSourceBuckets: config.aws.allowedSourceBuckets,
    stagingDir: config.worker.stagingDir ?? path.join(tmpdir(), 'vcp-runbooks-staging'),
    close: () => {
      dynamodb.destroy();
      s3.destroy();
      sts.destroy();
      kube.close();
    },
  };
}

/**
 * The approvers file as it is now: read at start (a bad file stops the worker), then read again
 * whenever it changes on disk (a mounted ConfigMap or Secret is replaced in place), so a key removed
 * from the keyring stops counting for runs already waiting. A file that turns invalid refuses every
 * approval-related call with its problems until it is fixed, rather than keeping the old keyring.
 */
function watchApprovalConfig(file: string | undefined): () => ApprovalConfig {
  if (!file) {
    const none = parseApprovalConfig({});
    return () => none;
  }
  let seen = fileVersion(file);
  let current = loadApprovalConfig(file);
  return () => {
    const version = fileVersion(file);
    if (version !== seen) {
      current = loadApprovalConfig(file);
      seen = version;
    }
    return current;
  };
}

function fileVersion(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** Reads the approvers file; without one, nobody can approve (unless a policy allows unsigned approvals). */
function loadApprovalConfig(file: string | undefined): ApprovalConfig {
  if (!file) return parseApprovalConfig({});
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the approvers file ${file} (VCP_APPROVERS_FILE)`, { cause: err });
  }
  return parseApprovalConfig(json, `approvers file ${file}`);
}
