/**
 * The one typed config loader for worker, CLI and tests. Reads the ecosystem's own variables
 * (TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE via @temporalio/envconfig, KUBECONFIG, the AWS default chain
 * and AWS_ENDPOINT_URL*) plus a few VCP_* settings, and fails fast with every problem at once.
 * Not for workflow code: it reads the environment.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { TASK_QUEUE } from './definitions';

export interface RunbooksConfig {
  temporal: {
    connection: NativeConnectionOptions;
    namespace: string;
    taskQueue: string;
  };
  aws: {
    region: string;
    /** Where backups, bundles and audit records go. */
    backupBucket: string;
    /** Sent as ExpectedBucketOwner so a bucket taken over by another account is refused. */
    expectedBucketOwner?: string;
    /** Buckets besides backupBucket that imports and resumes may read a backup from; none by default. */
    allowedSourceBuckets: string[];
    /** Emulators (moto) serve S3 path-style only. */
    s3ForcePathStyle: boolean;
  };
  kubernetes: {
    /** Path to a kubeconfig; when absent, in-cluster config or ~/.kube/config is used. */
    kubeconfig?: string;
  };
  approvals: {
    /** JSON file with the approvers' keyring and approval policies (common/approval-config.ts). */
    approversFile?: string;
    /** Slack-compatible webhook for approval requests, reminders and outcomes; off when unset. */
    notifyWebhookUrl?: string;
  };
  worker: {
    /** host:port for the SDK runtime's Prometheus endpoint; unset disables it. */
    metricsBindAddress?: string;
    /** Absolute folder for diagnostic bundles' staged files; the system temp folder when unset. */
    stagingDir?: string;
    /**
     * Worker Versioning: the Worker Deployment this worker serves a version of, and that version's
     * build ID (unset: derived from the workflow bundle, worker/workflow-bundle.ts). Runs stay on the
     * version they started on. Unset: an unversioned worker (local stack, tests).
     */
    deployment?: { name: string; buildId?: string };
  };
}

/** Every environment variable the loader reads (besides the AWS SDK's own chain). */
export const CONFIG_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
  'VCP_TASK_QUEUE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_S3',
  'VCP_BACKUP_BUCKET',
  'VCP_EXPECTED_BUCKET_OWNER',
  'VCP_ALLOWED_SOURCE_BUCKETS',
  'VCP_S3_FORCE_PATH_STYLE',
  'KUBECONFIG',
  'VCP_APPROVERS_FILE',
  'VCP_NOTIFY_WEBHOOK_URL',
  'VCP_METRICS_ADDRESS',
  'VCP_STAGING_DIR',
  'VCP_WORKER_DEPLOYMENT',
  'VCP_BUILD_ID',
] as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const HOST_PORT = /^[^:\s]+:\d{1,5}$/;
/**
 * Temporal refuses '.' and ':' in deployment names and reserves a leading '__'; both names also become
 * Kubernetes label values and name suffixes in deploy/ (at most 63 characters).
 */
const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const BUILD_ID = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

export function loadConfig(env: Env = process.env): RunbooksConfig {
  const problems: string[] = [];
  const definedEnv = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );

  let connection: NativeConnectionOptions = {};
  let namespace = 'default';
  try {
    const loaded = loadClientConnectConfig({ overrideEnvVars: definedEnv, disableFile: !env.TEMPORAL_CONFIG_FILE });
    connection = loaded.connectionOptions;
    namespace = loaded.namespace ?? namespace;
  } catch (err) {
    problems.push(`Temporal client config: ${err instanceof Error ? err.message : String(err)}`);
  }
  connection.address ??= DEFAULT_TEMPORAL_ADDRESS;

  const backupBucket = env.VCP_BACKUP_BUCKET ?? 'vcp-runbooks-backups';
  if (!BUCKET_NAME.test(backupBucket)) {
    problems.push(`VCP_BACKUP_BUCKET=${JSON.stringify(backupBucket)} is not a valid S3 bucket name`);
  }
  const expectedBucketOwner = env.VCP_EXPECTED_BUCKET_OWNER || undefined;
  if (expectedBucketOwner !== undefined && !/^\d{12}$/.test(expectedBucketOwner)) {
    problems.push('VCP_EXPECTED_BUCKET_OWNER must be a 12-digit AWS account ID');
  }

  const allowedSourceBuckets = (env.VCP_ALLOWED_SOURCE_BUCKETS ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  for (const bucket of allowedSourceBuckets) {
    if (!BUCKET_NAME.test(bucket)) problems.push(`VCP_ALLOWED_SOURCE_BUCKETS: ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  }

  const metricsBindAddress = env.VCP_METRICS_ADDRESS || undefined;
  if (metricsBindAddress !== undefined && !HOST_PORT.test(metricsBindAddress)) {
    problems.push(`VCP_METRICS_ADDRESS=${JSON.stringify(metricsBindAddress)} must look like host:port`);
  }

  const stagingDir = env.VCP_STAGING_DIR || undefined;
  if (stagingDir !== undefined && !stagingDir.startsWith('/')) {
    problems.push(`VCP_STAGING_DIR=${JSON.stringify(stagingDir)} must be an absolute path`);
  }

  const deploymentName = env.VCP_WORKER_DEPLOYMENT || undefined;
  const buildId = env.VCP_BUILD_ID || undefined;
  if (deploymentName !== undefined && !DEPLOYMENT_NAME.test(deploymentName)) {
    problems.push(`VCP_WORKER_DEPLOYMENT=${JSON.stringify(deploymentName)} must be 1-63 letters, digits, '-' or '_', starting with a letter or digit`);
  }
  if (buildId !== undefined && !BUILD_ID.test(buildId)) {
    problems.push(`VCP_BUILD_ID=${JSON.stringify(buildId)} must be 1-63 letters, digits, '.', '-' or '_', starting and ending with a letter or digit`);
  }
  if (buildId !== undefined && deploymentName === undefined) {
    problems.push('VCP_BUILD_ID is set but VCP_WORKER_DEPLOYMENT is not: a build ID only means something within a Worker Deployment');
  }

  const pathStyle = env.VCP_S3_FORCE_PATH_STYLE;
  if (pathStyle !== undefined && pathStyle !== 'true' && pathStyle !== 'false') {
    problems.push('VCP_S3_FORCE_PATH_STYLE must be "true" or "false"');
  }
  const notifyWebhookUrl = env.VCP_NOTIFY_WEBHOOK_URL || undefined;
  if (notifyWebhookUrl !== undefined && !/^https?:\/\//.test(notifyWebhookUrl)) {
    problems.push('VCP_NOTIFY_WEBHOOK_URL must be an http(s) URL');
  }
  const usesEmulatorEndpoint = Boolean(env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_S3);

  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return {
    temporal: { connection, namespace, taskQueue: env.VCP_TASK_QUEUE || TASK_QUEUE },
    aws: {
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-west-2',
      backupBucket,
      expectedBucketOwner,
      allowedSourceBuckets,
      s3ForcePathStyle: pathStyle === undefined ? usesEmulatorEndpoint : pathStyle === 'true',
    },
    kubernetes: { kubeconfig: env.KUBECONFIG || undefined },
    approvals: { approversFile: env.VCP_APPROVERS_FILE || undefined, notifyWebhookUrl },
    worker: { metricsBindAddress, stagingDir, deployment: deploymentName === undefined ? undefined : { name: deploymentName, buildId } },
  };
}
