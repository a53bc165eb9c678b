/**
 * The guide's `kubectl annotate application ... argocd.argoproj.io/refresh="hard"`, and what the
 * command leaves out: waiting until the application controller has actually refreshed.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { activity } from '../runbook/runbook';
import type { Runbook } from '../runbook/runbook';

/** Polling is the retry policy: each attempt checks once; "not yet" is retried every second until the deadline. */
function pollHardRefreshed(timeoutMs: number, summary: string): Activities['checkHardRefreshed'] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumInterval: '1 second', nonRetryableErrorTypes: ['ApplicationNotFoundError'] },
  }).checkHardRefreshed;
}

/** Requests the hard refresh (the activity checks the approval) and waits until the controller has consumed it. */
export async function hardRefresh(
  runbook: Runbook<string>,
  application: string,
  instance: string,
  timeoutMs: number,
): Promise<{ requestedAt: string; reconciledAtBefore?: string; reconciledAt?: string }> {
  const requestedAt = new Date().toISOString();
  const token = requestedAt;
  const { reconciledAtBefore } = await activity('requestHardRefresh', `Hard-refresh ${application}`)({ instance, token, approval: runbook.approvalEvidence() });
  runbook.recordChange({ object: `applications.argoproj.io/argocd/${application}`, action: 'annotate argocd.argoproj.io/refresh=hard (hard refresh)' });
  try {
    const { reconciledAt } = await pollHardRefreshed(timeoutMs, `Wait until Argo CD has hard-refreshed ${application}`)({ instance, token, reconciledAtBefore });
    return { requestedAt, reconciledAtBefore, reconciledAt };
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
      throw ApplicationFailure.create({
        type: 'RefreshNotConsumed',
        message: `Argo CD did not consume the hard refresh of ${application} within ${Math.round(timeoutMs / 1000)}s: is the application controller running? Nothing else was changed`,
        nonRetryable: true,
      });
    }
    throw err;
  }
}
