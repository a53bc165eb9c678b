/**
 * The guide's "Check overall instance status" (make check-instance-status), read-only: the Argo CD
 * Application's sync and health, the Deployments' readiness, the DynamoDB tables and the backup
 * bucket, as one typed report.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
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
    ...(application.exists ? [] : [`Argo CD Application ${application.name} does not exist`]),
    ...(application.exists && application.syncStatus !== 'Synced' ? [`Application ${application.name} is ${application.syncStatus}`] : []),
    ...(application.exists && application.health !== 'Healthy' ? [`Application ${application.name} health is ${application.health}`] : []),
    ...deployments.filter((d) => !d.exists).map((d) => `Deployment ${d.name} does not exist`),
    ...deployments
      .filter((d) => d.exists && !d.available)
      .map((d) => `Deployment ${d.name} has ${d.availableReplicas}/${d.replicas} replicas available`),
    ...tables.filter((t) => !t.exists).map((t) => `table ${t.tableName} does not exist`),
    ...tables.filter((t) => t.exists && t.status !== 'ACTIVE').map((t) => `table ${t.tableName} is ${t.status}`),
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
