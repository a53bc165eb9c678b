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
}

/** The workflow bundle's entry: compiled JavaScript in dist/, TypeScript when run from source (tsx, vitest). */
export function workflowsPath(): string {
  const entry = path.join(__dirname, '..', 'workflows', 'index');
  const found = ['.js', '.ts'].map((ext) => entry + ext).find((file) => existsSync(file));
  if (!found) throw new Error(`workflow entry point ${entry}.{js,ts} not found`);
  return found;
}

/** One place that wires workflows and activities, shared by the worker process and the tests. */
export function createRunbookWorker({ connection, namespace, taskQueue, deps }: RunbookWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: workflowsPath(),
    activities: createActivities(deps),
  });
}
