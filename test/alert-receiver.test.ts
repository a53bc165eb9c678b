/**
 * The Alertmanager webhook receiver on the real Temporal server and the real kube-apiserver: only
 * namespaces labelled as platform instances start runs (a watch keeps the receiver's view current),
 * storms deduplicate, firing episodes never re-trigger (also after a restart), repeats are answered
 * from memory, requests and the alerts attached to a run are bounded, each rule has a circuit
 * breaker, resolved alerts and bad requests start nothing.
 *
 * "Nothing started" is checked on the workflow ID the run would have (strongly consistent), not by
 * a visibility query that answers "none" before the server has caught up.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadKubeConfig, MERGE_PATCH } from '../activities/kubernetes/client';
import { API_DEPLOYMENT, INSTANCE_LABEL } from '../common/platform';
import type { TriageReport } from '../common/triage';
import { CRASH_LOOP_ANNOTATION } from '../platform-sim/platform-repo';
import { MAX_LISTED_ALERT_EPISODES } from '../common/runbook';
import type { RunbookResult } from '../common/runbook';
import { BREAKER_WINDOW_MS, RunBreaker } from '../receiver/breaker';
import { InstanceNamespaces } from '../receiver/instances';
import { parseRules, RulesError } from '../receiver/rules';
import type { AlertRule } from '../receiver/rules';
import { AlertReceiver, episodeKey } from '../receiver/server';
import type { AlertOutcome, ReceiverOptions } from '../receiver/server';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, keys } from '../test-support/approvers';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const TOKEN = 'test-alert-token-0123456789abcdef';
const defaultRules = parseRules(readFileSync(path.join(__dirname, '..', 'receiver', 'default-rules.yaml'), 'utf8'));
/** The default rules with other settings for one rule (by name). */
function rulesWith(name: string, changes: Partial<AlertRule>): AlertRule[] {
  return defaultRules.map((rule) => (rule.name === name ? { ...rule, ...changes } : rule));
}
const aws = awsClients();
const quiet = pino({ level: 'silent' });
/** The instance cache every receiver in this file shares, over the admin kubeconfig. */
const instances = new InstanceNamespaces(loadKubeConfig(config.kubernetes.kubeconfig));

beforeAll(async () => {
  await ensureBackupBucket(aws.s3, config.aws.backupBucket);
  await instances.start();
  await until('the instance cache to sync', () => instances.synced);
});
afterAll(async () => {
  await instances.stop();
  aws.close();
});

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A namespace of its own for one test, labelled INSTANCE_LABEL=`label` (its own name makes it an
 * instance; null leaves it unlabelled); returns once the shared cache agrees. Deleted afterwards.
 */
async function namespace(prefix: string, label: string | null = 'self'): Promise<string> {
  const name = uniqueInstance(prefix);
  const value = label === 'self' ? name : label;
  await aws.kube.core.createNamespace({ body: { metadata: { name, labels: value === null ? {} : { [INSTANCE_LABEL]: value } } } });
  onTestFinished(() => aws.kube.core.deleteNamespace({ name }).then(() => undefined, () => undefined));
  await until(`the cache to see ${name}`, () => instances.isInstance(name) === (value === name));
  return name;
}

async function setInstanceLabel(name: string, value: string | null): Promise<void> {
  await aws.kube.core.patchNamespace({ name, body: { metadata: { labels: { [INSTANCE_LABEL]: value } } } }, MERGE_PATCH);
  await until(`the watch to deliver ${name}'s label ${value}`, () => instances.isInstance(name) === (value === name));
}

function payload(instance: string, status: 'firing' | 'resolved', startsAt: string, fingerprint = `fp-${instance}`, alertname = 'VirtualCoffeeApi5xx') {
  return {
    version: '4',
    status,
    receiver: 'vcp-runbooks',
    groupKey: `{}:{alertname="${alertname}"}`,
    alerts: [{ status, labels: { alertname, namespace: instance, severity: 'critical' }, annotations: { summary: alertname }, startsAt, endsAt: '0001-01-01T00:00:00Z', fingerprint }],
  };
}

type Options = Partial<Omit<ReceiverOptions, 'client' | 'taskQueue' | 'token'>>;

async function withReceiver<T>(client: Client, taskQueue: string, options: Options, fn: (url: string, receiver: AlertReceiver) => Promise<T>): Promise<T> {
  const receiver = new AlertReceiver({ client, taskQueue, rules: defaultRules, token: TOKEN, maxBodyBytes: 64 * 1024, instances, logger: quiet, ...options });
  const port = await receiver.listen(0);
  try {
    return await fn(`http://127.0.0.1:${port}`, receiver);
  } finally {
    await receiver.close();
  }
}

/**
 * A Temporal client and a task queue no worker polls: runs the receiver starts stay where they are
 * (nothing executes) and are terminated when the test ends.
 */
async function withTemporal<T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  const { client, close } = await temporalClient();
  try {
    return await fn(client, `alerts-${uniqueInstance('q')}`);
  } finally {
    await close();
  }
}

function post(url: string, body: unknown, token = TOKEN, raw?: string) {
  return fetch(`${url}/alerts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });
}

async function outcomes(response: Response): Promise<AlertOutcome[]> {
  expect(response.status).toBe(200);
  return ((await response.json()) as { results: AlertOutcome[] }).results;
}

const bundleId = (instance: string) => `diagnostic-bundle/${instance}/alert`;

/** The run ID under a workflow ID, or undefined when no run ever had it (strongly consistent). */
async function runIdOf(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).runId;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Terminates the runs a test left on a queue nobody polls. */
async function terminate(client: Client, workflowIds: string[]): Promise<void> {
  for (const id of workflowIds) await client.workflow.getHandle(id).terminate('test finished').catch(() => undefined);
}

describe('alert receiver', () => {
  it('a storm of 1000 identical alerts starts one run; the same episode after it finished starts none, even after a receiver restart (with no cooldown to hide it)', async () => {
    const instance = uniqueInstance('alert');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await until('the seeded namespace in the cache', () => instances.isInstance(instance));
    // A timestamp of its own (not "now"): the restarted receiver must find this very episode.
    const startsAt = new Date(Date.now() - 60_000 - Math.floor(Math.random() * 1e6)).toISOString();
    const episode = episodeKey({ fingerprint: `fp-${instance}`, startsAt });
    // Without a cooldown only the episode lookup can keep the restarted receiver from a second run.
    const rules = rulesWith('api-5xx', { cooldownSeconds: 0 });
    await withWorker(async ({ client, taskQueue }) => {
      await withReceiver(client, taskQueue, { rules }, async (url, receiver) => {
        const statuses: number[] = [];
        for (let batch = 0; batch < 20; batch++) {
          const responses = await Promise.all(Array.from({ length: 50 }, () => post(url, payload(instance, 'firing', startsAt))));
          statuses.push(...responses.map((r) => r.status));
        }
        expect(statuses.filter((s) => s !== 200)).toEqual([]);
        expect(await receiver.metrics.counts()).toMatchObject({ received: 1000, started: 1, deduplicated: 999 });
        const metrics = await (await fetch(`${url}/metrics`)).text();
        expect(metrics).toContain('vcp_alerts_started_total 1');
        expect(metrics).toContain('vcp_alerts_deduplicated_total 999');
      });
      const handle = client.workflow.getHandle(bundleId(instance));
      const result = (await handle.result()) as RunbookResult<unknown>;
      expect(result.outcome).toBe('succeeded');
      expect(result.audit.requestedBy).toMatchObject({ user: 'alertmanager', via: 'alert', alert: { fingerprint: `fp-${instance}` } });
      // Requested by the receiver's service identity, its signature verified against the keyring.
      expect(result.audit.requester).toMatchObject({ user: 'alertmanager', authenticated: true, publicKey: keys.alertmanager.publicKey });
      const firstRun = await runIdOf(client, bundleId(instance));
      await until('visibility to list the run by its trigger', async () => {
        for await (const wf of client.workflow.list({ query: `RunbookTrigger = "${episode}"` })) return wf.workflowId === bundleId(instance);
        return false;
      });

      // Alertmanager re-sends the firing alert after repeat_interval, to a restarted receiver.
      await withReceiver(client, taskQueue, { rules }, async (url, receiver) => {
        const [outcome] = await outcomes(await post(url, payload(instance, 'firing', startsAt)));
        expect(outcome).toMatchObject({ action: 'deduplicated', workflowId: bundleId(instance) });
        expect((await receiver.metrics.counts()).started).toBe(0);
      });
      // No second run under the workflow ID (a start would have made a new run ID).
      expect(await runIdOf(client, bundleId(instance))).toBe(firstRun);
    });
  });

  it('a repeat of a known episode is answered from memory, without a single call to Temporal', async () => {
    await withTemporal(async (client, taskQueue) => {
      const instance = await namespace('alert-mem');
      onTestFinished(() => terminate(client, [bundleId(instance)]));
      const startsAt = new Date(Date.now() - 1000 * Math.floor(1 + Math.random() * 1e6)).toISOString();
      await withReceiver(client, taskQueue, {}, async (url) => {
        expect((await outcomes(await post(url, payload(instance, 'firing', startsAt))))[0]).toMatchObject({ action: 'started' });
        const calls = [vi.spyOn(client.workflow, 'list'), vi.spyOn(client.workflow, 'getHandle'), vi.spyOn(client.workflow, 'signalWithStart')];
        for (let i = 0; i < 20; i++) expect((await outcomes(await post(url, payload(instance, 'firing', startsAt))))[0]).toMatchObject({ action: 'deduplicated', workflowId: bundleId(instance) });
        expect(calls.map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0]);
        for (const spy of calls) spy.mockRestore();
      });
    });
  });

  it('starts runs only for namespaces labelled as instances, and follows label changes through the watch', async () => {
    await withTemporal(async (client, taskQueue) => {
      const labelled = await namespace('alert-inst');
      const unlabelled = await namespace('alert-plain', null);
      const otherValue = await namespace('alert-other', 'some-other-instance');
      const missing = uniqueInstance('alert-missing');
      const flipping = await namespace('alert-flip');
      onTestFinished(() => terminate(client, [labelled, unlabelled, otherValue, missing, flipping].map(bundleId)));
      const startsAt = new Date().toISOString();
      await withReceiver(client, taskQueue, {}, async (url) => {
        expect((await outcomes(await post(url, payload(labelled, 'firing', startsAt))))[0]).toMatchObject({ action: 'started', workflowId: bundleId(labelled) });
        for (const name of [unlabelled, otherValue, missing]) {
          const [outcome] = await outcomes(await post(url, payload(name, 'firing', startsAt)));
          expect(outcome).toMatchObject({ action: 'ignored', reason: `namespace ${name} is not a platform instance (no ${INSTANCE_LABEL}=${name} label)` });
        }
        // The label removed while the receiver runs: the watch's DELETED event takes it out.
        await setInstanceLabel(flipping, null);
        expect((await outcomes(await post(url, payload(flipping, 'firing', startsAt))))[0]).toMatchObject({ action: 'ignored' });
        // And put back: the ADDED event brings it in; the same episode now starts a run.
        await setInstanceLabel(flipping, flipping);
        expect((await outcomes(await post(url, payload(flipping, 'firing', startsAt))))[0]).toMatchObject({ action: 'started', workflowId: bundleId(flipping) });
        const metrics = await (await fetch(`${url}/metrics`)).text();
        expect(metrics).toContain('vcp_alerts_ignored_total{reason="not_an_instance"} 4');
        expect(metrics).toContain('vcp_alerts_started_total 2');
        expect(metrics).toContain('vcp_alert_instances_synced 1');
      });
      expect(await runIdOf(client, bundleId(labelled))).toBeDefined();
      for (const name of [unlabelled, otherValue, missing]) expect(await runIdOf(client, bundleId(name)), name).toBeUndefined();
    });
  });

  it('answers 503 (and /readyz 503) while the instance cache has not synced or its watch has been broken too long, and accepts again once it resyncs', async () => {
    await withTemporal(async (client, taskQueue) => {
      const instance = await namespace('alert-sync');
      onTestFinished(() => terminate(client, [bundleId(instance)]));
      const proxy = await apiServerProxy();
      onTestFinished(() => proxy.close());
      // Behind the proxy, which refuses connections for now: the cache cannot list.
      proxy.refuse();
      const cut = new InstanceNamespaces(proxy.kubeConfig, { staleAfterMs: 1000, backoffMs: 100, maxBackoffMs: 200 });
      onTestFinished(() => cut.stop());
      await cut.start();
      const startsAt = new Date().toISOString();
      await withReceiver(client, taskQueue, { instances: cut }, async (url, receiver) => {
        const refused = await post(url, payload(instance, 'firing', startsAt));
        expect(refused.status).toBe(503);
        expect(refused.headers.get('retry-after')).toBe('5');
        expect(((await refused.json()) as { error: string }).error).toMatch(/instance namespace cache is not synced/);
        expect((await fetch(`${url}/readyz`)).status).toBe(503);
        expect((await fetch(`${url}/healthz`)).status).toBe(200);

        proxy.accept();
        await until('the cache behind the proxy to sync', () => cut.synced);
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        // The API server goes away: stale answers are trusted for staleAfterMs, then refused.
        proxy.refuse();
        await until('the broken watch to go stale', () => !cut.synced, 10_000);
        expect((await post(url, payload(instance, 'firing', startsAt))).status).toBe(503);
        expect(await runIdOf(client, bundleId(instance))).toBeUndefined();

        proxy.accept();
        await until('the cache to resync', () => cut.synced, 10_000);
        expect((await outcomes(await post(url, payload(instance, 'firing', startsAt))))[0]).toMatchObject({ action: 'started' });
        expect((await receiver.metrics.counts()).rejected).toMatchObject({ not_ready: 2 });
      });
    });
  });

  it('bounds the alerts in one request: past the limit 413 with the reason, and nothing starts', async () => {
    await withTemporal(async (client, taskQueue) => {
      const names = [await namespace('alert-many'), await namespace('alert-many'), await namespace('alert-many'), await namespace('alert-many')];
      onTestFinished(() => terminate(client, names.map(bundleId)));
      const startsAt = new Date().toISOString();
      const body = (n: number) => ({ version: '4', alerts: names.slice(0, n).flatMap((name) => payload(name, 'firing', startsAt).alerts) });
      await withReceiver(client, taskQueue, { maxAlertsPerRequest: 3 }, async (url, receiver) => {
        const refused = await post(url, body(4));
        expect(refused.status).toBe(413);
        expect(((await refused.json()) as { error: string }).error).toBe("4 alerts in one request, at most 3 accepted: set max_alerts: 3 in Alertmanager's webhook_config");
        for (const name of names) expect(await runIdOf(client, bundleId(name)), name).toBeUndefined();
        expect((await outcomes(await post(url, body(3)))).map((o) => o.action)).toEqual(['started', 'started', 'started']);
        expect(await receiver.metrics.counts()).toMatchObject({ received: 3, rejected: { too_many_alerts: 1 } });
      });
    });
  });

  it('circuit breaker: a rule starts at most maxRunsPerHour runs in a sliding hour, then ignores alerts with a reason and a log line; attaching or a failed start uses none of it', async () => {
    await withTemporal(async (client, taskQueue) => {
      const names = [await namespace('alert-cb'), await namespace('alert-cb'), await namespace('alert-cb')];
      onTestFinished(() => terminate(client, names.map(bundleId)));
      let now = Date.now();
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
      const rules = rulesWith('api-5xx', { maxRunsPerHour: 2 });
      const startsAt = new Date().toISOString();
      const later = new Date(Date.parse(startsAt) + 1000).toISOString();
      await withReceiver(client, taskQueue, { rules, logger, breaker: new RunBreaker(() => now) }, async (url, receiver) => {
        // Temporal refuses the first start: the request fails (Alertmanager retries) and the budget is untouched.
        const unavailable = vi.spyOn(client.workflow, 'signalWithStart').mockRejectedValueOnce(new Error('Temporal unavailable'));
        expect((await post(url, payload(names[0]!, 'firing', startsAt))).status).toBe(500);
        unavailable.mockRestore();
        expect((await outcomes(await post(url, payload(names[0]!, 'firing', startsAt))))[0]).toMatchObject({ action: 'started' });
        // A new episode on an instance whose run is still going attaches: no new run, no budget used.
        expect((await outcomes(await post(url, payload(names[0]!, 'firing', later, 'fp-second'))))[0]).toMatchObject({ action: 'attached', workflowId: bundleId(names[0]!) });
        const rest = await outcomes(await post(url, { version: '4', alerts: names.slice(1).flatMap((name) => payload(name, 'firing', startsAt).alerts) }));
        expect(rest.map((o) => o.action)).toEqual(['started', 'ignored']);
        expect(rest[1]!.reason).toBe('rule api-5xx already started 2 runs in the last hour (maxRunsPerHour)');
        expect(await runIdOf(client, bundleId(names[2]!))).toBeUndefined();
        // While it is open, alerts of the rule are shed before any call to Temporal, and logged once a minute.
        const calls = [vi.spyOn(client.workflow, 'list'), vi.spyOn(client.workflow, 'getHandle'), vi.spyOn(client.workflow, 'signalWithStart')];
        for (let i = 0; i < 5; i++) expect((await outcomes(await post(url, payload(names[2]!, 'firing', later, `fp-shed-${i}`))))[0]).toMatchObject({ action: 'ignored' });
        expect(calls.map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0]);
        for (const spy of calls) spy.mockRestore();
        const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.msg === 'circuit breaker open: alert ignored');
        expect(logged).toEqual([expect.objectContaining({ level: 40, rule: 'api-5xx', instance: names[2], maxRunsPerHour: 2 })]);

        // Just under an hour after the first start the rule is still at its limit; an hour after, it may start again.
        now += BREAKER_WINDOW_MS - 60_000;
        expect((await outcomes(await post(url, payload(names[2]!, 'firing', startsAt))))[0]).toMatchObject({ action: 'ignored' });
        now += 60_000;
        expect((await outcomes(await post(url, payload(names[2]!, 'firing', startsAt))))[0]).toMatchObject({ action: 'started' });
        expect(await receiver.metrics.counts()).toMatchObject({ started: 3, attached: 1, ignored: { circuit_open: 7 } });
      });
    });
  });

  it('a run lists at most MAX_LISTED_ALERT_EPISODES distinct episodes and counts the notifications past them', async () => {
    const instance = uniqueInstance('alert-many-ep');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await until('the seeded namespace in the cache', () => instances.isInstance(instance));
    const extra = 5;
    const total = MAX_LISTED_ALERT_EPISODES + extra;
    const base = Date.now() - 3_600_000;
    const startsAt = (i: number) => new Date(base + i * 1000).toISOString();
    await withWorker(
      async ({ client, taskQueue }) => {
        await withReceiver(client, taskQueue, {}, async (url) => {
          // A bad deploy starts a rollback, which waits for approval: every further episode attaches to it.
          const alerts = Array.from({ length: total }, (_, i) => payload(instance, 'firing', startsAt(i), `fp-deploy-${i}`, 'VirtualCoffeeBadDeploy').alerts[0]);
          const results = await outcomes(await post(url, { version: '4', alerts }));
          expect(results.map((r) => r.action)).toEqual(['started', ...Array<string>(total - 1).fill('attached')]);
          // A repeat of the first episode counts as a repeat, not as another episode.
          const handle = client.workflow.getHandle(`destructive/${instance}`);
          await handle.signal('alertNotification', { name: 'VirtualCoffeeBadDeploy', fingerprint: 'fp-deploy-0', startsAt: startsAt(0), receivedAt: new Date().toISOString() });
          await handle.cancel();
          const result = (await handle.result()) as RunbookResult<unknown>;
          expect(result.outcome).toBe('cancelled');
          expect(result.audit.alerts?.map((a) => a.fingerprint)).toEqual(Array.from({ length: MAX_LISTED_ALERT_EPISODES }, (_, i) => `fp-deploy-${i}`));
          expect(result.audit.alerts?.[0]?.repeats).toBe(1);
          expect(result.audit.unlistedAlerts).toBe(extra);
        });
      },
      { overrides: { approvals } },
    );
  });

  it('crash-looping pods start a triage whose result and details carry the findings; no remediation starts by itself', async () => {
    const instance = uniqueInstance('alert-triage');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await aws.kube.apps.patchNamespacedDeployment(
      { name: API_DEPLOYMENT, namespace: instance, body: { spec: { template: { metadata: { annotations: { [CRASH_LOOP_ANNOTATION]: 'true' } } } } } },
      MERGE_PATCH,
    );
    await until('the seeded namespace in the cache', () => instances.isInstance(instance));
    await until(
      'an API pod crash-looping',
      async () => (await aws.kube.core.listNamespacedPod({ namespace: instance, labelSelector: `app=${API_DEPLOYMENT}` })).items.some((p) => p.status?.containerStatuses?.some((c) => c.state?.waiting?.reason === 'CrashLoopBackOff')),
      60_000,
    );
    await withWorker(async ({ client, taskQueue }) => {
      const workflowId = await withReceiver(client, taskQueue, {}, async (url) => {
        const [outcome] = await outcomes(await post(url, payload(instance, 'firing', new Date().toISOString(), `fp-crash-${instance}`, 'KubePodCrashLooping')));
        expect(outcome).toMatchObject({ action: 'started' });
        return outcome!.workflowId!;
      });
      expect(workflowId).toBe(`triage/${instance}/alert`);
      const handle = client.workflow.getHandle(workflowId);
      const result = (await handle.result()) as RunbookResult<TriageReport>;
      expect(result.outcome).toBe('succeeded');
      expect(result.audit.requestedBy).toMatchObject({ via: 'alert', alert: { name: 'KubePodCrashLooping' } });
      const crash = result.details!.findings.find((f) => f.id.startsWith(`pods/crash-loop/${API_DEPLOYMENT}-`));
      expect(crash).toMatchObject({ severity: 'error', fix: { runbook: 'restart', target: 'api' } });
      const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toContain(`--fix ${crash!.id}`);
      // Triage only reads: the instance's one destructive ID is free, nothing was started to fix it.
      expect(await runIdOf(client, `destructive/${instance}`)).toBeUndefined();
    });
  });

  it('resolved alerts start nothing; bad tokens get 401, malformed and invalid payloads 400, oversized 413: nothing starts for the (real) instance', async () => {
    await withTemporal(async (client, taskQueue) => {
      const instance = await namespace('alert-bad');
      onTestFinished(() => terminate(client, [bundleId(instance)]));
      await withReceiver(client, taskQueue, {}, async (url, receiver) => {
        const startsAt = new Date().toISOString();
        const resolved = await outcomes(await post(url, payload(instance, 'resolved', startsAt)));
        expect(resolved[0]).toMatchObject({ action: 'ignored', reason: 'resolved alerts never start a runbook' });
        expect((await post(url, payload(instance, 'firing', startsAt), 'wrong-token')).status).toBe(401);
        expect((await fetch(`${url}/alerts`, { method: 'POST', body: JSON.stringify(payload(instance, 'firing', startsAt)) })).status).toBe(401);
        expect((await post(url, undefined, TOKEN, '{"version": "4", "alerts": [')).status).toBe(400);
        const invalid = await post(url, { ...payload(instance, 'firing', startsAt), version: '3' });
        expect(invalid.status).toBe(400);
        expect(((await invalid.json()) as { error: string }).error).toMatch(/unsupported payload version "3"/);
        const badLabels = payload(instance, 'firing', startsAt);
        (badLabels.alerts[0]!.labels as Record<string, unknown>).severity = 1;
        expect((await post(url, badLabels)).status).toBe(400);
        const padded = { ...payload(instance, 'firing', startsAt), pad: 'x'.repeat(70 * 1024) };
        expect((await post(url, padded)).status).toBe(413);
        expect(await receiver.metrics.counts()).toMatchObject({ started: 0, ignored: { resolved: 1 }, rejected: { unauthorized: 2, invalid: 3, too_large: 1 } });
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
      });
      // Every refused payload above was a firing alert for a real instance: had one passed, this run would exist.
      expect(await runIdOf(client, bundleId(instance))).toBeUndefined();
    });
  });

  it('the rules file refuses unknown keys, duplicate rule names and an out-of-range maxRunsPerHour', () => {
    const rule = (extra: string) => `rules:\n  - {name: a, match: {alertname: A}, runbook: diagnostic-bundle${extra}}\n`;
    expect(parseRules(rule(''))[0]).toMatchObject({ maxRunsPerHour: 10, cooldownSeconds: 600 });
    expect(() => parseRules(rule(', maxRunPerHour: 2'))).toThrow(new RulesError('rules file: rules[0]: unknown key "maxRunPerHour"'));
    expect(() => parseRules(rule(', maxRunsPerHour: 0'))).toThrow(/rules\[0\]\.maxRunsPerHour must be an integer from 1 to 1000/);
    expect(() => parseRules(rule('') + rule('').replace('rules:\n', ''))).toThrow(/rule name "a" is used twice/);
  });
});

/**
 * A TCP relay to the stack's API server on a port of its own, which can refuse (and cut) connections
 * on demand; its kubeconfig is the admin one pointed at the relay.
 */
async function apiServerProxy(): Promise<{ kubeConfig: KubeConfig; refuse: () => void; accept: () => void; close: () => void }> {
  const admin = loadKubeConfig(config.kubernetes.kubeconfig);
  const target = new URL(admin.getCurrentCluster()!.server);
  let refusing = false;
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    if (refusing) return socket.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [socket, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    socket.pipe(upstream).pipe(socket);
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(admin.exportConfig());
  const cluster = kubeConfig.getCurrentCluster()!;
  kubeConfig.clusters = kubeConfig.clusters.map((c) => (c.name === cluster.name ? { ...c, server: `https://127.0.0.1:${port}` } : c));
  return {
    kubeConfig,
    refuse: () => {
      refusing = true;
      for (const s of open) s.destroy();
    },
    accept: () => {
      refusing = false;
    },
    close: () => {
      refusing = true;
      for (const s of open) s.destroy();
      server.close();
    },
  };
}
