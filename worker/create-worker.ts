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

/** One place that wires workflows and activities, shared by the worker process and the tests. */
export function createRunbookWorker({ connection, namespace, taskQueue, deps }: RunbookWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities(deps),
  });
}
