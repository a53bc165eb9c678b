/** Activity proxies for runbook code: each call carries a one-line summary the Temporal UI shows. */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';

/** An activity proxy whose calls carry a one-line summary the Temporal UI shows. */
export function activity<K extends keyof Activities>(
  name: K,
  summary: string,
  options: ActivityOptions = { startToCloseTimeout: '1 minute', retry: { maximumAttempts: 5 } },
): Activities[K] {
  return proxyActivities<Activities>({ ...options, summary })[name];
}

/** A local activity: milliseconds of work inside the workflow task, no server round trip. */
export function localActivity<K extends keyof Activities>(name: K, summary: string, maximumAttempts = 5): Activities[K] {
  return proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts }, summary })[name];
}
