/**
 * The worker process: one typed config, one owned connection, Prometheus metrics from the SDK
 * runtime, and graceful shutdown on SIGINT/SIGTERM (the runtime's default shutdown signals).
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../common/config';
import { createActivityDeps } from './dependencies';
import { createRunbookWorker } from './create-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.worker.metricsBindAddress) {
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: config.worker.metricsBindAddress } } } });
  }
  const connection = await NativeConnection.connect(config.temporal.connection);
  const deps = createActivityDeps(config);
  try {
    const worker = await createRunbookWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      deps,
    });
    Runtime.instance().logger.info('worker started', {
      address: config.temporal.connection.address,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      stagingTaskQueue: worker.stagingTaskQueue,
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
