/**
 * The Alertmanager webhook receiver: validates and authenticates payloads (version 4), and starts
 * runbooks from rules for namespaces that are platform instances, deduplicated so a storm or
 * Alertmanager's repeat_interval re-sends do not multiply runs:
 * - a repeat of an episode (fingerprint + startsAt) this process has handled is answered from memory;
 * - signal-with-start: a notification while the (runbook, instance) run is going attaches to it;
 * - a firing episode starts at most one run, even after it finished (found in Temporal's visibility
 *   through the RunbookTrigger attribute after a receiver restart);
 * - a per-rule cooldown after a run of the same runbook on the same instance ended;
 * - a per-rule circuit breaker: at most maxRunsPerHour runs started in any sliding hour.
 * Resolved alerts never start anything. Requests are bounded in bytes and in alerts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import type { Logger } from 'pino';
import { validateInstanceName } from '../common/instance';
import { INSTANCE_LABEL } from '../common/platform';
import { RunBreaker } from './breaker';
import { DEFAULT_MAX_ALERTS_PER_REQUEST } from './config';
import type { InstanceDirectory } from './instances';
import { ReceiverMetrics } from './metrics';
import type { IgnoredReason, RejectedReason } from './metrics';
import type { AlertRule } from './rules';
import { matchRule } from './rules';
import { alertStart, alertTarget } from './start';

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Episodes remembered for answering repeats from memory; the oldest is forgotten first. */
const REMEMBERED_EPISODES = 10_000;

export interface ReceiverOptions {
  client: Client;
  taskQueue: string;
  rules: AlertRule[];
  /** Bearer token Alertmanager sends (http_config.authorization). */
  token: string;
  /** Which namespaces are platform instances (InstanceNamespaces: an informer). */
  instances: InstanceDirectory;
  maxBodyBytes?: number;
  maxAlertsPerRequest?: number;
  logger?: Logger;
  breaker?: RunBreaker;
  /** The service identity alert-started runs are requested by; the client signs their starts with its key. */
  identity?: string;
}

interface Alert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  fingerprint: string;
}

export interface AlertOutcome {
  fingerprint: string;
  action: 'started' | 'attached' | 'deduplicated' | 'cooldown' | 'ignored';
  workflowId?: string;
  reason?: string;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly reason: RejectedReason = 'invalid',
  ) {
    super(message);
  }
}

/** Version 4 of Alertmanager's webhook payload, as far as the receiver relies on it. */
function parsePayload(body: unknown, maxAlerts = DEFAULT_MAX_ALERTS_PER_REQUEST): Alert[] {
  const p = body as { version?: unknown; alerts?: unknown };
  if (typeof p !== 'object' || p === null) throw new BadRequest('payload must be a JSON object');
  if (p.version !== '4') throw new BadRequest(`unsupported payload version ${JSON.stringify(p.version)}: expected "4"`);
  if (!Array.isArray(p.alerts)) throw new BadRequest('"alerts" must be a list');
  if (p.alerts.length > maxAlerts) {
    throw new BadRequest(`${p.alerts.length} alerts in one request, at most ${maxAlerts} accepted: set max_alerts: ${maxAlerts} in Alertmanager's webhook_config`, 413, 'too_many_alerts');
  }
  return p.alerts.map((raw: unknown, i) => {
    const a = raw as Partial<Alert>;
    const isStringMap = (m: unknown) => typeof m === 'object' && m !== null && Object.values(m).every((v) => typeof v === 'string');
    if (a.status !== 'firing' && a.status !== 'resolved') throw new BadRequest(`alerts[${i}].status must be firing or resolved`);
    if (!isStringMap(a.labels)) throw new BadRequest(`alerts[${i}].labels must be an object of strings`);
    if (typeof a.fingerprint !== 'string' || a.fingerprint === '') throw new BadRequest(`alerts[${i}].fingerprint is required`);
    if (typeof a.startsAt !== 'string' || Number.isNaN(Date.parse(a.startsAt))) throw new BadRequest(`alerts[${i}].startsAt must be a timestamp`);
    return { status: a.status, labels: a.labels!, annotations: (isStringMap(a.annotations) ? a.annotations : {})!, startsAt: a.startsAt, fingerprint: a.fingerprint };
  });
}

export function episodeKey(alert: Pick<Alert, 'fingerprint' | 'startsAt'>): string {
  return createHash('sha256').update(`${alert.fingerprint}\n${new Date(alert.startsAt).toISOString()}`).digest('hex').slice(0, 32);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** The first workflow ID a visibility query finds, if any. */
async function firstWorkflowId(client: Client, query: string): Promise<string | undefined> {
  for await (const wf of client.workflow.list({ query, pageSize: 1 })) return wf.workflowId;
  return undefined;
}

export class AlertReceiver {
  readonly metrics: ReceiverMetrics;
  readonly server: http.Server;
  private readonly log: Logger;
  private readonly breaker: RunBreaker;
  /** Hashed once: the comparison is then constant-time whatever the lengths. */
  private readonly tokenDigest: Buffer;
  /** Episodes already handled by this process: episode -> workflow ID. Bounded. */
  private readonly episodes = new Map<string, string>();
  /** In-flight handling per episode, so concurrent identical notifications wait for the first. */
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** When each rule's open breaker was last logged. */
  private readonly breakerLogged = new Map<string, number>();

  constructor(private readonly options: ReceiverOptions) {
    this.metrics = new ReceiverMetrics(options.instances);
    this.log = options.logger ?? pino({ name: 'vcp-alert-receiver' });
    this.breaker = options.breaker ?? new RunBreaker();
    this.tokenDigest = sha256(options.token);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'alert request failed');
        if (!res.headersSent) this.reply(res, 500, { error: 'internal error' });
      });
    });
  }

  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve) => this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port)));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private reply(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  private reject(res: http.ServerResponse, status: number, reason: RejectedReason, message: string, headers?: http.OutgoingHttpHeaders): void {
    this.metrics.reject(reason);
    this.reply(res, status, { error: message }, headers);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/healthz') return this.reply(res, 200, { ok: true });
    if (req.method === 'GET' && req.url === '/readyz') {
      return this.options.instances.synced ? this.reply(res, 200, { ready: true }) : this.reply(res, 503, { ready: false, reason: 'instance namespaces not synced' });
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text);
      return;
    }
    if (req.method !== 'POST' || req.url !== '/alerts') return this.reply(res, 404, { error: 'POST /alerts, GET /healthz, GET /readyz, GET /metrics' });
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !timingSafeEqual(sha256(auth.slice(7)), this.tokenDigest)) {
      return this.reject(res, 401, 'unauthorized', 'missing or wrong bearer token');
    }
    const max = this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (Number(req.headers['content-length'] ?? 0) > max) return this.reject(res, 413, 'too_large', `payload over ${max} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) return this.reject(res, 413, 'too_large', `payload over ${max} bytes`);
      chunks.push(chunk as Buffer);
    }
    let alerts: Alert[];
    try {
      alerts = parsePayload(JSON.parse(Buffer.concat(chunks).toString('utf8')), this.options.maxAlertsPerRequest);
    } catch (err) {
      if (err instanceof BadRequest) return this.reject(res, err.status, err.reason, err.message);
      return this.reject(res, 400, 'invalid', err instanceof SyntaxError ? `malformed JSON: ${err.message}` : 'bad request');
    }
    // Which namespaces are instances is not known yet (or no longer current): Alertmanager retries a 5xx.
    if (!this.options.instances.synced) {
      return this.reject(res, 503, 'not_ready', 'the instance namespace cache is not synced; retry later', { 'retry-after': '5' });
    }
    const results: AlertOutcome[] = [];
    for (const alert of alerts) {
      this.metrics.received.inc();
      results.push(await this.route(alert));
    }
    this.reply(res, 200, { results });
  }

  private ignore(alert: Alert, reason: IgnoredReason, message: string): AlertOutcome {
    this.metrics.ignore(reason);
    return { fingerprint: alert.fingerprint, action: 'ignored', reason: message };
  }

  private deduplicated(alert: Alert, workflowId: string): AlertOutcome {
    this.metrics.deduplicated.inc();
    return { fingerprint: alert.fingerprint, action: 'deduplicated', workflowId };
  }

  private async route(alert: Alert): Promise<AlertOutcome> {
    if (alert.status === 'resolved') return this.ignore(alert, 'resolved', 'resolved alerts never start a runbook');
    const rule = matchRule(this.options.rules, alert.labels);
    if (!rule) return this.ignore(alert, 'no_rule', 'no rule matches');
    let instance: string;
    try {
      instance = validateInstanceName(alert.labels[rule.instanceLabel]);
    } catch (err) {
      return this.ignore(alert, 'invalid_instance_label', `label ${rule.instanceLabel}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!this.options.instances.isInstance(instance)) {
      return this.ignore(alert, 'not_an_instance', `namespace ${instance} is not a platform instance (no ${INSTANCE_LABEL}=${instance} label)`);
    }
    const episode = episodeKey(alert);
    // The hot path: a repeat of an episode handled here is answered without asking Temporal.
    let known = this.episodes.get(episode);
    if (known) return this.deduplicated(alert, known);
    // Identical notifications arriving together wait for the first one's outcome.
    for (let pending = this.inflight.get(episode); pending; pending = this.inflight.get(episode)) await pending;
    known = this.episodes.get(episode);
    if (known) return this.deduplicated(alert, known);
    // An open breaker sheds the load before it reaches Temporal (a new episode of a running run is
    // then ignored instead of attached: it would start nothing either way).
    if (this.breaker.remaining(rule.name, rule.maxRunsPerHour) === 0) return this.breakerOpen(rule, instance, alert);
    const work = this.startOrAttach(rule, instance, alert, episode);
    this.inflight.set(episode, work.catch(() => undefined));
    try {
      return await work;
    } finally {
      this.inflight.delete(episode);
    }
  }

  /** Ignored by the rule's circuit breaker; logged once a minute per rule, counted every time. */
  private breakerOpen(rule: AlertRule, instance: string, alert: Alert): AlertOutcome {
    const now = Date.now();
    if (now - (this.breakerLogged.get(rule.name) ?? -Infinity) >= 60_000) {
      this.breakerLogged.set(rule.name, now);
      this.log.warn({ rule: rule.name, instance, fingerprint: alert.fingerprint, maxRunsPerHour: rule.maxRunsPerHour }, 'circuit breaker open: alert ignored');
    }
    return this.ignore(alert, 'circuit_open', `rule ${rule.name} already started ${rule.maxRunsPerHour} runs in the last hour (maxRunsPerHour)`);
  }

  private remember(episode: string, workflowId: string): void {
    this.episodes.set(episode, workflowId);
    if (this.episodes.size > REMEMBERED_EPISODES) this.episodes.delete(this.episodes.keys().next().value!);
  }

  private async startOrAttach(rule: AlertRule, instance: string, alert: Alert, episode: string): Promise<AlertOutcome> {
    const client = this.options.client;
    const { runbookName, workflowId } = alertTarget(rule, instance);
    const since = new Date(Date.now() - rule.cooldownSeconds * 1000).toISOString();
    // Three independent reads, asked together: one round trip's wait instead of three.
    const [earlier, running, recent] = await Promise.all([
      // The same firing episode after a restart of this receiver: Temporal remembers it.
      firstWorkflowId(client, `RunbookTrigger = "${episode}"`),
      client.workflow
        .getHandle(workflowId)
        .describe()
        .then(
          (d) => d.status.name === 'RUNNING',
          () => false,
        ),
      rule.cooldownSeconds > 0 ? firstWorkflowId(client, `RunbookName = "${runbookName}" AND RunbookInstance = "${instance}" AND CloseTime > "${since}"`) : undefined,
    ]);
    if (earlier) {
      this.remember(episode, earlier);
      return this.deduplicated(alert, earlier);
    }
    if (!running && recent) {
      this.metrics.deduplicated.inc();
      this.remember(episode, recent);
      return { fingerprint: alert.fingerprint, action: 'cooldown', workflowId: recent, reason: `a ${runbookName} run for ${instance} ended within the last ${rule.cooldownSeconds}s` };
    }
    const reservation = running ? undefined : this.breaker.reserve(rule.name, rule.maxRunsPerHour);
    if (!running && !reservation) return this.breakerOpen(rule, instance, alert);
    const start = alertStart(rule, instance, alert, episode, this.options.taskQueue, new Date(), this.options.identity);
    const handle = await start.send(client).catch((err: unknown) => {
      reservation?.release();
      throw err;
    });
    this.remember(episode, handle.workflowId);
    const action = running ? 'attached' : 'started';
    (running ? this.metrics.attached : this.metrics.started).inc();
    this.log.info({ rule: rule.name, instance, fingerprint: alert.fingerprint, workflowId: handle.workflowId, action }, `alert ${action} ${runbookName}`);
    return { fingerprint: alert.fingerprint, action, workflowId: handle.workflowId };
  }
}
