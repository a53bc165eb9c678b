/** Starting runbooks from a client: the IDs, queue and search attributes each start needs. */
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import {
  instanceStatusWorkflowId,
  RUNBOOK_INSTANCE,
  RUNBOOK_NAME,
  RUNBOOKS,
} from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import type { instanceStatus } from '../workflows';

export async function startInstanceStatus(
  client: Client,
  taskQueue: string,
  instanceInput: string,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof instanceStatus>> {
  // Validate at the edge too, so a typo fails before anything reaches the server.
  const instance = validateInstanceName(instanceInput);
  return client.workflow.start<typeof instanceStatus>('instanceStatus', {
    taskQueue,
    workflowId: instanceStatusWorkflowId(instance),
    // Read-only: a second request while one runs attaches to it instead of starting another.
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    args: [{ instance }],
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: RUNBOOKS.instanceStatus },
      { key: RUNBOOK_INSTANCE, value: instance },
    ],
    staticSummary: `Instance status of ${instance}`,
  });
}
