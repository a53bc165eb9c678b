/**
 * Reads of the Temporal server itself: which run holds an instance's destructive lock. The lock is a
 * workflow ID (`destructive/<instance>`, common/workflows.ts), so the server is the one source of truth;
 * the activity asks it through the worker's own client (as the approval guard reads start events).
 */
import { Context } from '@temporalio/activity';
import type { Client, WorkflowExecutionDescription, WorkflowExecutionInfo } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { InstanceLockState, LockHolder } from '../../common/backup-schedule';
import { RUNBOOK_NAME } from '../../common/definitions';
import { validateInstanceName } from '../../common/instance';
import { destructiveWorkflowId } from '../../common/workflows';

function holderOf(run: WorkflowExecutionInfo | WorkflowExecutionDescription): LockHolder {
  return {
    workflowId: run.workflowId,
    runId: run.runId,
    runbook: run.typedSearchAttributes.get(RUNBOOK_NAME) ?? run.type,
    startedAt: run.startTime.toISOString(),
    status: run.status.name,
  };
}

async function currentHolder(client: Client, lockId: string): Promise<LockHolder | undefined> {
  try {
    const run = await client.workflow.getHandle(lockId).describe();
    return run.status.name === 'RUNNING' ? holderOf(run) : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Runs under the lock started at or after `since` (visibility: eventually consistent, within a second on the server). */
async function startedSince(client: Client, lockId: string, since: string): Promise<LockHolder[]> {
  const runs: LockHolder[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${lockId}' AND StartTime >= '${new Date(since).toISOString()}'` })) runs.push(holderOf(run));
  return runs;
}

export function createInstanceLockActivities() {
  return {
    /**
     * Which run holds the instance's destructive lock now, and (with `since`) which runs took it since
     * then. Read-only; a scheduled backup asks before and after its export, and yields.
     */
    async instanceLockState(instance: string, since?: string): Promise<InstanceLockState> {
      const client = Context.current().client;
      const lockId = destructiveWorkflowId(validateInstanceName(instance));
      const [holder, since_] = await Promise.all([currentHolder(client, lockId), since ? startedSince(client, lockId, since) : Promise.resolve([])]);
      return { ...(holder ? { holder } : {}), startedSince: since_ };
    },
  };
}
