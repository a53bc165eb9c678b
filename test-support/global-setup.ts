/**
 * Integration tests need the real local stack. If it is not there, fail at once with the fix,
 * rather than letting every test time out or skip. The product's workflows are bundled here once
 * for the run: every test file's workers load that file instead of bundling again (seconds of CPU
 * each, on cores the controllers under test share).
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A file holding the product's workflow bundle (test-support/stack.ts reads it). */
    productWorkflowBundle: string;
  }
}

const REQUIRED = ['TEMPORAL_ADDRESS', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB'] as const;

function reachable(hostPort: string): Promise<boolean> {
  const url = hostPort.includes('://') ? new URL(hostPort) : new URL(`tcp://${hostPort}`);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = REQUIRED.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} not set: run the tests with \`make test\`, which starts the test stack`);
  }
  for (const name of REQUIRED) {
    const address = process.env[name] as string;
    if (!(await reachable(address))) {
      throw new Error(`${name}=${address} is not reachable: is the test stack up? (\`make test\` starts it)`);
    }
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'vcp-workflow-bundle-'));
  const file = path.join(dir, 'workflows.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(__dirname, '../workflows/index.ts'), logger: silentLogger });
  await writeFile(file, code);
  project.provide('productWorkflowBundle', file);
  return () => rm(dir, { recursive: true, force: true });
}

const silentLogger = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error };
