/**
 * The machinery every runbook shares, so each runbook file reads like the guide's procedure:
 * named steps with progress (search attributes, UI details, the `progress` query), the approval gate,
 * dry-run plans, an audit record of every change, cleanups that run whatever happens, and the
 * one-destructive-run-per-instance rule.
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AuthenticatedRequester } from '../../common/start-request';
import { planDigest } from '../../common/canonical';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME, RUNBOOK_STATUS, RUNBOOK_STEP } from '../../common/definitions';
import { alertNotificationSignal, MAX_LISTED_ALERT_EPISODES, progressQuery } from '../../common/runbook';
import type {
  ApprovalProgress,
  ApprovalRecord,
  ApprovalEvidence,
  AuditRecord,
  ChangeRecord,
  ProgressSnapshot,
  RunbookOutcome,
  RunbookResult,
  RunbookStatus,
  StepProgress,
} from '../../common/runbook';
import { ApprovalGate } from './approval-gate';
import { renderDetails } from './details';
import { activity, localActivity } from './proxies';
import { approvalSettings, authenticateRun, loadApprovalConfig } from './start-checks';
import { failureReason, requireDestructiveLock, requireUnchanged } from './checks';
import { notifyRun } from './notify';
import { RunbookStopped, STATUS_OF } from './definition';
import type { Approved, RunbookDefinition } from './definition';

export { activity } from './proxies';
export type { Approved, RunbookDefinition, StepDefinition, StepsOf } from './definition';
import type { RunbookNotification } from '../../activities/runbook';

/**
 * The run's last two calls (audit record, outcome notification) as local activities run side by
 * side: they take milliseconds and are idempotent, and as local activities they run inside the
 * workflow task that completes the run instead of costing a server round trip each. Runs that
 * reached their end before this change replay the old sequence.
 */
const LOCAL_FINISH_PATCH = 'runbook-local-finish';

/**
 * Before a run does anything: its start request must verify against the keyring (the requester is
 * who they say), and the approval policy overrides it was started with may only tighten the
 * configured policy. Runs started before these checks replay without them.
 */
const START_CHECKS_PATCH = 'runbook-start-checks';

/** A run of one runbook, whose steps are named `Step`: `step` and `skip` take no other name. */
export class Runbook<Step extends string> {
  private status: RunbookStatus = 'Running';
  private readonly steps: StepProgress[];
  private readonly counters: Record<string, number> = {};
  private readonly notes: string[] = [];
  private readonly cleanups: { name: string; run: () => Promise<void> }[] = [];
  private approval?: ApprovalProgress;
  /** Approvals of earlier gates in this run (a confirmation's gate starts empty). */
  private earlierApprovals: ApprovalRecord[] = [];
  private plan?: unknown;
  private digest?: string;
  private evidence?: ApprovalEvidence;
  private readonly audit: AuditRecord;
  private readonly gate: ApprovalGate;
  /** Verified at the start; older runs fall back to the name they were started with. */
  private requester?: AuthenticatedRequester;

  constructor(private readonly definition: RunbookDefinition<Step>) {
    const info = workflowInfo();
    this.steps = definition.steps.map((s) => ({ ...s, state: 'pending' }));
    this.audit = {
      runbook: definition.name,
      instance: definition.instance,
      workflowId: info.workflowId,
      runId: info.runId,
      requestedBy: definition.options.requestedBy,
      reason: definition.options.reason,
      startedAt: new Date().toISOString(),
      dryRun: Boolean(definition.options.dryRun),
      approvals: [],
      changes: [],
    };
    setHandler(progressQuery, () => this.snapshot());
    setHandler(alertNotificationSignal, (alert) => {
      const alerts = (this.audit.alerts ??= []);
      const known = alerts.find((a) => a.fingerprint === alert.fingerprint && a.startsAt === alert.startsAt);
      if (known) known.repeats++;
      else if (alerts.length < MAX_LISTED_ALERT_EPISODES) alerts.push({ ...alert, repeats: 0 });
      // State only, no command: replays the same whatever the limit was when a history was recorded.
      else this.audit.unlistedAlerts = (this.audit.unlistedAlerts ?? 0) + 1;
    });
    this.gate = new ApprovalGate((progress) => {
      this.approval = progress;
      this.audit.approvals = [...this.earlierApprovals, ...progress.approvals];
      this.setStatus(progress.state === 'waiting' ? 'AwaitingApproval' : 'Running');
    });
    upsertSearchAttributes([
      { key: RUNBOOK_NAME, value: definition.name },
      { key: RUNBOOK_INSTANCE, value: definition.instance },
      { key: RUNBOOK_STATUS, value: this.status },
    ]);
    this.publishDetails();
  }

  get dryRun(): boolean {
    return Boolean(this.definition.options.dryRun);
  }

  snapshot(): ProgressSnapshot {
    return {
      runbook: this.definition.name,
      instance: this.definition.instance,
      status: this.status,
      steps: this.steps.map((s) => ({ ...s })),
      counters: { ...this.counters },
      approval: this.approval,
      plan: this.plan,
      planDigest: this.digest,
    };
  }

  /** Runs one named step of the procedure, keeping the UI, search attributes and query current. */
  async step<T>(name: Step, body: () => Promise<T>): Promise<T> {
    const step = this.findStep(name);
    step.state = 'running';
    step.startedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: RUNBOOK_STEP, value: name }]);
    this.publishDetails();
    try {
      const result = await body();
      step.state = 'done';
      return result;
    } catch (err) {
      step.state = 'failed';
      throw err;
    } finally {
      step.endedAt = new Date().toISOString();
      this.publishDetails();
    }
  }

  skip(name: Step, note: string): void {
    const step = this.findStep(name);
    step.state = 'skipped';
    step.note = note;
    this.publishDetails();
  }

  setCounter(name: string, value: number): void {
    this.counters[name] = value;
    this.publishDetails();
  }

  /** A line shown in the UI details (e.g. the backup location). */
  note(line: string): void {
    this.notes.push(line);
    this.publishDetails();
  }

  /** Records a change made to a live object, for the audit record. */
  recordChange(change: Omit<ChangeRecord, 'at'>): void {
    this.audit.changes.push({ at: new Date().toISOString(), ...change });
  }

  /** Registers a restore to run at the end whatever happens (success, failure, rejection, cancellation). */
  onCleanup(name: string, run: () => Promise<void>): void {
    this.cleanups.push({ name, run });
  }

  /**
   * Presents the plan. In a dry run the runbook stops here with the plan as its result; otherwise the
   * approval gate opens, and the run continues only with a quorum of verified approvals.
   */
  async approve(plan: unknown): Promise<Approved> {
    this.plan = plan;
    this.digest = planDigest(plan);
    this.audit.planDigest = this.digest;
    if (this.dryRun) throw new RunbookStopped('planned', 'dry run: plan computed, nothing changed');

    const approved = await this.awaitApproval(this.digest, `${this.describe()} is waiting for approval of plan ${this.digest}`, plan);
    this.evidence = approved.evidence;
    return approved;
  }

  /** The approval of the plan, for a destructive activity to verify before it acts. */
  approvalEvidence(): ApprovalEvidence {
    if (!this.evidence) throw ApplicationFailure.create({ type: 'NotApproved', message: 'a destructive step was reached without an approved plan', nonRetryable: true });
    return this.evidence;
  }

  /**
   * A further approval later in the run (e.g. once the backup is verified, before a delete). It is
   * bound to the approved plan and to what it confirms, so an approval of one cannot pass the other.
   */
  async confirm(stage: string, subject: unknown): Promise<Approved> {
    const digest = planDigest({ plan: this.digest, stage, subject });
    return this.awaitApproval(digest, `${this.describe()} asks for confirmation (${stage}) of ${digest}`, { plan: this.digest, stage, subject });
  }

  private async awaitApproval(digest: string, announcement: string, approved: unknown): Promise<Approved> {
    const { keyring, policy } = await approvalSettings(this.definition.name, this.definition.options.approvalPolicy);
    this.earlierApprovals = [...this.audit.approvals];
    await this.notify('approval-requested', announcement);
    const recheck = this.requester !== undefined;
    const decision = await this.gate.waitForDecision({
      planDigest: digest,
      policy,
      keyring,
      requester: this.requester ?? { user: this.definition.options.requestedBy.user, authenticated: false },
      currentKeyring: recheck ? async () => (await loadApprovalConfig(this.definition.name)).keyring : undefined,
      onReminder: (remainingMs) =>
        this.notify('approval-reminder', `${this.describe()} still waits for approval; ${Math.round(remainingMs / 60000)} min left`),
    });
    if (!decision.approved) {
      throw new RunbookStopped(decision.timedOut ? 'timed-out' : 'rejected', decision.reason);
    }
    return {
      inputs: decision.progress.inputs ?? {},
      approvedDigest: decision.progress.approvedDigest!,
      approval: decision.progress,
      evidence: { runbook: this.definition.name, plan: approved, approvals: decision.signed },
    };
  }

  /**
   * Just before a destructive step: the live state must still be the one the plan was made from,
   * or the approval no longer holds.
   */
  confirmUnchanged(what: string, planned: unknown, live: unknown): void {
    requireUnchanged(what, planned, live);
  }

  /** Runs the procedure and always finishes the same way: cleanups, audit record, final status. */
  async run<T>(procedure: () => Promise<T>): Promise<RunbookResult<T>> {
    let outcome: RunbookOutcome;
    let reason: string | undefined;
    let details: T | undefined;
    let failure: unknown;
    try {
      requireDestructiveLock(this.definition.instance, this.definition.destructive && !this.dryRun);
      if (patched(START_CHECKS_PATCH)) {
        const { requester, parent } = await authenticateRun(this.definition);
        this.requester = requester;
        this.audit.requester = requester;
        if (parent) this.audit.parent = parent;
      }
      details = await procedure();
      outcome = 'succeeded';
    } catch (err) {
      if (err instanceof RunbookStopped) {
        outcome = err.outcome;
        reason = err.message;
      } else if (isCancellation(err)) {
        outcome = 'cancelled';
        reason = 'the run was cancelled';
      } else {
        outcome = 'failed';
        reason = failureReason(err);
        failure = err;
      }
    }
    const auditLocation = await CancellationScope.nonCancellable(async () => {
      const cleanupProblems = await this.runCleanups();
      if (cleanupProblems.length > 0) {
        reason = [reason, `CLEANUP FAILED: ${cleanupProblems.join('; ')}`].filter(Boolean).join(' | ');
        if (outcome === 'succeeded') outcome = 'failed';
      }
      this.audit.endedAt = new Date().toISOString();
      this.audit.outcome = outcome;
      this.audit.outcomeReason = reason;
      this.setStatus(STATUS_OF[outcome]);
      const ended = `${this.describe()} ended: ${outcome}${reason ? ` (${reason})` : ''}`;
      if (patched(LOCAL_FINISH_PATCH)) {
        const [location] = await Promise.all([
          localActivity('writeAuditRecord', 'Write the audit record to S3')(this.audit),
          this.dryRun ? undefined : this.notify('ended', ended, { local: true }),
        ]);
        return location;
      }
      const location = await activity('writeAuditRecord', 'Write the audit record to S3')(this.audit);
      if (!this.dryRun) await this.notify('ended', ended);
      return location;
    });
    if (outcome === 'failed') {
      throw ApplicationFailure.create({
        type: 'RunbookFailed',
        message: reason ?? 'the runbook failed',
        nonRetryable: true,
        cause: failure instanceof Error ? failure : undefined,
        details: [{ auditLocation, progress: this.snapshot() }],
      });
    }
    return { outcome, reason, plan: this.plan, planDigest: this.digest, details, audit: this.audit, auditLocation };
  }

  private async runCleanups(): Promise<string[]> {
    const problems: string[] = [];
    for (const cleanup of [...this.cleanups].reverse()) {
      try {
        await cleanup.run();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log.error('cleanup failed', { cleanup: cleanup.name, error: message });
        problems.push(`${cleanup.name}: ${message}`);
      }
    }
    return problems;
  }

  private notify(event: RunbookNotification['event'], text: string, how: { local?: boolean } = {}): Promise<void> {
    return notifyRun(this.definition, event, text, how);
  }

  private describe(): string {
    return `${this.definition.title} of ${this.definition.instance} (${workflowInfo().workflowId})`;
  }

  private findStep(name: Step): StepProgress {
    const step = this.steps.find((s) => s.name === name);
    if (!step) throw new Error(`runbook ${this.definition.name} has no step ${name}`);
    return step;
  }

  private setStatus(status: RunbookStatus): void {
    if (status === this.status) return;
    this.status = status;
    upsertSearchAttributes([{ key: RUNBOOK_STATUS, value: status }]);
    this.publishDetails();
  }

  /** The markdown the Temporal UI shows as the run's current details. */
  private publishDetails(): void {
    const { title, instance } = this.definition;
    setCurrentDetails(renderDetails({ title, instance, status: this.status, steps: this.steps, counters: this.counters, approval: this.approval, notes: this.notes }));
  }
}
