/**
 * Someone else's workflow code, registered under the product's workflow types: what a client that can
 * reach Temporal could run by polling the task queue with a worker of its own. It calls destructive
 * activities directly with whatever "evidence" it is given, so tests can show the activities
 * themselves refuse what was not approved.
 */
import { ActivityFailure, condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { RunbookOptions } from '../../common/runbook';

export interface RogueAttempt {
  label: string;
  /** A product activity's name and its input; the evidence in it may be missing or forged: that is the point. */
  activity: string;
  input: unknown;
}

export const rogueAttemptsSignal = defineSignal<[RogueAttempt[]]>('rogueAttempts');

async function rogue(): Promise<{ label: string; outcome: string }[]> {
  let attempts: RogueAttempt[] | undefined;
  setHandler(rogueAttemptsSignal, (given) => {
    attempts = given;
  });
  await condition(() => attempts !== undefined);
  const activities = proxyActivities<Record<string, (input: unknown) => Promise<unknown>>>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } });
  const results: { label: string; outcome: string }[] = [];
  for (const attempt of attempts!) {
    try {
      await activities[attempt.activity]!(attempt.input);
      results.push({ label: attempt.label, outcome: 'changed' });
    } catch (err) {
      results.push({ label: attempt.label, outcome: err instanceof ActivityFailure && err.cause ? err.cause.message : String(err) });
    }
  }
  return results;
}

type RogueInput = { instance: string; options: RunbookOptions };

export function rollback(_input: RogueInput) {
  return rogue();
}

export function dynamodbRecovery(_input: RogueInput) {
  return rogue();
}

export function sync(_input: RogueInput) {
  return rogue();
}

export function recreateClaim(_input: RogueInput) {
  return rogue();
}

/** Under the retention runbook's own type: the delete activity must still apply the rules itself. */
export function backupRetention(_input: RogueInput) {
  return rogue();
}
