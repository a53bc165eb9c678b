/** What a runbook declares, and how it ends early but normally. */
import type { ApprovalEvidence, ApprovalProgress, RunbookOptions, RunbookOutcome, RunbookStatus } from '../../common/runbook';

/** Ends a run early but normally: a rejection, a timeout, or a dry run that has its plan. */
export class RunbookStopped extends Error {
  override readonly name = 'RunbookStopped';
  constructor(
    readonly outcome: Extract<RunbookOutcome, 'rejected' | 'timed-out' | 'planned'>,
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
};

export interface RunbookDefinition {
  /** The runbook's name, as in RUNBOOKS; also the approval policy's key. */
  name: string;
  title: string;
  instance: string;
  steps: { name: string; title: string }[];
  options: RunbookOptions;
  /** Destructive runbooks must run under destructiveWorkflowId(instance). */
  destructive: boolean;
  /** The workflow's input exactly as started: its signature is verified over all of it. */
  startInput: { options: RunbookOptions };
}

export interface Approved {
  inputs: Record<string, string>;
  approvedDigest: string;
  approval: ApprovalProgress;
  /** What destructive activities verify for themselves before acting. */
  evidence: ApprovalEvidence;
}

