/** The receiver's Prometheus metrics (prom-client), on a registry of its own per receiver. */
import { Counter, Gauge, Registry } from 'prom-client';
import type { InstanceDirectory } from './instances';

/** Why an alert started nothing although the request was accepted; a fixed set, so labels stay bounded. */
export type IgnoredReason = 'resolved' | 'no_rule' | 'invalid_instance_label' | 'not_an_instance' | 'circuit_open';
/** Why a whole webhook request was refused. */
export type RejectedReason = 'unauthorized' | 'too_large' | 'too_many_alerts' | 'invalid' | 'not_ready';

export interface MetricCounts {
  received: number;
  deduplicated: number;
  started: number;
  attached: number;
  ignored: Partial<Record<IgnoredReason, number>>;
  rejected: Partial<Record<RejectedReason, number>>;
}

export class ReceiverMetrics {
  readonly registry = new Registry();
  readonly received: Counter;
  readonly deduplicated: Counter;
  readonly started: Counter;
  readonly attached: Counter;
  readonly ignored: Counter<'reason'>;
  readonly rejected: Counter<'reason'>;

  constructor(instances: InstanceDirectory) {
    const registers = [this.registry];
    this.received = new Counter({ name: 'vcp_alerts_received_total', help: 'Alerts received in accepted webhook payloads.', registers });
    this.deduplicated = new Counter({ name: 'vcp_alerts_deduplicated_total', help: 'Alerts that matched an episode already handled or a cooldown.', registers });
    this.started = new Counter({ name: 'vcp_alerts_started_total', help: 'Runbooks started by alerts.', registers });
    this.attached = new Counter({ name: 'vcp_alerts_attached_total', help: 'Alerts attached to a running runbook.', registers });
    this.ignored = new Counter({ name: 'vcp_alerts_ignored_total', help: 'Alerts that started nothing, by reason.', labelNames: ['reason'], registers });
    this.rejected = new Counter({ name: 'vcp_alerts_rejected_total', help: 'Webhook requests refused, by reason.', labelNames: ['reason'], registers });
    new Gauge({
      name: 'vcp_alert_instances_synced',
      help: '1 while the instance namespace cache is synced (alerts are accepted), 0 otherwise.',
      registers,
      collect() {
        this.set(instances.synced ? 1 : 0);
      },
    });
    new Gauge({
      name: 'vcp_alert_instance_namespaces',
      help: 'Namespaces labelled as platform instances in the cache.',
      registers,
      collect() {
        this.set(instances.size);
      },
    });
  }

  ignore(reason: IgnoredReason): void {
    this.ignored.inc({ reason });
  }

  reject(reason: RejectedReason): void {
    this.rejected.inc({ reason });
  }

  /** The counters as numbers (for tests and the benchmark). */
  async counts(): Promise<MetricCounts> {
    const total = async (counter: Counter) => (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
    const byReason = async (counter: Counter<'reason'>) =>
      Object.fromEntries((await counter.get()).values.map((v) => [String(v.labels.reason), v.value])) as Record<string, number>;
    return {
      received: await total(this.received),
      deduplicated: await total(this.deduplicated),
      started: await total(this.started),
      attached: await total(this.attached),
      ignored: await byReason(this.ignored),
      rejected: await byReason(this.rejected),
    };
  }
}
