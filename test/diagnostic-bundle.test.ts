/**
 * The diagnostic bundle runbook on the real Temporal server, API server (pod logs through kwok) and
 * moto: the archive is downloaded through its pre-signed URL, unpacked and compared with the seed.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { startDiagnosticBundle } from '../client/runbooks';
import type { DiagnosticBundleDetails, DiagnosticBundleInput } from '../common/diagnostics';
import { APPLICATION, ARGOCD_NAMESPACE, API_DEPLOYMENT, FRONTEND_DEPLOYMENT } from '../common/platform';
import type { RunbookResult } from '../common/runbook';
import { LOGGED_AWS_SECRET, LOGGED_BEARER_TOKEN } from '../platform-sim/pod-logs';
import { SEEDED_REVISIONS, SEEDED_SECRETS } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
afterAll(() => aws.close());
beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));

interface Manifest {
  instance: string;
  collectors: { collector: string; status: string; error?: string; notes: string[]; files: string[] }[];
  files: { path: string; size: number; sha256: string }[];
  omitted: string[];
}

async function runBundle(input: DiagnosticBundleInput): Promise<RunbookResult<DiagnosticBundleDetails>> {
  return withWorker(async ({ client, taskQueue }) => (await startDiagnosticBundle(client, taskQueue, input)).result() as Promise<RunbookResult<DiagnosticBundleDetails>>);
}

/** Downloads through the pre-signed URL and unpacks: path (below the bundle's root folder) -> content. */
async function download(url: string): Promise<{ bytes: Buffer; files: Map<string, Buffer> }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  const files = new Map<string, Buffer>();
  const untar = extract();
  untar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      files.set(header.name.split('/').slice(1).join('/'), Buffer.concat(chunks));
      next();
    });
  });
  await pipeline(Readable.from([bytes]), createGunzip(), untar);
  return { bytes, files };
}

const requestedBy = { user: 'bob', via: 'test' as const };

describe('diagnostic bundle runbook', () => {
  it('collects everything the guide lists into one archive whose contents match the seeded instance, with secrets redacted', async () => {
    const instance = uniqueInstance('diag');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const pods = await aws.kube.core.listNamespacedPod({ namespace: instance });
    const podNames = pods.items.map((p) => p.metadata!.name!);
    expect(podNames).toHaveLength(3);

    const result = await runBundle({ instance, options: { requestedBy }, urlExpirySeconds: 600 });
    expect(result.outcome).toBe('succeeded');
    const archive = result.details!.archive;
    const { bytes, files } = await download(archive.url);
    expect(bytes.length).toBe(archive.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(archive.sha256);

    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Manifest;
    expect(manifest.instance).toBe(instance);
    expect(manifest.collectors.filter((c) => c.status !== 'ok')).toEqual([]);
    for (const entry of manifest.files) {
      const content = files.get(entry.path);
      expect(content, entry.path).toBeDefined();
      expect(content!.length).toBe(entry.size);
      expect(createHash('sha256').update(content!).digest('hex')).toBe(entry.sha256);
    }
    expect([...files.keys()].sort()).toEqual(['manifest.json', ...manifest.files.map((f) => f.path)].sort());

    const text = (path: string) => files.get(path)?.toString() ?? '';
    for (const pod of podNames) {
      expect(text('resources.txt')).toContain(`pod/${pod}`);
      expect(text('pods.txt')).toContain(`Name:         ${pod}`);
    }
    expect(text('resources.txt')).toMatch(new RegExp(`deployment.apps/${API_DEPLOYMENT}\\s+2/2`));
    const apiPod = podNames.find((p) => p.startsWith(API_DEPLOYMENT))!;
    const frontendPod = podNames.find((p) => p.startsWith(FRONTEND_DEPLOYMENT))!;
    expect(text(`logs/virtual-coffee-api/${apiPod}/api.log`)).toContain(`starting virtual-coffee-api revision=${SEEDED_REVISIONS[2]} pod=${apiPod}`);
    expect(text(`logs/virtual-coffee-frontend/${frontendPod}/frontend.log`)).toContain(`serving virtual-coffee-frontend revision=${SEEDED_REVISIONS[2]}`);
    expect(manifest.collectors.find((c) => c.collector === 'api-logs')?.notes.join('\n')).toMatch(/\(previous\): no logs/);
    expect(text('argocd-app.yaml')).toContain(`name: virtual-coffee-${instance}`);
    expect(text('argocd-app.yaml')).toContain('targetRevision: main');
    expect(text('dynamodb-claim.yaml')).toContain(`name: ${instance}-dynamodb`);
    expect(text('dynamodb-claim.yaml')).toMatch(/resourceRef:\s+apiVersion: virtualcoffee.io\/v1alpha1/);
    expect(Object.keys(JSON.parse(text('dynamodb-tables.json')) as object)).toEqual([`users-${instance}`, `matches-${instance}`, `feedback-${instance}`]);
    expect(text('configmap.yaml')).toMatch(/oauth_client_secret: "?\[REDACTED\]"?/);
    expect(text('configmap.yaml')).toContain('oauth_provider: google');
    expect(text('nodes.txt')).toMatch(/Name: kwok-node-0[\s\S]*Ready\s+True[\s\S]*Allocated resources/);
    expect(text('matching-cronjob.yaml')).toContain('name: virtual-coffee-matching-cronjob');

    // Redaction: no seeded secret appears anywhere in the archive.
    const everything = [...files.values()].map((b) => b.toString()).join('\n');
    for (const secret of [SEEDED_SECRETS.databasePassword, SEEDED_SECRETS.oauthClientSecret, LOGGED_BEARER_TOKEN, LOGGED_AWS_SECRET]) {
      expect(everything.includes(secret), `secret ${secret.slice(0, 6)}… leaked`).toBe(false);
    }
    expect(text(`logs/virtual-coffee-api/${apiPod}/api.log`)).toContain('Bearer [REDACTED]');
  });

  it('records a failing collector in the manifest and still delivers the rest of the bundle', async () => {
    const instance = uniqueInstance('diag-fail');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await aws.kube.custom.deleteNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` });

    const result = await runBundle({ instance, options: { requestedBy } });
    expect(result.outcome).toBe('succeeded');
    expect(result.details!.collectors.find((c) => c.collector === 'argocd-application')).toMatchObject({ status: 'failed', files: 0 });
    const { files } = await download(result.details!.archive.url);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Manifest;
    expect(manifest.collectors.find((c) => c.collector === 'argocd-application')?.error).toMatch(/404|not found/i);
    expect(files.has('argocd-app.yaml')).toBe(false);
    expect(files.has('resources.txt')).toBe(true);
    expect(files.has('dynamodb-claim.yaml')).toBe(true);
    expect(manifest.collectors.filter((c) => c.status === 'ok')).toHaveLength(11);
  });

  it('caps each log and the whole bundle: an oversized log is cut to its newest bytes, and files past the cap are listed as omitted', async () => {
    const instance = uniqueInstance('diag-cap');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const result = await runBundle({ instance, options: { requestedBy }, limits: { maxLogBytes: 120, maxBundleBytes: 6000 } });
    const { files } = await download(result.details!.archive.url);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Manifest;
    const logs = manifest.files.filter((f) => f.path.startsWith('logs/'));
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) expect(log.size).toBeLessThanOrEqual(120);
    expect(manifest.collectors.find((c) => c.collector === 'api-logs')?.notes.join('\n')).toMatch(/log truncated to its last 120 bytes/);
    expect(manifest.files.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(6000);
    expect(manifest.omitted.length).toBeGreaterThan(0);
    expect(result.details!.archive.omitted).toEqual(manifest.omitted);
  });

  it('refuses a download link longer than SigV4 allows, before collecting anything', async () => {
    const err = await withWorker(async ({ client, taskQueue }) =>
      (await startDiagnosticBundle(client, taskQueue, { instance: 'demo', options: { requestedBy }, urlExpirySeconds: 8 * 24 * 3600 })).result().then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    let messages = '';
    for (let e: unknown = err; e instanceof Error; e = e.cause) messages += `${e.message}\n`;
    expect(messages).toMatch(/urlExpirySeconds must be between 1 and 604800/);
  });
});
