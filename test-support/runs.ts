/**
 * Following a run while the servers around it come and go: waits on conditions that tolerate a
 * server that does not answer, and what Temporal says about the run's pending activities.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { progressQuery } from '../common/runbook';
import type { ProgressSnapshot } from '../common/runbook';
import { messages } from './recovery';

/** A run that ended while a test waited for it to reach some point: waiting longer is pointless. */
export class RunEnded extends Error {
  override readonly name = 'RunEnded';
}

/**
 * Polls `check` until it returns true; a check that throws (its server is down) counts as false,
 * except RunEnded, which fails the wait at once. Fails after `timeoutMs` with what it waited for and
 * the last error.
 */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof RunEnded) throw new Error(`${what}: ${err.message}`, { cause: err });
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? ` (last error: ${lastError.message})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The run's result, asked again while the Temporal server cannot answer (a restart): only the
 * run's own end (a result or a WorkflowFailedError) ends the wait.
 */
export async function resultThroughRestarts<T>(handle: WorkflowHandle, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return (await handle.result()) as T;
    } catch (err) {
      if (err instanceof WorkflowFailedError || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** The run's progress (steps, counters), or undefined while it cannot be asked. */
export function progressOf(handle: WorkflowHandle): Promise<ProgressSnapshot | undefined> {
  return handle.query(progressQuery).catch(() => undefined);
}

/** Whether the named step is running (or already over: the run went past it). */
export async function stepReached(handle: WorkflowHandle, step: string): Promise<boolean> {
  const steps = (await progressOf(handle))?.steps ?? [];
  const state = steps.find((s) => s.name === step)?.state;
  return state !== undefined && state !== 'pending';
}

export interface PendingActivityAttempt {
  activityType: string;
  attempt: number;
  lastFailure?: string;
}

/**
 * The running run's activities Temporal has scheduled and not seen finish: their type, attempt and
 * last failure. Throws RunEnded, with the run's failure, once the run is over.
 */
export async function pendingActivities(handle: WorkflowHandle): Promise<PendingActivityAttempt[]> {
  const description = await handle.describe();
  if (description.status.name !== 'RUNNING') {
    const failure = await handle.result().then(
      (result: unknown) => JSON.stringify(result).slice(0, 500),
      (err: unknown) => messages(err),
    );
    throw new RunEnded(`the run ended (${description.status.name}) first: ${failure}`);
  }
  return (description.raw.pendingActivities ?? []).map((a) => ({
    activityType: a.activityType?.name ?? '?',
    attempt: a.attempt ?? 0,
    lastFailure: a.lastFailure?.message ?? undefined,
  }));
}

/**
 * Whether an activity of the run has failed at least `failedAttempts` times with a failure matching
 * `reason` (the run has met the outage, and is retrying rather than giving up).
 */
export async function retryingAfter(handle: WorkflowHandle, reason: RegExp, failedAttempts = 1): Promise<boolean> {
  return (await pendingActivities(handle)).some((a) => a.attempt > failedAttempts && reason.test(a.lastFailure ?? ''));
}
