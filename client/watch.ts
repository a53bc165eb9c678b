/**
 * `runbook watch`: follows one run through its `progress` query until it ends. Bars on a terminal,
 * a plain line per change otherwise (logs, CI), one JSON line per change for scripts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { MultiBar } from 'cli-progress';
import type { SingleBar } from 'cli-progress';
import { progressQuery } from '../common/runbook';
import type { ProgressSnapshot, StepProgress } from '../common/runbook';
import type { DownloadLink } from '../common/diagnostics';
import { resultLines } from './results';

/** How a watched run ended. `succeeded` (the outcome is one a run ends with by design: endedAsDesigned) is what the exit code follows. */
export interface WatchEnd {
  workflowId: string;
  runId: string;
  /** Temporal's execution status (COMPLETED, FAILED, TERMINATED, ...). */
  status: string;
  /** The runbook's outcome when it returned one, otherwise derived from the execution status. */
  outcome: string;
  succeeded: boolean;
  reason?: string;
  result?: unknown;
  /** A diagnostic bundle's download link, signed by the watcher (runs return none). */
  download?: DownloadLink;
}

export interface WatchView {
  progress(snapshot: ProgressSnapshot): void;
  /** Something the person should know that is not progress (e.g. no worker answers the query). */
  notice(message: string): void;
  end(end: WatchEnd): void;
}

export class RunNotFoundError extends Error {}

/**
 * The outcomes a run ends with by design, which `watch` and `show` exit 0 for: succeeded; planned (a
 * dry run returned its plan); skipped (a scheduled backup yielded to a recovery or import holding the
 * instance, by design: the reason is printed, and the next firing backs up). Every other outcome exits 3.
 */
const SUCCESSFUL_OUTCOMES = new Set(['succeeded', 'planned', 'skipped']);

/** Whether a run that ended with `outcome` did what it is for (exit 0), see SUCCESSFUL_OUTCOMES. */
export function endedAsDesigned(outcome: string): boolean {
  return SUCCESSFUL_OUTCOMES.has(outcome);
}
/** Named like the runbook outcomes, for runs that ended without returning one. */
const FAILED_OUTCOMES: Record<string, string> = { FAILED: 'failed', TIMED_OUT: 'timed-out', CANCELLED: 'cancelled', TERMINATED: 'terminated' };
/** A query needs a worker; on a closed run it replays the history, so allow for that. */
const QUERY_TIMEOUT_MS = 10_000;

export interface WatchOptions {
  intervalMs: number;
  view: WatchView;
  /** Signs a download link for a result that has something to download (client/download-link.ts). */
  signLink?: (result: unknown) => Promise<DownloadLink | undefined>;
}

export async function watchRun(client: Client, workflowId: string, opts: WatchOptions): Promise<WatchEnd> {
  const { view } = opts;
  let description: WorkflowExecutionDescription;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new RunNotFoundError(`no run with workflow ID ${workflowId} in namespace ${client.options.namespace}`, { cause: err });
    throw err;
  }
  // Pin the run: a destructive ID is reused by the next runbook on the instance.
  const handle = client.workflow.getHandle(workflowId, description.runId);
  let seen: ProgressSnapshot | undefined;
  let lastProblem: string | undefined;
  for (;;) {
    // Describe before querying, so the snapshot taken after the run closed is its final state.
    const closed = description.status.name !== 'RUNNING';
    const queried = await queryProgress(client, handle);
    if ('snapshot' in queried) {
      if (!seen || JSON.stringify(seen) !== JSON.stringify(queried.snapshot)) view.progress(queried.snapshot);
      seen = queried.snapshot;
    } else if (queried.problem !== lastProblem && !closed) {
      view.notice(`no progress yet: ${queried.problem}`);
      lastProblem = queried.problem;
    }
    if (closed) break;
    await sleep(opts.intervalMs);
    description = await handle.describe();
  }
  const { end, progress } = await outcomeOf(handle, description);
  const download = end.result !== undefined ? await opts.signLink?.(end.result) : undefined;
  if (download) end.download = download;
  // A failed run carries its last snapshot, so the final state shows even when no worker replays it.
  if (progress && (!seen || JSON.stringify(seen) !== JSON.stringify(progress))) view.progress(progress);
  view.end(end);
  return end;
}

async function queryProgress(client: Client, handle: WorkflowHandle): Promise<{ snapshot: ProgressSnapshot } | { problem: string }> {
  try {
    return { snapshot: await client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query(progressQuery)) };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}

async function outcomeOf(handle: WorkflowHandle, description: WorkflowExecutionDescription): Promise<{ end: WatchEnd; progress?: ProgressSnapshot }> {
  const base = { workflowId: handle.workflowId, runId: description.runId, status: description.status.name };
  try {
    const result: unknown = await handle.result();
    // Runbooks return a RunbookResult; a plain report (instance status) means the run succeeded.
    const returned = typeof result === 'object' && result !== null && 'outcome' in result ? result as { outcome: unknown; reason?: unknown } : undefined;
    const outcome = typeof returned?.outcome === 'string' ? returned.outcome : 'succeeded';
    const reason = typeof returned?.reason === 'string' ? returned.reason : undefined;
    return { end: { ...base, outcome, succeeded: endedAsDesigned(outcome), reason, result } };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause;
    const details = cause instanceof ApplicationFailure ? (cause.details?.[0] as { progress?: ProgressSnapshot } | undefined) : undefined;
    const outcome = FAILED_OUTCOMES[description.status.name] ?? description.status.name.toLowerCase();
    return { end: { ...base, outcome, succeeded: false, reason: cause?.message ?? err.message }, progress: details?.progress };
  }
}

// ---- what to show -------------------------------------------------------------------------------

export interface ProgressBarSpec {
  label: string;
  value: number;
  total: number;
}

/**
 * What a snapshot shows as bars: one per counter pair, `X total` with `X done` (or the one other
 * `X ...` counter, e.g. "items exported"), or `X to V` with `X V...` ("items to export" with "items
 * exported"); without any pair, the fraction of steps finished. The other counters show as numbers.
 */
export function measures(s: ProgressSnapshot): { bars: ProgressBarSpec[]; counters: [string, number][] } {
  const names = Object.keys(s.counters);
  const bars: ProgressBarSpec[] = [];
  const used = new Set<string>();
  for (const [name, total] of Object.entries(s.counters)) {
    const toVerb = /^(.+) to (\S+)$/.exec(name);
    let done: string[];
    if (name.endsWith(' total')) {
      const subject = name.slice(0, -' total'.length);
      done = names.includes(`${subject} done`) ? [`${subject} done`] : names.filter((k) => k !== name && k.startsWith(`${subject} `));
    } else if (toVerb) {
      done = names.filter((k) => k !== name && k.startsWith(`${toVerb[1]} ${toVerb[2]}`));
    } else continue;
    // Ambiguous pairs are shown as plain numbers rather than guessed.
    if (done.length !== 1 || used.has(done[0]!)) continue;
    bars.push({ label: done[0]!, value: s.counters[done[0]!]!, total });
    used.add(name).add(done[0]!);
  }
  if (bars.length === 0) {
    bars.push({ label: 'steps', value: s.steps.filter((step) => step.state !== 'pending' && step.state !== 'running').length, total: s.steps.length });
  }
  return { bars, counters: Object.entries(s.counters).filter(([name]) => !used.has(name)) };
}

function header(s: ProgressSnapshot): string {
  return `${s.runbook} of ${s.instance}: ${s.status}`;
}

function stepLine(step: StepProgress): string {
  return `  [${step.state.padEnd(7)}] ${step.title}${step.note ? ` (${step.note})` : ''}`;
}

function approvalLine(s: ProgressSnapshot, workflowId: string): string | undefined {
  const a = s.approval;
  if (!a) return undefined;
  const approvals = a.approvals.filter((x) => x.decision === 'approve').length;
  const hint = a.state === 'waiting' ? `; runbook approve ${workflowId}` : '';
  return `  approval: ${a.state}, ${approvals}/${a.minApprovals}, deadline ${a.deadline}${hint}`;
}

/** `skipped (the instance is held by …)`: a reason that starts with the outcome ("skipped: …") is not worth saying twice. */
export function outcomeWithReason(outcome: string, reason: string | undefined): string {
  const said = reason?.startsWith(`${outcome}: `) ? reason.slice(outcome.length + 2) : reason;
  return `${outcome}${said ? ` (${said})` : ''}`;
}

function endLine(end: WatchEnd): string {
  return `${end.workflowId}: ${outcomeWithReason(end.outcome, end.reason)}`;
}

/** Plain lines, printed only when something changed: for logs and pipes. */
export class PlainView implements WatchView {
  private last?: ProgressSnapshot;

  constructor(
    private readonly workflowId: string,
    private readonly write: (line: string) => void,
  ) {}

  progress(s: ProgressSnapshot): void {
    const last = this.last;
    this.last = s;
    if (!last || last.status !== s.status) this.write(header(s));
    s.steps.forEach((step, i) => {
      const before = last?.steps[i];
      if (!before || before.state !== step.state || before.note !== step.note) this.write(stepLine(step));
    });
    const now = measures(s);
    const lastBars = last ? measures(last).bars : [];
    for (const bar of now.bars) {
      // The step fraction repeats the step lines; only counters are news here.
      if (bar.label === 'steps') continue;
      const before = lastBars.find((b) => b.label === bar.label);
      if (!before || before.value !== bar.value || before.total !== bar.total) this.write(`  ${bar.label}: ${bar.value}/${bar.total}`);
    }
    for (const [name, value] of now.counters) if (last?.counters[name] !== value) this.write(`  ${name}: ${value}`);
    const approval = approvalLine(s, this.workflowId);
    if (approval && approval !== (last && approvalLine(last, this.workflowId))) this.write(approval);
  }

  notice(message: string): void {
    this.write(`  (${message})`);
  }

  end(end: WatchEnd): void {
    // What the run returned (backup URL, per-table counts), then the outcome as the last line.
    for (const line of resultLines(end.result, end.download)) this.write(line);
    this.write(endLine(end));
  }
}

/** One JSON object per line (NDJSON): each change, then the end with the result. */
export class JsonView implements WatchView {
  constructor(
    private readonly workflowId: string,
    private readonly write: (line: string) => void,
  ) {}

  progress(progress: ProgressSnapshot): void {
    this.write(JSON.stringify({ event: 'progress', workflowId: this.workflowId, progress, bars: measures(progress).bars }));
  }

  notice(message: string): void {
    this.write(JSON.stringify({ event: 'notice', workflowId: this.workflowId, message }));
  }

  end(end: WatchEnd): void {
    this.write(JSON.stringify({ event: 'end', ...end }));
  }
}

/** Live step list and bars (cli-progress), redrawn in place; only for a terminal. */
export class TerminalView implements WatchView {
  private readonly multi: MultiBar;
  private readonly lines = new Map<string, SingleBar>();
  private readonly bars = new Map<string, SingleBar>();

  constructor(
    private readonly workflowId: string,
    private readonly stream: NodeJS.WriteStream,
  ) {
    // gracefulExit off: its SIGINT handler would keep Ctrl-C from ending the watch.
    this.multi = new MultiBar({ stream, gracefulExit: false, hideCursor: false, autopadding: true, barsize: 30, format: '{text}' });
  }

  progress(s: ProgressSnapshot): void {
    this.line('header', header(s));
    s.steps.forEach((step) => this.line(`step:${step.name}`, stepLine(step)));
    const { bars, counters } = measures(s);
    // The step fraction gives way once the run publishes counters.
    for (const [label, b] of this.bars) {
      if (!bars.some((bar) => bar.label === label)) {
        this.multi.remove(b);
        this.bars.delete(label);
      }
    }
    for (const bar of bars) {
      let b = this.bars.get(bar.label);
      if (!b) {
        b = this.multi.create(bar.total, bar.value, {}, { format: `  ${bar.label.padEnd(18)} [{bar}] {value}/{total} {percentage}%` });
        this.bars.set(bar.label, b);
      }
      b.setTotal(bar.total);
      b.update(bar.value);
    }
    for (const [name, value] of counters) this.line(`counter:${name}`, `  ${name}: ${value}`);
    const approval = approvalLine(s, this.workflowId);
    if (approval) this.line('approval', approval);
  }

  notice(message: string): void {
    // The log buffer is flushed by the redraw timer, which runs only once a line exists.
    if (this.multi.isActive) this.multi.log(`(${message})\n`);
    else this.stream.write(`(${message})\n`);
  }

  end(end: WatchEnd): void {
    if (this.multi.isActive) this.multi.stop();
    for (const line of resultLines(end.result, end.download)) this.stream.write(`${line}\n`);
    this.stream.write(`${endLine(end)}\n`);
  }

  /** A text line: a bar whose format is only its text. */
  private line(key: string, text: string): void {
    const existing = this.lines.get(key);
    if (existing) existing.update({ text });
    else this.lines.set(key, this.multi.create(1, 0, { text }));
  }
}
