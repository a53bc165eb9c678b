/**
 * The guide's "Check overall instance status" (make check-instance-status), read-only:
 * the instance's DynamoDB tables and the backup bucket, as one typed report.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { InstanceStatusInput, InstanceStatusReport } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { validateInput } from './runbook/validation';

const { describeInstanceTables, checkBackupBucket } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInputError'] },
});

export async function instanceStatus(input: InstanceStatusInput): Promise<InstanceStatusReport> {
  const instance = validateInput(() => validateInstanceName(input.instance));

  const [tables, backupBucket] = await Promise.all([describeInstanceTables(instance), checkBackupBucket()]);

  const problems = [
    ...tables.filter((t) => !t.exists).map((t) => `table ${t.tableName} does not exist`),
    ...tables.filter((t) => t.exists && t.status !== 'ACTIVE').map((t) => `table ${t.tableName} is ${t.status}`),
    ...(backupBucket.exists ? [] : [`backup bucket ${backupBucket.bucket} does not exist`]),
  ];
  return {
    instance,
    // Workflow time is replay-safe.
    checkedAt: new Date().toISOString(),
    tables,
    backupBucket,
    problems,
    healthy: problems.length === 0,
  };
}
