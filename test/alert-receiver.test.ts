/**
 * The Alertmanager webhook receiver on the real Temporal server, starting real diagnostic bundles
 * on a seeded instance: storms deduplicate, firing episodes never re-trigger, resolved alerts and bad
 * requests start nothing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRules } from '../receiver/rules';
import { AlertReceiver, episodeKey } from '../receiver/server';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const TOKEN = 'test-alert-token-0123456789abcdef';
const rules = parseRules(readFileSync(path.join(__dirname, '..', 'receiver', 'default-rules.yaml'), 'utf8'));
const aws = awsClients();
beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

function payload(instance: string, status: 'firing' | 'resolved', startsAt: string, fingerprint = `fp-${instance}`) {
  return {
    version: '4',
    status,
    receiver: 'vcp-runbooks',
    groupKey: `{}:{alertname="VirtualCoffeeApi5xx"}`,
    alerts: [
      { status, labels: { alertname: 'VirtualCoffeeApi5xx', namespace: instance, severity: 'critical' }, annotations: { summary: 'API 5xx' }, startsAt, endsAt: '0001-01-01T00:00:00Z', fingerprint },
    ],
  };
}

async function withReceiver<T>(client: Client, taskQueue: string, fn: (url: string, receiver: AlertReceiver) => Promise<T>): Promise<T> {
  const receiver = new AlertReceiver({ client, taskQueue, rules, token: TOKEN, maxBodyBytes: 64 * 1024 });
  const port = await receiver.listen(0);
  try {
    return await fn(`http://127.0.0.1:${port}`, receiver);
  } finally {
    await receiver.close();
  }
}

function post(url: string, body: unknown, token = TOKEN, raw?: string) {
  return fetch(`${url}/alerts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });
}

async function runsTriggeredBy(client: Client, episode: string, want: number): Promise<string[]> {
  let ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    ids = [];
    for await (const wf of client.workflow.list({ query: `RunbookTrigger = "${episode}"` })) ids.push(wf.workflowId);
    if (ids.length >= want) return ids;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return ids;
}

describe('alert receiver', () => {
  it('a storm of 1000 identical alerts starts one run; the same episode after it finished starts none, even after a receiver restart', async () => {
    const instance = uniqueInstance('alert');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const episode = episodeKey({ fingerprint: `fp-${instance}`, startsAt });
    await withWorker(async ({ client, taskQueue }) => {
      await withReceiver(client, taskQueue, async (url, receiver) => {
        const statuses: number[] = [];
        for (let batch = 0; batch < 20; batch++) {
          const responses = await Promise.all(Array.from({ length: 50 }, () => post(url, payload(instance, 'firing', startsAt))));
          statuses.push(...responses.map((r) => r.status));
        }
        expect(statuses.filter((s) => s !== 200)).toEqual([]);
        expect(receiver.metrics).toMatchObject({ received: 1000, started: 1, deduplicated: 999 });
        const metrics = await (await fetch(`${url}/metrics`)).text();
        expect(metrics).toContain('vcp_alerts_started_total 1');
        expect(metrics).toContain('vcp_alerts_deduplicated_total 999');
      });
      const ids = await runsTriggeredBy(client, episode, 1);
      expect(ids).toEqual([`diagnostic-bundle/${instance}/alert`]);
      const result = (await client.workflow.getHandle(ids[0]!).result()) as { outcome: string; audit: { requestedBy: { via: string; alert: { fingerprint: string } } } };
      expect(result.outcome).toBe('succeeded');
      expect(result.audit.requestedBy).toMatchObject({ via: 'alert', alert: { fingerprint: `fp-${instance}` } });

      // Alertmanager re-sends the firing alert after repeat_interval, to a restarted receiver.
      await withReceiver(client, taskQueue, async (url, receiver) => {
        const response = await post(url, payload(instance, 'firing', startsAt));
        expect(response.status).toBe(200);
        expect(receiver.metrics.started).toBe(0);
        expect(((await response.json()) as { results: { action: string }[] }).results[0]?.action).toBe('deduplicated');
      });
      expect(await runsTriggeredBy(client, episode, 2)).toHaveLength(1);
    });
  });

  it('resolved alerts start nothing; bad tokens get 401, malformed and invalid payloads 400, oversized 413', async () => {
    const instance = uniqueInstance('alert-bad');
    await withWorker(async ({ client, taskQueue }) => {
      await withReceiver(client, taskQueue, async (url, receiver) => {
        const startsAt = new Date().toISOString();
        const resolved = await post(url, payload(instance, 'resolved', startsAt));
        expect(resolved.status).toBe(200);
        expect(((await resolved.json()) as { results: { action: string; reason: string }[] }).results[0]).toMatchObject({ action: 'ignored', reason: 'resolved alerts never start a runbook' });
        expect((await post(url, payload(instance, 'firing', startsAt), 'wrong-token')).status).toBe(401);
        expect((await fetch(`${url}/alerts`, { method: 'POST', body: '{}' })).status).toBe(401);
        expect((await post(url, undefined, TOKEN, '{"version": "4", "alerts": [')).status).toBe(400);
        const invalid = await post(url, { version: '3', alerts: [] });
        expect(invalid.status).toBe(400);
        expect(((await invalid.json()) as { error: string }).error).toMatch(/unsupported payload version "3"/);
        expect((await post(url, { version: '4', alerts: [{ status: 'firing', labels: { a: 1 } }] })).status).toBe(400);
        expect((await post(url, undefined, TOKEN, JSON.stringify({ version: '4', alerts: [], pad: 'x'.repeat(70 * 1024) }))).status).toBe(413);
        expect(receiver.metrics.started).toBe(0);
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
      });
      expect(await runsTriggeredBy(client, episodeKey({ fingerprint: `fp-${instance}`, startsAt: new Date().toISOString() }), 0)).toEqual([]);
      const any: string[] = [];
      for await (const wf of client.workflow.list({ query: `RunbookInstance = "${instance}"` })) any.push(wf.workflowId);
      expect(any).toEqual([]);
    });
  });
});
