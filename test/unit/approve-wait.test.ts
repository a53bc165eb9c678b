/**
 * `runbook approve` before the run asks for approval (client/approvals.ts waitForApprovalGate): it
 * waits, reporting each step the run reaches, returns at the gate, and gives up, saying why, when the
 * run ends first or the bound passes. The handle is a stand-in answering the progress query as a run
 * would; test/restart.test.ts proves the same through the CLI against a real run.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { ApprovalGateNotReached, currentStep, waitForApprovalGate } from '../../client/approvals';
import { parseWaitDuration } from '../../client/options';
import type { ProgressSnapshot, RunbookStatus } from '../../common/runbook';

function snapshot(status: RunbookStatus, running?: string): ProgressSnapshot {
  return {
    runbook: 'restart',
    instance: 'demo',
    status,
    steps: [
      { name: 'read', title: 'Read the Deployment', state: running === 'read' ? 'running' : 'done' },
      { name: 'approve', title: 'Approval', state: running === 'approve' ? 'running' : 'pending' },
    ],
    counters: {},
    approval: status === 'AwaitingApproval' ? { state: 'waiting', planDigest: 'sha256:x', approvals: [] } as never : undefined,
  };
}

/** A handle whose progress query answers each of `answers` in turn (an Error: the query fails), then the last one. */
function handle(answers: (ProgressSnapshot | Error)[]): { handle: WorkflowHandle; asked: () => number } {
  let i = 0;
  const h = {
    workflowId: 'destructive/demo',
    query: () => {
      const answer = answers[Math.min(i++, answers.length - 1)]!;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
  return { handle: h as unknown as WorkflowHandle, asked: () => i };
}

describe('approve waits for the approval gate', () => {
  it('waits through a failing first query and the steps before the gate, reporting each step once, then returns the gate\'s progress', async () => {
    const { handle: h } = handle([new Error('no workflow task yet'), snapshot('Running', 'read'), snapshot('Running', 'read'), snapshot('AwaitingApproval', 'approve')]);
    const seen: string[] = [];
    const gate = await waitForApprovalGate(h, 5_000, { pollMs: 1, onProgress: (s) => seen.push(currentStep(s)) });
    expect(gate.status).toBe('AwaitingApproval');
    expect(seen).toEqual(['Read the Deployment (running)']);
  });

  it('gives up when the run ends before asking', async () => {
    const { handle: h } = handle([snapshot('Running', 'read'), snapshot('Failed')]);
    const err = await waitForApprovalGate(h, 5_000, { pollMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApprovalGateNotReached);
    expect(err).toMatchObject({ why: 'ended', message: 'destructive/demo ended (Failed) before asking for approval' });
  });

  it('gives up after the bound, naming the step the run is at', async () => {
    const { handle: h, asked } = handle([snapshot('Running', 'read')]);
    const started = Date.now();
    const err = await waitForApprovalGate(h, 200, { pollMs: 20 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(asked()).toBeGreaterThan(3);
    expect(err).toMatchObject({ why: 'timeout', message: 'destructive/demo did not reach its approval gate within 200 ms (status Running, at Read the Deployment (running))' });
  });

  it('--wait takes 0, seconds, minutes, hours up to 1h', () => {
    expect(parseWaitDuration('0')).toBe(0);
    expect(parseWaitDuration('90')).toBe(90_000);
    expect(parseWaitDuration('90s')).toBe(90_000);
    expect(parseWaitDuration('2m')).toBe(120_000);
    expect(parseWaitDuration('1h')).toBe(3_600_000);
    expect(() => parseWaitDuration('2h')).toThrow(/at most 1h/);
    expect(() => parseWaitDuration('soon')).toThrow(/a duration/);
  });
});
