/** Helpers for tests on the real local stack (started by `make test`). */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import path from 'node:path';
import { bundleWorkflowCode, NativeConnection } from '@temporalio/worker';
import type { RunbookWorker, RunbookWorkerOptions } from '../worker/create-worker';
import { StagingArea } from '../activities/diagnostics/staging';
import { loadConfig } from '../common/config';
import type { RunbooksConfig } from '../common/config';
import { createActivityDeps } from '../worker/dependencies';
import { createRunbookWorker } from '../worker/create-worker';
import type { ActivityDeps } from '../activities';
import { startSigningInterceptor } from '../client/signing';
import type { RequesterKeys } from '../client/signing';
import { approvals as testApprovals, testRequesterKeys } from './approvers';

export const config: RunbooksConfig = loadConfig(process.env);

/** A fresh instance name per test, so tests never share tables or workflow IDs. */
export function uniqueInstance(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function awsClients(): ActivityDeps & { close: () => void } {
  return createActivityDeps(config);
}

/** A staging area for activities called directly (not through a worker, which makes its own). */
export function directStagingArea(deps: Pick<ActivityDeps, 'stagingDir'>): StagingArea {
  return new StagingArea(deps.stagingDir, { taskQueue: 'called-directly' });
}

/**
 * A client whose runbook starts are signed by the requester's key (client/signing.ts), by default
 * with the test identities' keys (test-support/approvers.ts).
 */
export async function temporalClient(requesterKeys: RequesterKeys = testRequesterKeys): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: config.temporal.connection.address });
  const interceptors = { workflow: [startSigningInterceptor(requesterKeys)] };
  return { client: new Client({ connection, namespace: config.temporal.namespace, interceptors }), close: () => connection.close() };
}

const bundles = new Map<string, Promise<{ code: string }>>();

/** The product's workflows, the drills beside them, or a hostile worker's code under the product's names. */
type WorkflowEntry = 'product' | 'drills' | 'rogue';

/**
 * The product's bundle the global setup made once for the whole run (test-support/global-setup.ts),
 * or undefined outside vitest (benches and scripts bundle for themselves).
 */
async function bundleOfThisRun(): Promise<{ code: string } | undefined> {
  if (!process.env.VITEST) return undefined;
  const { inject } = await import('vitest');
  const file = inject('productWorkflowBundle');
  return file ? { code: await readFile(file, 'utf8') } : undefined;
}

/** Bundles a workflow entry once per test file (the product's once per run); bundling takes seconds of CPU. */
function bundle(entry: WorkflowEntry): Promise<{ code: string }> {
  let found = bundles.get(entry);
  if (!found && entry === 'product') {
    found = bundleOfThisRun().then((made) => made ?? bundleWorkflowCode({ workflowsPath: path.join(__dirname, '../workflows/index.ts'), logger: quietBundlerLogger }));
    bundles.set(entry, found);
  }
  if (!found) {
    const workflowsPath = {
      product: path.join(__dirname, '../workflows/index.ts'),
      drills: path.join(__dirname, 'workflows/index.ts'),
      rogue: path.join(__dirname, 'workflows/rogue.ts'),
    }[entry];
    found = bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
    bundles.set(entry, found);
  }
  return found;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: object) => console.warn(message, meta),
  error: (message: string, meta?: object) => console.error(message, meta),
};

export interface WorkerOptions {
  overrides?: Partial<ActivityDeps>;
  workflows?: WorkflowEntry;
  extraActivities?: object;
  /** Keys the client signs start requests with, by requester name (default: the test identities'). */
  requesterKeys?: RequesterKeys;
  /** Workflow code the test brings (another release of a workflow), instead of `workflows`' bundle. */
  workflowBundle?: { code: string };
  /** Worker Versioning; off by default: every other test's worker is unversioned on a queue of its own. */
  versioning?: RunbookWorkerOptions['versioning'];
  /** Poll this queue, beside another worker already on it (another version of the code); a fresh one by default. */
  taskQueue?: string;
}

/**
 * Runs `fn` while a real worker polls a task queue of its own on the stack's Temporal server,
 * then shuts the worker down.
 */
export async function withWorker<T>(
  fn: (ctx: { client: Client; taskQueue: string; worker: RunbookWorker }) => Promise<T>,
  options: WorkerOptions = {},
): Promise<T> {
  const { overrides = {}, workflows = 'product', extraActivities, requesterKeys, versioning } = options;
  const workflowBundle = options.workflowBundle ?? (await bundle(workflows));
  const taskQueue = options.taskQueue ?? `test-${randomBytes(6).toString('hex')}`;
  const connection = await NativeConnection.connect({ address: config.temporal.connection.address });
  const deps = awsClients();
  const { client, close } = await temporalClient(requesterKeys);
  try {
    const worker = await createRunbookWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue,
      // The test identities' keyring unless a test brings its own: the client signs starts with their keys.
      deps: { ...deps, approvals: testApprovals, ...overrides },
      workflowBundle,
      extraActivities,
      versioning,
    });
    return await worker.runUntil(fn({ client, taskQueue, worker }));
  } finally {
    deps.close();
    await close();
    await connection.close();
  }
}

