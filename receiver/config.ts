/**
 * The receiver's own settings, besides the Temporal ones of common/config.ts. Kept apart from
 * main.ts so the deployment tests can check manifests against exactly what is read here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Every environment variable the receiver reads besides CONFIG_VARIABLES. */
export const RECEIVER_VARIABLES = ['VCP_ALERT_TOKEN', 'VCP_ALERT_TOKEN_FILE', 'VCP_ALERT_RULES_FILE', 'VCP_ALERT_LISTEN', 'VCP_ALERT_MAX_ALERTS', 'VCP_ALERT_SIGNING_KEY_FILE'] as const;

const DEFAULT_ALERT_LISTEN = '127.0.0.1:9095';
/** Alertmanager's webhook_config max_alerts should be set to this or less (it then truncates). */
export const DEFAULT_MAX_ALERTS_PER_REQUEST = 100;

export interface ReceiverSettings {
  /** Bearer token Alertmanager sends; never logged. */
  token: string;
  rulesFile: string;
  host: string;
  port: number;
  /** Alerts accepted in one webhook request; Alertmanager's max_alerts should not exceed it. */
  maxAlertsPerRequest: number;
  /**
   * The receiver's own key file (`runbook keys init` format): alert-started runs are requested, and
   * their start signed, by this service identity, which the workers' keyring lists as a service.
   */
  signingKeyFile: string;
}

export function loadReceiverSettings(env: Record<string, string | undefined> = process.env): ReceiverSettings {
  const token = env.VCP_ALERT_TOKEN ?? (env.VCP_ALERT_TOKEN_FILE ? readFileSync(env.VCP_ALERT_TOKEN_FILE, 'utf8').trim() : '');
  if (token.length < 16) throw new Error('set VCP_ALERT_TOKEN or VCP_ALERT_TOKEN_FILE to a bearer token of at least 16 characters');
  const rulesFile = env.VCP_ALERT_RULES_FILE ?? path.join(__dirname, 'default-rules.yaml');
  const listen = env.VCP_ALERT_LISTEN ?? DEFAULT_ALERT_LISTEN;
  const match = /^([^:\s]+):(\d{1,5})$/.exec(listen);
  // Without this check a typo would make the server listen on a random port.
  if (!match || Number(match[2]) > 65535) throw new Error(`VCP_ALERT_LISTEN=${JSON.stringify(listen)} must look like host:port`);
  const maxAlerts = env.VCP_ALERT_MAX_ALERTS ?? String(DEFAULT_MAX_ALERTS_PER_REQUEST);
  if (!/^\d{1,5}$/.test(maxAlerts) || Number(maxAlerts) < 1 || Number(maxAlerts) > 10_000) {
    throw new Error(`VCP_ALERT_MAX_ALERTS=${JSON.stringify(maxAlerts)} must be an integer from 1 to 10000`);
  }
  const signingKeyFile = env.VCP_ALERT_SIGNING_KEY_FILE ?? '';
  if (!signingKeyFile) {
    throw new Error('set VCP_ALERT_SIGNING_KEY_FILE to the receiver\'s key file (runbook keys init --as alert-receiver): the workers run only start requests signed by a key on their keyring');
  }
  return { token, rulesFile, host: match[1]!, port: Number(match[2]), maxAlertsPerRequest: Number(maxAlerts), signingKeyFile };
}
