/** Activity proxies for runbook code: each call carries a one-line summary the Temporal UI shows. */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../../activities';
import { OUTAGE_RETRY } from './retry';

/** An activity proxy whose calls carry a one-line summary the Temporal UI shows. */
export function activity<K extends keyof Activities>(
  name: K,
  summary: string,
  options: ActivityOptions = { startToCloseTimeout: '1 minute', retry: OUTAGE_RETRY },
): Activities[K] {
  return proxyActivities<Activities>({ ...options, summary })[name];
}

/**
 * A local activity: milliseconds of work inside the workflow task, no server round trip. The audit
 * record must be written even when S3 is down for a while, so it retries as the steps do by default.
 */
export function localActivity<K extends keyof Activities>(name: K, summary: string, retry: RetryPolicy = OUTAGE_RETRY): Activities[K] {
  return proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry, summary })[name];
}
