/**
 * deploy/worker-iam-policy.json grants the worker exactly the AWS actions its code calls, scoped as
 * the README says. The calls are read from the source (every `new …Command(` and `new Upload(` in
 * activities/ and worker/), so a new call without its permission fails here, not as AccessDenied in
 * production at 3 a.m.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config';

const root = path.join(__dirname, '..', '..');

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
}
const policy = JSON.parse(readFileSync(path.join(root, 'deploy', 'worker-iam-policy.json'), 'utf8')) as { Version: string; Statement: Statement[] };
const list = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

/**
 * The IAM actions each SDK call needs (Service Authorization Reference: "Actions defined by Amazon
 * DynamoDB", "… by Amazon S3"). GetCallerIdentity needs none: STS always answers it.
 */
const ACTIONS_OF_CALL: Record<string, string[]> = {
  BatchGetItemCommand: ['dynamodb:BatchGetItem'],
  BatchWriteItemCommand: ['dynamodb:BatchWriteItem'],
  CreateBackupCommand: ['dynamodb:CreateBackup'],
  CreateTableCommand: ['dynamodb:CreateTable'],
  DeleteTableCommand: ['dynamodb:DeleteTable'],
  DescribeContinuousBackupsCommand: ['dynamodb:DescribeContinuousBackups'],
  DescribeExportCommand: ['dynamodb:DescribeExport'],
  DescribeTableCommand: ['dynamodb:DescribeTable'],
  DescribeTimeToLiveCommand: ['dynamodb:DescribeTimeToLive'],
  // DynamoDB writes the export into S3 with the caller's permissions.
  ExportTableToPointInTimeCommand: ['dynamodb:ExportTableToPointInTime', 's3:PutObject', 's3:PutObjectAcl', 's3:AbortMultipartUpload'],
  ListTagsOfResourceCommand: ['dynamodb:ListTagsOfResource'],
  ScanCommand: ['dynamodb:Scan'],
  TagResourceCommand: ['dynamodb:TagResource'],
  UpdateContinuousBackupsCommand: ['dynamodb:UpdateContinuousBackups'],
  UpdateTimeToLiveCommand: ['dynamodb:UpdateTimeToLive'],
  GetCallerIdentityCommand: [],
  DeleteObjectsCommand: ['s3:DeleteObject'],
  GetBucketLocationCommand: ['s3:GetBucketLocation'],
  GetBucketVersioningCommand: ['s3:GetBucketVersioning'],
  GetObjectCommand: ['s3:GetObject'],
  HeadBucketCommand: ['s3:ListBucket'],
  ListObjectsV2Command: ['s3:ListBucket'],
  PutObjectCommand: ['s3:PutObject'],
  // @aws-sdk/lib-storage: a multipart upload, aborted on failure.
  Upload: ['s3:PutObject', 's3:AbortMultipartUpload'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Every SDK call the worker's code makes, by the class it constructs. */
function callsInWorkerCode(): Set<string> {
  const calls = new Set<string>();
  for (const file of [...sourceFiles('activities'), ...sourceFiles('worker')]) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bnew (\w+Command|Upload)\(/g)) calls.add(match[1]!);
  }
  return calls;
}

function allowed(action: string): Statement[] {
  return policy.Statement.filter((s) => s.Effect === 'Allow' && list(s.Action).includes(action));
}

describe('deploy/worker-iam-policy.json', () => {
  it('knows the IAM actions of every AWS call the worker makes', () => {
    const unknown = [...callsInWorkerCode()].filter((call) => !(call in ACTIONS_OF_CALL));
    expect(unknown, 'a new AWS call: add its IAM action to ACTIONS_OF_CALL and to the policy').toEqual([]);
  });

  it('grants exactly the actions the worker calls: none missing, none unused', () => {
    const needed = new Set([...callsInWorkerCode()].flatMap((call) => ACTIONS_OF_CALL[call] ?? []));
    const granted = new Set(policy.Statement.flatMap((s) => list(s.Action)));
    expect([...granted].sort()).toEqual([...needed].sort());
  });

  it('creates tables only as drill scratch tables, and deletes objects only under the backups', () => {
    expect(allowed('dynamodb:CreateTable').flatMap((s) => list(s.Resource))).toEqual(['arn:aws:dynamodb:*:*:table/drill-*']);
    expect(allowed('s3:DeleteObject').flatMap((s) => list(s.Resource))).toEqual([`arn:aws:s3:::${config.aws.backupBucket}/dynamodb-backups/*`]);
    expect(allowed('s3:PutObject').flatMap((s) => list(s.Resource)).sort()).toEqual(
      ['audit', 'diagnostics', 'dynamodb-backups'].map((prefix) => `arn:aws:s3:::${config.aws.backupBucket}/${prefix}/*`),
    );
  });

  it('names the default backup bucket and no wildcard action or Deny', () => {
    const resources = policy.Statement.flatMap((s) => list(s.Resource)).filter((r) => r.startsWith('arn:aws:s3:::'));
    expect(resources.every((r) => r.startsWith(`arn:aws:s3:::${config.aws.backupBucket}`))).toBe(true);
    expect(policy.Statement.flatMap((s) => list(s.Action)).filter((a) => a.includes('*'))).toEqual([]);
    expect(policy.Statement.map((s) => s.Effect)).not.toContain('Deny');
    expect(policy.Version).toBe('2012-10-17');
  });
});

const config = loadConfig({});
