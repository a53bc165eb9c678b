/**
 * Someone else's workflow code, registered under the product's workflow type `rollback`: what a
 * client that can reach Temporal could run by polling the task queue with a worker of its own. It
 * calls the destructive activity directly with whatever "evidence" it is given, so tests can show
 * the activity itself refuses what was not approved.
 */
import { ActivityFailure, condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RevisionChange } from '../../common/rollback';
import type { ApprovalEvidence, RunbookOptions } from '../../common/runbook';

export interface RogueAttempt {
  label: string;
  /** The evidence may be missing or forged: that is the point. */
  change: RevisionChange & { approval?: ApprovalEvidence };
}

export const rogueAttemptsSignal = defineSignal<[RogueAttempt[]]>('rogueAttempts');

const { setDesiredRevision } = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } });

export async function rollback(_input: { instance: string; options: RunbookOptions }): Promise<{ label: string; outcome: string }[]> {
  let attempts: RogueAttempt[] | undefined;
  setHandler(rogueAttemptsSignal, (given) => {
    attempts = given;
  });
  await condition(() => attempts !== undefined);
  const results: { label: string; outcome: string }[] = [];
  for (const attempt of attempts!) {
    try {
      await setDesiredRevision(attempt.change as Parameters<typeof setDesiredRevision>[0]);
      results.push({ label: attempt.label, outcome: 'changed' });
    } catch (err) {
      results.push({ label: attempt.label, outcome: err instanceof ActivityFailure && err.cause ? err.cause.message : String(err) });
    }
  }
  return results;
}
