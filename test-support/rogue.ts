/** Runs test-support/workflows/rogue.ts under a product workflow type: its attempts call destructive activities with no approval. */
import type { Client } from '@temporalio/client';
import { destructiveWorkflowId } from '../common/workflows';
import { rogueAttemptsSignal } from './workflows/rogue';
import type { RogueAttempt } from './workflows/rogue';

export async function rogueAttempts(client: Client, taskQueue: string, workflowType: string, instance: string, attempts: RogueAttempt[]): Promise<{ label: string; outcome: string }[]> {
  const handle = await client.workflow.start(workflowType, {
    taskQueue,
    workflowId: destructiveWorkflowId(instance),
    args: [{ instance, options: { requestedBy: { user: 'bob', via: 'test' } } }],
  });
  await handle.signal(rogueAttemptsSignal, attempts);
  return (await handle.result()) as { label: string; outcome: string }[];
}
