/**
 * Runs the simulated pod logs against the local stack until SIGTERM (Argo CD, Crossplane and the DynamoDB
 * Table provider are the real ones: scripts/stack/argocd/up.sh, scripts/stack/crossplane/up.sh).
 * Started by scripts/stack/up.sh; reconciles by polling, which is plenty at test scale.
 */
import { createKubeClients, loadKubeConfig } from '../activities/kubernetes/client';
import { loadConfig } from '../common/config';
import { PodLogsSimulator } from './pod-logs';

async function main(): Promise<void> {
  const config = loadConfig();
  const logDir = process.env.VCP_SIM_LOG_DIR;
  if (!logDir) throw new Error('VCP_SIM_LOG_DIR is required: where simulated pod logs are written');
  const kube = createKubeClients(loadKubeConfig(config.kubernetes.kubeconfig));
  const simulators = [new PodLogsSimulator(kube, logDir)];
  const intervalMs = Number(process.env.VCP_SIM_INTERVAL_MS ?? 250);
  let running = true;
  const stop = () => {
    running = false;
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`platform simulator running (every ${intervalMs} ms)`);
  while (running) {
    for (const simulator of simulators) {
      try {
        await simulator.reconcileAll();
      } catch (err) {
        console.error(`${simulator.constructor.name}:`, err);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
