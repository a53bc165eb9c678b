import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowsPath } from '../worker/create-worker';

const HISTORY_DIR = path.join(__dirname, 'histories');

describe('replay of recorded histories (scripts/record-histories.ts)', () => {
  it('replays every recorded history against the current workflow code without nondeterminism', async () => {
    const files = (await readdir(HISTORY_DIR)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThan(0);

    async function* histories() {
      for (const file of files) {
        const json: unknown = JSON.parse(await readFile(path.join(HISTORY_DIR, file), 'utf8'));
        yield { workflowId: file, history: historyFromJSON(json) };
      }
    }
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: workflowsPath() }, histories())) {
      results.push({ workflowId: result.workflowId, error: result.error?.message });
    }
    expect(results).toEqual(files.map((workflowId) => ({ workflowId, error: undefined })));
  });
});
