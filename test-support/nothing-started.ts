/**
 * "Nothing started" that can fail. A visibility query for zero runs answers at once, before the server
 * has indexed a start that did happen, so such a check passes whatever the code did. Instead:
 * - IDs a start would have used are described (strongly consistent): none may exist;
 * - for starts whose ID is not known (unique per run), a sentinel run is started on the same task queue
 *   after everything under test, and the list is read until the sentinel shows: by then the index has
 *   caught up with what came before it, so the list must hold the sentinel and nothing else.
 * The sentinel is delayed by an hour (a worker on the queue never runs it) and terminated at the end.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { expect } from 'vitest';

/** Whether any run ever had this workflow ID (strongly consistent, unlike a visibility query). */
export async function exists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export async function expectNothingStarted(client: Client, where: { taskQueue: string; workflowIds?: string[]; timeoutMs?: number }): Promise<void> {
  const { taskQueue, workflowIds = [], timeoutMs = 30_000 } = where;
  for (const workflowId of workflowIds) expect(await exists(client, workflowId), `a run under ${workflowId}`).toBe(false);
  const sentinel = await client.workflow.start('visibilitySentinel', { taskQueue, workflowId: `sentinel/${randomUUID()}`, startDelay: '1 hour' });
  try {
    const deadline = Date.now() + timeoutMs;
    let listed: string[] = [];
    while (!listed.includes(sentinel.workflowId)) {
      if (Date.now() > deadline) throw new Error(`visibility did not list the sentinel ${sentinel.workflowId} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = [];
      for await (const wf of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) listed.push(wf.workflowId);
    }
    expect(listed, `runs on task queue ${taskQueue}`).toEqual([sentinel.workflowId]);
  } finally {
    await sentinel.terminate('visibility sentinel').catch(() => undefined);
  }
}
