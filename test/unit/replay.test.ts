import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';


const HISTORY_DIR = path.join(__dirname, '..', 'histories');

describe('replay of recorded histories (scripts/record-histories.ts) against the product workflows and drills', () => {
  it('replays every recorded history against the current workflow code without nondeterminism', async () => {
    const files = (await readdir(HISTORY_DIR)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThan(0);

    async function* histories() {
      for (const file of files) {
        const recorded = JSON.parse(await readFile(path.join(HISTORY_DIR, file), 'utf8')) as { workflowId: string; history: unknown };
        yield { workflowId: recorded.workflowId, history: historyFromJSON(recorded.history) };
      }
    }
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: path.join(__dirname, '..', '..', 'test-support', 'workflows', 'index.ts') }, histories())) {
      results.push({ workflowId: result.workflowId, error: result.error?.message });
    }
    expect(results).toHaveLength(files.length);
    expect(results.filter((r) => r.error !== undefined)).toEqual([]);
  });
});
