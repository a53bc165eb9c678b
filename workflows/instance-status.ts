/**
 * The guide's "Check overall instance status" (make check-instance-status), read-only: the Argo CD
 * Application's sync and health, the Deployments' readiness, the DynamoDB tables and the backup
 * bucket, as one typed report.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { applicationProblems, deploymentProblems, tableProblems } from '../common/instance-status';
import type { InstanceStatusInput, InstanceStatusReport } from '../common/instance-status';
import { validateInstanceName } from '../common/instance';
import { validateInput } from './runbook/validation';

const { readApplicationStatus, describeDeployments, describeInstanceTables, checkBackupBucket } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInputError'] },
});

export async function instanceStatus(input: InstanceStatusInput): Promise<InstanceStatusReport> {
  const instance = validateInput(() => validateInstanceName(input.instance));

  const [application, deployments, tables, backupBucket] = await Promise.all([
    readApplicationStatus(instance),
    describeDeployments(instance),
    describeInstanceTables(instance),
    checkBackupBucket(),
  ]);

  const problems = [
    ...applicationProblems(application),
    ...deploymentProblems(deployments),
    ...tableProblems(tables),
    ...(backupBucket.exists ? [] : [`backup bucket ${backupBucket.bucket} does not exist`]),
  ];
  return {
    instance,
    // Workflow time is replay-safe.
    checkedAt: new Date().toISOString(),
    application,
    deployments,
    tables,
    backupBucket,
    problems,
    healthy: problems.length === 0,
  };
}
