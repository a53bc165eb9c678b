/**
 * The worker process: one typed config, one owned connection, Prometheus metrics from the SDK
 * runtime, and graceful shutdown on SIGINT/SIGTERM (the runtime's default shutdown signals).
 * With VCP_WORKER_DEPLOYMENT it serves one version of that Worker Deployment (deploy/ROLLOUT.md).
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../common/config';
import { createActivityDeps } from './dependencies';
import { createRunbookWorker } from './create-worker';
import { defaultBuildId, loadWorkflowBundle } from './workflow-bundle';

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.worker.metricsBindAddress) {
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: config.worker.metricsBindAddress } } } });
  }
  const logger = Runtime.instance().logger;
  const workflowBundle = await loadWorkflowBundle(logger);
  const { deployment } = config.worker;
  const versioning = deployment && { deploymentName: deployment.name, buildId: deployment.buildId ?? defaultBuildId(workflowBundle.code) };
  const connection = await NativeConnection.connect(config.temporal.connection);
  const deps = createActivityDeps(config);
  try {
    const worker = await createRunbookWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      deps,
      workflowBundle: { code: workflowBundle.code },
      versioning,
    });
    logger.info('worker started', {
      address: config.temporal.connection.address,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      stagingTaskQueue: worker.stagingTaskQueue,
      workflows: workflowBundle.origin,
      // What to name in `temporal worker deployment set-current-version` (deploy/ROLLOUT.md).
      deploymentName: versioning?.deploymentName ?? 'unversioned',
      buildId: versioning?.buildId ?? 'unversioned',
      metrics: config.worker.metricsBindAddress ?? 'off',
    });
    await worker.run();
  } finally {
    deps.close();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
