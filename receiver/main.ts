/**
 * The alert receiver process. Configuration: the Temporal and Kubernetes variables of
 * common/config.ts (KUBECONFIG, or in-cluster config: it watches namespaces), plus VCP_ALERT_TOKEN or
 * VCP_ALERT_TOKEN_FILE (required; never logged), VCP_ALERT_RULES_FILE (default:
 * receiver/default-rules.yaml), VCP_ALERT_LISTEN (host:port, default 127.0.0.1:9095) and
 * VCP_ALERT_MAX_ALERTS (alerts per request, default 100), VCP_ALERT_SIGNING_KEY_FILE (required: the
 * service identity's key, whose public half the workers' keyring lists as a service): ./config.ts. Logs are JSON lines (pino).
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import { loadKubeConfig } from '../activities/kubernetes/client';
import { connectClient } from '../client/connection';
import { loadKeyFile } from '../client/keys';
import { loadConfig } from '../common/config';
import { loadReceiverSettings } from './config';
import { InstanceNamespaces } from './instances';
import { parseRules } from './rules';
import { AlertReceiver } from './server';

const log = pino({ name: 'vcp-alert-receiver' });

async function main(): Promise<void> {
  const config = loadConfig();
  const { token, rulesFile, host, port, maxAlertsPerRequest, signingKeyFile } = loadReceiverSettings();
  // Alert-started runs are requested by the receiver's own service identity, signed with its key.
  const identity = loadKeyFile(signingKeyFile);
  const rules = parseRules(readFileSync(rulesFile, 'utf8'), rulesFile);
  const instances = new InstanceNamespaces(loadKubeConfig(config.kubernetes.kubeconfig), {
    onError: (err, retryInMs) => log.warn({ err, retryInMs }, 'instance namespace watch failed; reconnecting'),
    onSynced: (count) => log.info({ instances: count }, 'instance namespaces synced'),
  });
  const { client, close } = await connectClient(config, new Map([[identity.user, identity.privateKey]]));
  const receiver = new AlertReceiver({ client, taskQueue: config.temporal.taskQueue, rules, token, instances, maxAlertsPerRequest, logger: log, identity: identity.user });
  collectDefaultMetrics({ register: receiver.metrics.registry });
  const bound = await receiver.listen(port, host);
  log.info({ address: `http://${host}:${bound}`, rules: rules.length, rulesFile, identity: identity.user, key: identity.fingerprint }, 'alert receiver listening');
  // Liveness answers at once; /readyz and POST /alerts answer 503 until the first list is in.
  await instances.start();
  const stop = () => {
    void Promise.all([receiver.close(), instances.stop()])
      .then(close)
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'alert receiver failed to start');
  process.exit(1);
});
