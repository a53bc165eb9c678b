/**
 * The alert receiver process. Configuration: the Temporal variables of common/config.ts, plus
 * VCP_ALERT_TOKEN or VCP_ALERT_TOKEN_FILE (required; never logged), VCP_ALERT_RULES_FILE (default:
 * receiver/default-rules.yaml) and VCP_ALERT_LISTEN (host:port, default 127.0.0.1:9095): ./config.ts.
 */
import { readFileSync } from 'node:fs';
import { connectClient } from '../client/connection';
import { loadConfig } from '../common/config';
import { loadReceiverSettings } from './config';
import { parseRules } from './rules';
import { AlertReceiver } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const { token, rulesFile, host, port } = loadReceiverSettings();
  const rules = parseRules(readFileSync(rulesFile, 'utf8'), rulesFile);
  const { client, close } = await connectClient(config);
  const receiver = new AlertReceiver({ client, taskQueue: config.temporal.taskQueue, rules, token });
  const bound = await receiver.listen(port, host);
  console.log(`alert receiver on http://${host}:${bound} with ${rules.length} rules from ${rulesFile}`);
  const stop = () => {
    void receiver.close().then(close).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
