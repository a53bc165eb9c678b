/** The worker's clients (worker/dependencies.ts), built without a server: their retry settings. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config';
import { createActivityDeps } from '../../worker/dependencies';

describe('worker dependencies', () => {
  it('send each DynamoDB call once: the activity retry policy and our throttling backoff retry it, the SDK does not nest a third loop', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vcp-deps-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    }));
    const deps = createActivityDeps(loadConfig({ KUBECONFIG: kubeconfig, AWS_REGION: 'us-west-2' }));
    try {
      expect(await deps.dynamodb.config.maxAttempts()).toBe(1);
      // S3 keeps the SDK's retries: a multipart upload retries a part, not the whole export segment.
      expect(await deps.s3.config.maxAttempts()).toBe(3);
    } finally {
      deps.close();
    }
  });
});
