/**
 * Throttling is waited out, never skipped: DynamoDB calls and partially processed batches are
 * retried with capped exponential backoff and full jitter; callers heartbeat while they wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
]);

function isThrottling(err: unknown): boolean {
  return err instanceof Error && THROTTLING.has(err.name);
}

export interface Backoff {
  baseMs: number;
  capMs: number;
  /** Consecutive attempts without progress before giving up (the activity retry then resumes from its checkpoint). */
  maxAttemptsWithoutProgress: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 25, capMs: 5_000, maxAttemptsWithoutProgress: 40 };

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): random in [0, min(cap, base·2^n)). */
export function backoffDelayMs(attempt: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  return Math.floor(Math.random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** attempt));
}

/** Runs a DynamoDB call until it is not throttled; `onWait` (a heartbeat) runs before each wait. */
export async function untilNotThrottled<T>(call: () => Promise<T>, onWait?: () => void, backoff: Backoff = DEFAULT_BACKOFF): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isThrottling(err) || attempt + 1 >= backoff.maxAttemptsWithoutProgress) throw err;
      onWait?.();
      await sleep(backoffDelayMs(attempt, backoff));
    }
  }
}
