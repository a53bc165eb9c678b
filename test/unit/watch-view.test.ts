/** What `runbook watch` shows for a snapshot, without a server: bars from counter pairs, lines on change. */
import { describe, expect, it } from 'vitest';
import { endedAsDesigned, measures, PlainView } from '../../client/watch';
import type { ProgressSnapshot, StepState } from '../../common/runbook';

function snapshot(states: StepState[], counters: Record<string, number> = {}): ProgressSnapshot {
  return {
    runbook: 'drill',
    instance: 'demo',
    status: 'Running',
    steps: states.map((state, i) => ({ name: `s${i}`, title: `Step ${i}`, state })),
    counters,
  };
}

describe('runbook watch view', () => {
  it('draws a bar per counter pair (X done / X total, X exported / X total, X exported / X to export) and keeps the other counters as numbers', () => {
    expect(measures(snapshot(['running'], { 'collectors done': 3, 'collectors total': 12 }))).toEqual({
      bars: [{ label: 'collectors done', value: 3, total: 12 }],
      counters: [],
    });
    expect(measures(snapshot(['running'], { 'items exported': 5, 'items total': 10 })).bars).toEqual([{ label: 'items exported', value: 5, total: 10 }]);
    expect(measures(snapshot(['running'], { 'items exported': 40, 'items to export': 100, 'items imported': 0, 'items to import': 100, tables: 3 }))).toEqual({
      bars: [
        { label: 'items exported', value: 40, total: 100 },
        { label: 'items imported', value: 0, total: 100 },
      ],
      counters: [['tables', 3]],
    });
  });

  it('without a counter pair, the bar is the fraction of steps finished (done, failed or skipped)', () => {
    expect(measures(snapshot(['done', 'skipped', 'running', 'pending'], { retries: 2 }))).toEqual({
      bars: [{ label: 'steps', value: 2, total: 4 }],
      counters: [['retries', 2]],
    });
  });

  it('prints plain lines only for what changed', () => {
    const out: string[] = [];
    const view = new PlainView('wf', (line) => out.push(line));
    view.progress(snapshot(['running', 'pending'], { 'collectors done': 0, 'collectors total': 2 }));
    expect(out).toEqual(['drill of demo: Running', '  [running] Step 0', '  [pending] Step 1', '  collectors done: 0/2']);
    out.length = 0;
    view.progress(snapshot(['running', 'pending'], { 'collectors done': 0, 'collectors total': 2 }));
    expect(out).toEqual([]);
    view.progress(snapshot(['done', 'running'], { 'collectors done': 2, 'collectors total': 2 }));
    expect(out).toEqual(['  [done   ] Step 0', '  [running] Step 1', '  collectors done: 2/2']);
  });

  it('a skipped run (a scheduled backup that yielded) ends as designed, exit 0 like succeeded and planned; failed, rejected, timed-out, cancelled, terminated do not', () => {
    for (const outcome of ['succeeded', 'planned', 'skipped']) expect(endedAsDesigned(outcome), outcome).toBe(true);
    for (const outcome of ['failed', 'rejected', 'timed-out', 'cancelled', 'terminated']) expect(endedAsDesigned(outcome), outcome).toBe(false);
  });

  it('prints a skipped run\'s outcome with its reason as the last line', () => {
    const out: string[] = [];
    new PlainView('scheduled-backup/demo-x', (l) => out.push(l)).end({ workflowId: 'scheduled-backup/demo-x', runId: 'r', status: 'COMPLETED', outcome: 'skipped', succeeded: true, reason: 'skipped: the instance is held by dynamodb-recovery run destructive/demo' });
    expect(out.at(-1)).toBe('scheduled-backup/demo-x: skipped (the instance is held by dynamodb-recovery run destructive/demo)');
  });
});
