/**
 * The shared runbook vocabulary: how a run is started, what its progress and audit look like, and
 * the messages a client exchanges with it. Pure code: imported by workflows, worker and CLI.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalPolicy, ApprovalPolicyOverrides, ApproverKeyring, SignedApproval } from './approval';
import type { AuthenticatedRequester, Requester } from './start-request';


/** What every runbook's input carries besides its own parameters. */
export interface RunbookOptions {
  requestedBy: Requester;
  reason?: string;
  /** Run the read-only steps, return the plan, change nothing. */
  dryRun?: boolean;
  approvalPolicy?: ApprovalPolicyOverrides;
}

export type RunbookStatus =
  | 'Running'
  | 'AwaitingApproval'
  | 'Succeeded'
  | 'Failed'
  | 'Rejected'
  | 'TimedOut'
  | 'Cancelled'
  | 'Planned'
  /** Ended without acting, on purpose (a scheduled backup yielding to a run that holds the instance). */
  | 'Skipped';

export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepProgress {
  name: string;
  title: string;
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  note?: string;
}

export interface ApprovalRecord {
  approver: string;
  groups: string[];
  decision: 'approve' | 'reject';
  comment: string;
  inputs: Record<string, string>;
  /** True when the Ed25519 signature verified against the approver's key on the keyring. */
  signatureVerified: boolean;
  keyFingerprint?: string;
  at: string;
  /** Set when the approval stopped counting (its key left the keyring while the run waited). */
  withdrawn?: string;
}

export interface ApprovalProgress {
  state: 'waiting' | 'approved' | 'rejected' | 'timed-out';
  planDigest: string;
  requestedAt: string;
  deadline: string;
  minApprovals: number;
  approvals: ApprovalRecord[];
  /** Digest of the plan plus the approval inputs: what was actually approved. */
  approvedDigest?: string;
  inputs?: Record<string, string>;
}

export interface ProgressSnapshot {
  runbook: string;
  instance: string;
  status: RunbookStatus;
  steps: StepProgress[];
  counters: Record<string, number>;
  approval?: ApprovalProgress;
  plan?: unknown;
  planDigest?: string;
}

export interface ChangeRecord {
  at: string;
  object: string;
  action: string;
  before?: unknown;
  after?: unknown;
}

export interface AuditRecord {
  runbook: string;
  instance: string;
  workflowId: string;
  runId: string;
  requestedBy: Requester;
  /** The requester as verified against the keyring at the start (absent in runs older than the check). */
  requester?: AuthenticatedRequester;
  reason?: string;
  startedAt: string;
  endedAt?: string;
  dryRun: boolean;
  planDigest?: string;
  approvals: ApprovalRecord[];
  changes: ChangeRecord[];
  outcome?: RunbookOutcome;
  outcomeReason?: string;
  /** A run started by another run (a scheduled backup's export): that run, which authenticated its own start. */
  parent?: { workflowId: string; runId: string };
  /** Alert notifications attached to this run: the first MAX_LISTED_ALERT_EPISODES distinct episodes; repeats are counted. */
  alerts?: (AlertNotification & { repeats: number })[];
  /** Notifications of episodes past that limit: counted, not listed, so a storm cannot grow the run's state without bound. */
  unlistedAlerts?: number;
}

export type RunbookOutcome = 'succeeded' | 'failed' | 'rejected' | 'timed-out' | 'cancelled' | 'planned' | 'skipped';

export interface RunbookResult<T> {
  outcome: RunbookOutcome;
  reason?: string;
  plan?: unknown;
  planDigest?: string;
  details?: T;
  audit: AuditRecord;
  /** s3://bucket/key of the audit record. */
  auditLocation?: string;
}

/**
 * What a destructive activity needs to check for itself that its action was approved: the approved
 * plan and the signed statements that approved it (activities/approval-guard.ts).
 */
export interface ApprovalEvidence {
  /** The runbook whose policy applies (the policy's key in the approvers file). */
  runbook: string;
  plan: unknown;
  approvals: SignedApproval[];
}

/** Worker-side approval settings: the keyring and each runbook's configured policy. */
export interface ApprovalConfig {
  keyring: ApproverKeyring;
  policies: Record<string, ApprovalPolicy>;
}

export type ApprovalUpdateResult = ApprovalProgress;

export const approveUpdate = defineUpdate<ApprovalUpdateResult, [SignedApproval]>('approve');

/** A repeated alert notification attached to the run it started (or that already held the instance). */
export interface AlertNotification {
  name: string;
  fingerprint: string;
  startsAt: string;
  receivedAt: string;
}
export const alertNotificationSignal = defineSignal<[AlertNotification]>('alertNotification');
/** Distinct alert episodes a run's audit record lists; further notifications are only counted (unlistedAlerts). */
export const MAX_LISTED_ALERT_EPISODES = 20;
export const progressQuery = defineQuery<ProgressSnapshot>('progress');
