import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { ActivityDeps } from '../activities';

export interface RunbookWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt workflow bundle (tests share one instead of bundling per worker). */
  workflowBundle?: { code: string };
  /** Activities registered beside the product's (test drills). */
  extraActivities?: object;
}

/** The workflow bundle's entry: compiled JavaScript in dist/, TypeScript when run from source (tsx, vitest). */
export function workflowsPath(): string {
  const entry = path.join(__dirname, '..', 'workflows', 'index');
  const found = ['.js', '.ts'].map((ext) => entry + ext).find((file) => existsSync(file));
  if (!found) throw new Error(`workflow entry point ${entry}.{js,ts} not found`);
  return found;
}

/** One place that wires workflows and activities, shared by the worker process and the tests. */
export function createRunbookWorker(options: RunbookWorkerOptions): Promise<Worker> {
  const { connection, namespace, taskQueue, deps, workflowBundle, extraActivities } = options;
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: workflowsPath() }),
    activities: { ...createActivities(deps), ...extraActivities },
    // Export and import checkpoints travel in heartbeats: send them within a second, not the
    // default 80% of the heartbeat timeout, so a lost worker costs at most about a second of work.
    maxHeartbeatThrottleInterval: '1 second',
  });
}
