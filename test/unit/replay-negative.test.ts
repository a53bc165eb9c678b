/**
 * The replay test can fail: a recorded history replayed against a deliberately changed workflow (built
 * here into its own bundle from test-support/workflows/replay/) is refused with a DeterminismViolationError,
 * and the same history against the unchanged workflow, through the same harness, replays.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const HISTORY = path.join(__dirname, '..', 'histories', 'instance-status.json');
const FIXTURES = path.join(__dirname, '..', '..', 'test-support', 'workflows', 'replay');

async function replayAgainst(fixture: string): Promise<unknown> {
  const recorded = JSON.parse(await readFile(HISTORY, 'utf8')) as { workflowId: string; history: unknown };
  const workflowsPath = path.join(FIXTURES, `${fixture}.ts`);
  return Worker.runReplayHistory({ workflowsPath }, historyFromJSON(recorded.history), recorded.workflowId).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('replay catches a changed workflow', { timeout: 60_000 }, () => {
  it('replays the recorded instance-status history against the unchanged workflow (the control)', async () => {
    expect(await replayAgainst('unchanged-instance-status')).toBeUndefined();
  });

  it('refuses the same history against a workflow that schedules the same activities in another order', async () => {
    const err = await replayAgainst('reordered-instance-status');
    expect(err).toBeInstanceOf(DeterminismViolationError);
    expect((err as Error).message).toMatch(/checkBackupBucket|readApplicationStatus/);
  });

  it('refuses the same history against a workflow that no longer schedules one of the recorded activities', async () => {
    expect(await replayAgainst('instance-status-without-bucket-check')).toBeInstanceOf(DeterminismViolationError);
  });
});
