/**
 * The Alertmanager webhook receiver: validates and authenticates payloads (version 4), and starts
 * runbooks from rules, deduplicated so a storm or Alertmanager's repeat_interval re-sends do not
 * multiply runs:
 * - signal-with-start: a notification while the (runbook, instance) run is going attaches to it;
 * - a firing episode (fingerprint + startsAt) starts at most one run, even after it finished
 *   (remembered here, and found in Temporal's visibility through the RunbookTrigger attribute after
 *   a receiver restart);
 * - a per-rule cooldown after a run of the same runbook on the same instance ended.
 * Resolved alerts never start anything.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME, RUNBOOK_TRIGGER, RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import { alertNotificationSignal, destructiveWorkflowId } from '../common/runbook';
import type { RunbookOptions } from '../common/runbook';
import type { AlertRule } from './rules';
import { matchRule } from './rules';

export interface ReceiverOptions {
  client: Client;
  taskQueue: string;
  rules: AlertRule[];
  /** Bearer token Alertmanager sends (http_config.authorization). */
  token: string;
  maxBodyBytes?: number;
}

interface Alert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  fingerprint: string;
}

class BadRequest extends Error {}

/** Version 4 of Alertmanager's webhook payload, as far as the receiver relies on it. */
export function parsePayload(body: unknown): Alert[] {
  const p = body as { version?: unknown; alerts?: unknown };
  if (typeof p !== 'object' || p === null) throw new BadRequest('payload must be a JSON object');
  if (p.version !== '4') throw new BadRequest(`unsupported payload version ${JSON.stringify(p.version)}: expected "4"`);
  if (!Array.isArray(p.alerts)) throw new BadRequest('"alerts" must be a list');
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

function sameSecret(given: string, expected: string): boolean {
  // Hash first so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export class AlertReceiver {
  readonly metrics = { received: 0, deduplicated: 0, started: 0, attached: 0, ignored: 0, rejected: new Map<string, number>() };
  /** Episodes already handled by this process: episode -> workflow ID. Bounded. */
  private readonly episodes = new Map<string, string>();
  /** In-flight handling per episode, so concurrent identical notifications wait for the first. */
  private readonly inflight = new Map<string, Promise<void>>();
  readonly server: http.Server;

  constructor(private readonly options: ReceiverOptions) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        console.error('alert receiver:', err);
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

  private reply(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private reject(res: http.ServerResponse, status: number, reason: string, message: string): void {
    this.metrics.rejected.set(reason, (this.metrics.rejected.get(reason) ?? 0) + 1);
    this.reply(res, status, { error: message });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/healthz') return this.reply(res, 200, { ok: true });
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.prometheus());
      return;
    }
    if (req.method !== 'POST' || req.url !== '/alerts') return this.reply(res, 404, { error: 'POST /alerts, GET /healthz, GET /metrics' });
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), this.options.token)) {
      return this.reject(res, 401, 'unauthorized', 'missing or wrong bearer token');
    }
    const max = this.options.maxBodyBytes ?? 1024 * 1024;
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
      alerts = parsePayload(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch (err) {
      const message = err instanceof SyntaxError ? `malformed JSON: ${err.message}` : err instanceof BadRequest ? err.message : 'bad request';
      return this.reject(res, 400, 'invalid', message);
    }
    const results = [];
    for (const alert of alerts) {
      this.metrics.received++;
      results.push(await this.route(alert));
    }
    this.reply(res, 200, { results });
  }

  private async route(alert: Alert): Promise<{ fingerprint: string; action: string; workflowId?: string; reason?: string }> {
    const ignore = (reason: string) => {
      this.metrics.ignored++;
      return { fingerprint: alert.fingerprint, action: 'ignored', reason };
    };
    if (alert.status === 'resolved') return ignore('resolved alerts never start a runbook');
    const rule = matchRule(this.options.rules, alert.labels);
    if (!rule) return ignore('no rule matches');
    let instance: string;
    try {
      instance = validateInstanceName(alert.labels[rule.instanceLabel]);
    } catch (err) {
      return ignore(`label ${rule.instanceLabel}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const episode = episodeKey(alert);
    // Identical notifications arriving together wait for the first one's outcome.
    const pending = this.inflight.get(episode);
    if (pending) await pending;
    const known = this.episodes.get(episode);
    if (known) {
      this.metrics.deduplicated++;
      return { fingerprint: alert.fingerprint, action: 'deduplicated', workflowId: known };
    }
    let result: { fingerprint: string; action: string; workflowId?: string; reason?: string } = { fingerprint: alert.fingerprint, action: 'none' };
    const work = (async () => {
      result = await this.startOrAttach(rule, instance, alert, episode);
    })();
    this.inflight.set(episode, work);
    try {
      await work;
    } finally {
      this.inflight.delete(episode);
    }
    return result;
  }

  private async startOrAttach(rule: AlertRule, instance: string, alert: Alert, episode: string) {
    const client = this.options.client;
    const remember = (workflowId: string) => {
      this.episodes.set(episode, workflowId);
      if (this.episodes.size > 10_000) this.episodes.delete(this.episodes.keys().next().value!);
    };
    // The same firing episode after a restart of this receiver: Temporal remembers it.
    for await (const wf of client.workflow.list({ query: `RunbookTrigger = "${episode}"` })) {
      remember(wf.workflowId);
      this.metrics.deduplicated++;
      return { fingerprint: alert.fingerprint, action: 'deduplicated', workflowId: wf.workflowId };
    }
    const workflowId = rule.runbook === 'rollback' ? destructiveWorkflowId(instance) : `${RUNBOOKS.diagnosticBundle}/${instance}/alert`;
    const runbookName = rule.runbook === 'rollback' ? RUNBOOKS.rollback : RUNBOOKS.diagnosticBundle;
    const running = await client.workflow.getHandle(workflowId).describe().then(
      (d) => d.status.name === 'RUNNING',
      () => false,
    );
    if (!running && rule.cooldownSeconds > 0) {
      const since = new Date(Date.now() - rule.cooldownSeconds * 1000).toISOString();
      for await (const wf of client.workflow.list({ query: `RunbookName = "${runbookName}" AND RunbookInstance = "${instance}" AND CloseTime > "${since}"` })) {
        this.metrics.deduplicated++;
        remember(wf.workflowId);
        return { fingerprint: alert.fingerprint, action: 'cooldown', workflowId: wf.workflowId, reason: `a ${runbookName} run for ${instance} ended within the last ${rule.cooldownSeconds}s` };
      }
    }
    const requestedBy: RunbookOptions['requestedBy'] = { user: 'alertmanager', via: 'alert', alert: { name: alert.labels.alertname ?? rule.name, fingerprint: alert.fingerprint, startsAt: alert.startsAt } };
    const options: RunbookOptions = { requestedBy, reason: `alert ${alert.labels.alertname ?? ''} (rule ${rule.name})`, approvalPolicy: rule.approvalPolicy };
    const args =
      rule.runbook === 'rollback'
        ? [{ instance, target: rule.parameters.target ?? 'previous', reason: options.reason, options }]
        : [{ instance, options }];
    const handle = await client.workflow.signalWithStart(rule.runbook === 'rollback' ? 'rollback' : 'diagnosticBundle', {
      taskQueue: this.options.taskQueue,
      workflowId,
      // A run in progress receives the notification instead of a second run starting.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      args,
      signal: alertNotificationSignal,
      signalArgs: [{ name: requestedBy.alert!.name, fingerprint: alert.fingerprint, startsAt: alert.startsAt, receivedAt: new Date().toISOString() }],
      typedSearchAttributes: [
        { key: RUNBOOK_NAME, value: runbookName },
        { key: RUNBOOK_INSTANCE, value: instance },
        { key: RUNBOOK_TRIGGER, value: episode },
      ],
      staticSummary: `${runbookName} of ${instance}, started by alert ${requestedBy.alert!.name}`,
    });
    remember(handle.workflowId);
    const attached = running;
    if (attached) this.metrics.attached++;
    else this.metrics.started++;
    return { fingerprint: alert.fingerprint, action: attached ? 'attached' : 'started', workflowId: handle.workflowId };
  }

  private prometheus(): string {
    const lines = [
      '# HELP vcp_alerts_received_total Alerts received in webhook payloads.',
      '# TYPE vcp_alerts_received_total counter',
      `vcp_alerts_received_total ${this.metrics.received}`,
      '# HELP vcp_alerts_deduplicated_total Alerts that matched an episode already handled or a cooldown.',
      '# TYPE vcp_alerts_deduplicated_total counter',
      `vcp_alerts_deduplicated_total ${this.metrics.deduplicated}`,
      '# HELP vcp_alerts_started_total Runbooks started by alerts.',
      '# TYPE vcp_alerts_started_total counter',
      `vcp_alerts_started_total ${this.metrics.started}`,
      '# HELP vcp_alerts_attached_total Alerts attached to a running runbook.',
      '# TYPE vcp_alerts_attached_total counter',
      `vcp_alerts_attached_total ${this.metrics.attached}`,
      '# HELP vcp_alerts_ignored_total Alerts ignored (resolved, no matching rule, no instance).',
      '# TYPE vcp_alerts_ignored_total counter',
      `vcp_alerts_ignored_total ${this.metrics.ignored}`,
      '# HELP vcp_alerts_rejected_total Webhook requests rejected, by reason.',
      '# TYPE vcp_alerts_rejected_total counter',
      ...[...this.metrics.rejected].map(([reason, n]) => `vcp_alerts_rejected_total{reason="${reason}"} ${n}`),
    ];
    return lines.join('\n') + '\n';
  }
}
