/** The instance-status workflow with one read dropped: the recorded run scheduled an activity this code no longer does. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../activities';
import type { InstanceStatusInput } from '../../../common/instance-status';

const { readApplicationStatus, describeDeployments, describeInstanceTables } = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes' });

export async function instanceStatus(input: InstanceStatusInput): Promise<unknown> {
  const [application, deployments, tables] = await Promise.all([readApplicationStatus(input.instance), describeDeployments(input.instance), describeInstanceTables(input.instance)]);
  return { application, deployments, tables };
}
