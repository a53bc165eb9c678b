/**
 * The instance-status workflow after a careless change: the same four reads, but the backup bucket
 * is checked first. Harmless for a new run; a run recorded with the old order cannot continue on it.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../activities';
import type { InstanceStatusInput } from '../../../common/instance-status';

const { readApplicationStatus, describeDeployments, describeInstanceTables, checkBackupBucket } = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes' });

export async function instanceStatus(input: InstanceStatusInput): Promise<unknown> {
  const backupBucket = await checkBackupBucket();
  const [application, deployments, tables] = await Promise.all([readApplicationStatus(input.instance), describeDeployments(input.instance), describeInstanceTables(input.instance)]);
  return { application, deployments, tables, backupBucket };
}
