/** Notifications of a run (approval requested, reminders, the end) to the configured webhook. */
import { log, workflowInfo } from '@temporalio/workflow';
import type { RunbookNotification } from '../../activities/runbook';
import { activity, localActivity } from './proxies';

export async function notifyRun(
  run: { name: string; instance: string },
  event: RunbookNotification['event'],
  text: string,
  how: { local?: boolean } = {},
): Promise<void> {
  const info = workflowInfo();
  const send = how.local
    ? localActivity('notify', `Notify: ${event}`, { maximumAttempts: 3 })
    : activity('notify', `Notify: ${event}`, { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 3 } });
  try {
    await send({ event, runbook: run.name, instance: run.instance, workflowId: info.workflowId, runId: info.runId, text });
  } catch (err) {
    // A notification is a courtesy: it must never stop or fail a recovery.
    log.warn('notification failed', { event, error: err instanceof Error ? err.message : String(err) });
  }
}
