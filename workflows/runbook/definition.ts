/** What a runbook declares, and how it ends early but normally. */
import type { ApprovalEvidence, ApprovalProgress, RunbookOptions, RunbookOutcome, RunbookStatus } from '../../common/runbook';
import type { AuthenticatedRequester } from '../../common/start-request';

/** Ends a run early but normally: a rejection, a timeout, or a dry run that has its plan. */
export class RunbookStopped extends Error {
  override readonly name = 'RunbookStopped';
  constructor(
    readonly outcome: Extract<RunbookOutcome, 'rejected' | 'timed-out' | 'planned' | 'skipped'>,
    message: string,
  ) {
    super(message);
  }
}

export const STATUS_OF: Record<RunbookOutcome, RunbookStatus> = {
  succeeded: 'Succeeded',
  failed: 'Failed',
  rejected: 'Rejected',
  'timed-out': 'TimedOut',
  cancelled: 'Cancelled',
  planned: 'Planned',
  skipped: 'Skipped',
};

/** One step of a runbook as the UI lists it; its name is what the runbook's code calls it by. */
export interface StepDefinition<Step extends string = string> {
  readonly name: Step;
  readonly title: string;
}

/**
 * A runbook's steps, in the order the UI lists them: declare them `as const` and pass them to the
 * Runbook, whose `step` and `skip` then accept only these names (a typo does not compile).
 */
export type StepsOf<Steps extends readonly StepDefinition[]> = Steps[number]['name'];

export interface RunbookDefinition<Step extends string> {
  /** The runbook's name, as in RUNBOOKS; also the approval policy's key. */
  name: string;
  title: string;
  instance: string;
  steps: readonly StepDefinition<Step>[];
  options: RunbookOptions;
  /** Destructive runbooks must run under destructiveWorkflowId(instance). */
  destructive: boolean;
  /** The workflow's input exactly as started: its signature is verified over all of it. */
  startInput: { options: RunbookOptions };
  /**
   * How the run's start is authenticated, when not by a signed start request (a run a Temporal
   * Schedule started verifies the schedule's signed request instead).
   */
  authenticate?: () => Promise<AuthenticatedRequester>;
}

export interface Approved {
  inputs: Record<string, string>;
  approvedDigest: string;
  approval: ApprovalProgress;
  /** What destructive activities verify for themselves before acting. */
  evidence: ApprovalEvidence;
}

