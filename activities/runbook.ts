/** Activities the runbook machinery needs: approval settings, notifications, the audit record in S3. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_APPROVAL_POLICY } from '../common/approval';
import type { ApprovalPolicy } from '../common/approval';
import type { ApprovalConfig, AuditRecord } from '../common/runbook';

export interface RunbookActivityDeps {
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
  approvals: ApprovalConfig | (() => ApprovalConfig);
  /** Slack-compatible incoming webhook; notifications are off when unset. */
  notifyWebhookUrl?: string;
  fetch?: typeof fetch;
}

export interface RunbookNotification {
  event: 'approval-requested' | 'approval-reminder' | 'ended';
  runbook: string;
  instance: string;
  workflowId: string;
  runId: string;
  text: string;
}

export function currentApprovals(source: ApprovalConfig | (() => ApprovalConfig)): ApprovalConfig {
  return typeof source === 'function' ? source() : source;
}

function auditRecordKey(record: Pick<AuditRecord, 'runbook' | 'instance' | 'workflowId' | 'runId'>): string {
  return `audit/${record.runbook}/${record.instance}/${encodeURIComponent(record.workflowId)}/${record.runId}.json`;
}

export function createRunbookActivities(deps: RunbookActivityDeps) {
  const post = deps.fetch ?? fetch;
  return {
    /** The keyring and this runbook's configured approval policy (the floor a start may tighten). */
    loadApprovalConfig(runbook: string): Promise<{ keyring: ApprovalConfig['keyring']; policy: ApprovalPolicy }> {
      const approvals = currentApprovals(deps.approvals);
      const policy = approvals.policies[runbook] ?? approvals.policies.default ?? DEFAULT_APPROVAL_POLICY;
      return Promise.resolve({ keyring: approvals.keyring, policy });
    },

    /** Posts a Slack-compatible message. Delivery is best effort for the runbook but retried by Temporal. */
    async notify(notification: RunbookNotification): Promise<{ sent: boolean }> {
      if (!deps.notifyWebhookUrl) return { sent: false };
      const response = await post(deps.notifyWebhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(notification),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        throw ApplicationFailure.create({
          type: 'NotificationRejected',
          message: `notification webhook answered HTTP ${response.status}`,
          nonRetryable: true,
        });
      }
      if (!response.ok) throw new Error(`notification webhook answered HTTP ${response.status}`);
      return { sent: true };
    },

    /** Writes the audit record to S3 (encrypted, owner-checked) so it outlives workflow retention. */
    async writeAuditRecord(record: AuditRecord): Promise<string> {
      const key = auditRecordKey(record);
      await deps.s3.send(
        new PutObjectCommand({
          Bucket: deps.backupBucket,
          Key: key,
          Body: JSON.stringify(record, null, 2),
          ContentType: 'application/json',
          ServerSideEncryption: 'AES256',
          ExpectedBucketOwner: deps.expectedBucketOwner,
        }),
      );
      return `s3://${deps.backupBucket}/${key}`;
    },
  };
}
