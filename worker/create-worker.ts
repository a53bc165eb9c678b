import { Runtime, Worker } from '@temporalio/worker';
import type { NativeConnection, WorkerDeploymentOptions } from '@temporalio/worker';
import type { VersioningBehavior, WorkerDeploymentVersion } from '@temporalio/common';
import { createActivities } from '../activities';
import type { ActivityDeps } from '../activities';
import { STALE_STAGING_MS, StagingArea, stagingHostTaskQueue } from '../activities/diagnostics/staging';
import { workflowsEntry } from './workflow-bundle';
import { awsErrorTypes } from './aws-error-types';

export interface RunbookWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt workflow bundle (tests share one instead of bundling per worker). */
  workflowBundle?: { code: string };
  /** Activities registered beside the product's (test drills). */
  extraActivities?: object;
  /**
   * Worker Versioning: the shared queue's worker serves this version of a Worker Deployment, and the
   * runs it starts are pinned to it (`PINNED` unless told otherwise): a run waiting for approval when
   * a new version becomes current finishes on this code. Unset: unversioned.
   */
  versioning?: WorkerDeploymentVersion & { defaultBehavior?: VersioningBehavior };
}

function deploymentOptions(versioning: RunbookWorkerOptions['versioning']): WorkerDeploymentOptions | undefined {
  if (!versioning) return undefined;
  const { deploymentName, buildId, defaultBehavior = 'PINNED' } = versioning;
  return { useWorkerVersioning: true, version: { deploymentName, buildId }, defaultVersioningBehavior: defaultBehavior };
}

/**
 * One worker process: the shared task queue (every workflow and activity), and a task queue of this
 * process's own, where a diagnostic bundle's archive meets the files its collectors (local
 * activities of this process) staged.
 */
export class RunbookWorker {
  constructor(
    readonly shared: Worker,
    readonly staging: Worker,
    readonly stagingTaskQueue: string,
    private readonly stagingArea: StagingArea,
  ) {}

  /** Runs both until shutdown (a signal the SDK runtime handles, or shutdown()); one failing stops the other. */
  async run(): Promise<void> {
    const stopSweeping = this.sweepStaleStaging();
    const runs = [this.shared.run(), this.staging.run()];
    try {
      await Promise.all(runs);
    } catch (err) {
      this.shutdown();
      await Promise.allSettled(runs);
      throw err;
    } finally {
      stopSweeping();
    }
  }

  /** Runs both while `until` is pending, then shuts them down. */
  async runUntil<T>(until: Promise<T>): Promise<T> {
    const stopSweeping = this.sweepStaleStaging();
    try {
      return await this.shared.runUntil(this.staging.runUntil(until));
    } finally {
      stopSweeping();
    }
  }

  /** Removes what bundles that never reached their archive (a failed run, a killed worker) left on disk. */
  private sweepStaleStaging(): () => void {
    const sweep = () =>
      void this.stagingArea.removeStale().catch((err: unknown) => {
        Runtime.instance().logger.warn('could not remove stale diagnostic staging folders', { root: this.stagingArea.root, error: String(err) });
      });
    sweep();
    const timer = setInterval(sweep, STALE_STAGING_MS / 6);
    timer.unref();
    return () => clearInterval(timer);
  }

  shutdown(): void {
    for (const worker of [this.shared, this.staging]) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    }
  }
}

/** One place that wires workflows and activities, shared by the worker process and the tests. */
export async function createRunbookWorker(options: RunbookWorkerOptions): Promise<RunbookWorker> {
  const { connection, namespace, taskQueue, deps, workflowBundle, extraActivities, versioning } = options;
  const workerDeploymentOptions = deploymentOptions(versioning);
  const stagingTaskQueue = stagingHostTaskQueue(taskQueue);
  const stagingArea = new StagingArea(deps.stagingDir, { taskQueue: stagingTaskQueue });
  const activities = createActivities({ ...deps, staging: stagingArea });
  const shared = await Worker.create({
    connection,
    namespace,
    taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: workflowsEntry() }),
    activities: { ...activities, ...extraActivities },
    interceptors: { activity: [awsErrorTypes] },
    ...(workerDeploymentOptions ? { workerDeploymentOptions } : {}),
    // Export and import checkpoints travel in heartbeats: send them within a second, not the
    // default 80% of the heartbeat timeout, so a lost worker costs at most about a second of work.
    maxHeartbeatThrottleInterval: '1 second',
  });
  // Unversioned: the queue is this process's own, so an archive always meets the code that staged
  // its files; a queue outside the deployment takes activity tasks from runs of any version.
  const staging = await Worker.create({
    connection,
    namespace,
    taskQueue: stagingTaskQueue,
    activities: pick(activities, ['buildDiagnosticArchive']),
    interceptors: { activity: [awsErrorTypes] },
    maxHeartbeatThrottleInterval: '1 second',
  });
  return new RunbookWorker(shared, staging, stagingTaskQueue, stagingArea);
}

function pick<T extends object, K extends keyof T>(from: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, from[key]])) as Pick<T, K>;
}
