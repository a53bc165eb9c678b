/**
 * The diagnostic bundle runbook on the real Temporal server, API server (pod logs through kwok) and
 * moto: the archive is downloaded through a link signed as the CLI signs it, unpacked and compared
 * with the seed.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure, decodeTimeoutType } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { parse } from 'yaml';
import type { TriageReport } from '../common/triage';
import { createArchiveActivities } from '../activities/aws/archive';
import { createDiagnosticsActivities } from '../activities/diagnostics/collectors';
import { signDownloadLink } from '../client/download-link';
import { startDiagnosticBundle } from '../client/runbooks';
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS, STAGING_LOST } from '../common/diagnostics';
import type { DiagnosticArchive, DiagnosticBundleDetails, DiagnosticBundleInput } from '../common/diagnostics';
import { APPLICATION, ARGOCD_NAMESPACE, API_DEPLOYMENT, CONFIG_MAP, FRONTEND_DEPLOYMENT } from '../common/platform';
import { progressQuery } from '../common/runbook';
import type { RunbookResult } from '../common/runbook';
import { LOGGED_AWS_SECRET, LOGGED_BEARER_TOKEN } from '../platform-sim/pod-logs';
import { SEEDED_SECRETS, waitFor } from '../platform-sim/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { ALL_CANARIES, CANARY, REDACTION_CANARIES } from '../test-support/redaction-canaries';
import { seedForTest } from '../test-support/seed';
import { startDynamoDbFaultProxy } from '../test-support/dynamodb-fault-proxy';
import type { DynamoDbFaultProxy } from '../test-support/dynamodb-fault-proxy';
import { approversFileJson } from '../test-support/approvers';
import { awsClients, config, directStagingArea, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
afterAll(() => aws.close());
beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));

interface Manifest {
  instance: string;
  bundleId: string;
  collectors: { collector: string; status: string; error?: string; notes: string[]; files: string[] }[];
  files: { path: string; size: number; sha256: string }[];
  omitted: string[];
}

async function runBundle(input: DiagnosticBundleInput): Promise<RunbookResult<DiagnosticBundleDetails>> {
  return withWorker(async ({ client, taskQueue }) => (await startDiagnosticBundle(client, taskQueue, input)).result());
}

/** Downloads through a link signed as the CLI signs it, and unpacks: path (below the bundle's root folder) -> content. */
async function download(archive: DiagnosticArchive): Promise<{ bytes: Buffer; files: Map<string, Buffer> }> {
  const response = await fetch((await signDownloadLink(config, archive, 600)).url);
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

/** The parts of a pod read back from resources.yaml. */
interface V1PodLike {
  metadata: { name: string; annotations: Record<string, string> };
  spec: { containers: { args: string[]; env: { name: string; value: string }[] }[] };
}

describe('diagnostic bundle runbook', () => {
  it('collects everything the guide lists into one archive whose contents match the seeded instance, with secrets redacted', async () => {
    const instance = uniqueInstance('diag');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const pods = await aws.kube.core.listNamespacedPod({ namespace: instance });
    const podNames = pods.items.map((p) => p.metadata!.name!);
    expect(podNames).toHaveLength(3);

    const result = await runBundle({ instance, options: { requestedBy } });
    expect(result.outcome).toBe('succeeded');
    const archive = result.details!.archive;
    const { bytes, files } = await download(archive);
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
    // The collectors' staged files are gone once they are in the archive.
    expect(existsSync(directStagingArea(aws).bundleDir(manifest.bundleId))).toBe(false);

    const text = (path: string) => files.get(path)?.toString() ?? '';
    for (const pod of podNames) {
      expect(text('resources.txt')).toContain(`pod/${pod}`);
      expect(text('pods.txt')).toContain(`Name:         ${pod}`);
    }
    expect(text('resources.txt')).toMatch(new RegExp(`deployment.apps/${API_DEPLOYMENT}\\s+2/2`));
    const apiPod = podNames.find((p) => p.startsWith(API_DEPLOYMENT))!;
    const frontendPod = podNames.find((p) => p.startsWith(FRONTEND_DEPLOYMENT))!;
    expect(text(`logs/virtual-coffee-api/${apiPod}/api.log`)).toContain(`starting virtual-coffee-api version=1.2.0 pod=${apiPod}`);
    expect(text(`logs/virtual-coffee-frontend/${frontendPod}/frontend.log`)).toContain('serving virtual-coffee-frontend version=1.2.0');
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
    // The bundle's own triage: the analyzers over its files find nothing wrong with a healthy instance.
    const findings = JSON.parse(text('findings.json')) as TriageReport;
    expect(findings).toMatchObject({ instance, failedAnalyzers: [], healthy: true });
    expect(findings.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    // The objects are what the server sent, as `kubectl get -o json` shows them (timestamps too).
    const { stdout } = await promisify(execFile)(process.env.KUBECTL!, ['--kubeconfig', config.kubernetes.kubeconfig!, 'get', 'pod', apiPod, '-n', instance, '-o', 'json']);
    const fromKubectl = JSON.parse(stdout) as { metadata: { uid: string; creationTimestamp: string }; status: { startTime: string } };
    const listed = (parse(text('resources.yaml')) as { items: { metadata: { name: string; uid: string; creationTimestamp: string }; status?: { startTime?: string } }[] }).items.find((i) => i.metadata.name === apiPod)!;
    expect(listed.metadata).toMatchObject({ uid: fromKubectl.metadata.uid, creationTimestamp: fromKubectl.metadata.creationTimestamp });
    expect(listed.status?.startTime).toBe(fromKubectl.status.startTime);

    // Redaction: no seeded secret appears anywhere in the archive.
    const everything = [...files.values()].map((b) => b.toString()).join('\n');
    for (const secret of [SEEDED_SECRETS.databasePassword, SEEDED_SECRETS.oauthClientSecret, LOGGED_BEARER_TOKEN, LOGGED_AWS_SECRET]) {
      expect(everything.includes(secret), `secret ${secret.slice(0, 6)}… leaked`).toBe(false);
    }
    expect(text(`logs/virtual-coffee-api/${apiPod}/api.log`)).toContain('Bearer [REDACTED]');
  });

  it('keeps every form of secret out of a real bundle (pod env, args, annotations and logs; ConfigMap data and binaryData) and keeps the harmless values beside them', async () => {
    const instance = uniqueInstance('diag-canary');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const texts = REDACTION_CANARIES.text;
    const binary = Buffer.from(`keystore ${CANARY.binary}`).toString('base64');

    // The ConfigMap: every text form in a config file, a key with a secret-looking name, and binaryData.
    const configMap = await aws.kube.core.readNamespacedConfigMap({ name: CONFIG_MAP, namespace: instance });
    const properties = texts.map((c) => c.text).join('\n') + '\n';
    configMap.data = { ...configMap.data, 'app.properties': properties, stripe_api_key: CANARY.envByName };
    configMap.binaryData = { 'keystore.p12': binary };
    await aws.kube.core.replaceNamespacedConfigMap({ name: CONFIG_MAP, namespace: instance, body: configMap });

    // An API pod (the collectors take pods by app=virtual-coffee-api) with every text form in its env
    // (under harmless names), annotations and log, and secret arguments. Without the platform's
    // part-of label, so the pod-log simulator leaves it to this test, which writes its log for kwok.
    const pod = `${API_DEPLOYMENT}-canary`;
    const logDir = mkdtempSync(path.join(tmpdir(), 'vcp-canary-logs-'));
    const logsFile = path.join(logDir, 'api.log');
    const logLines = ['INFO  canary pod starting', ...texts.flatMap((c) => c.text.split('\n'))];
    writeFileSync(logsFile, logLines.map((line, i) => `${new Date(Date.now() + i).toISOString()} stdout F ${line}\n`).join(''));
    await aws.kube.custom.createNamespacedCustomObject({
      group: 'kwok.x-k8s.io', version: 'v1alpha1', plural: 'logs', namespace: instance,
      body: { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'Logs', metadata: { name: pod, namespace: instance }, spec: { logs: [{ containers: ['api'], logsFile }] } },
    });
    await aws.kube.core.createNamespacedPod({
      namespace: instance,
      body: {
        metadata: {
          name: pod,
          labels: { app: API_DEPLOYMENT },
          annotations: { 'vc.example/webhook-token': CANARY.annotationByName, 'vc.example/owner': 'team-coffee', ...Object.fromEntries(texts.map((c, i) => [`vc.example/note-${i}`, c.text])) },
        },
        spec: {
          containers: [{
            name: 'api',
            image: 'registry.example/virtual-coffee-api:canary',
            args: ['--password', CANARY.argPassword, `--token=${CANARY.argToken}`, '--port', '8080'],
            env: [{ name: 'STRIPE_API_KEY', value: CANARY.envByName }, { name: 'LOG_LEVEL', value: 'info' }, ...texts.map((c, i) => ({ name: `NOTE_${i}`, value: c.text }))],
          }],
        },
      },
    });
    await waitFor(`pod ${pod} running with its log`, async () => {
      const log = await aws.kube.core.readNamespacedPodLog({ name: pod, namespace: instance, container: 'api' });
      return log.includes('canary pod starting');
    });

    const result = await runBundle({ instance, options: { requestedBy } });
    expect(result.details!.collectors.filter((c) => c.status !== 'ok')).toEqual([]);
    const { files } = await download(result.details!.archive);
    rmSync(logDir, { recursive: true, force: true });
    const log = files.get(`logs/virtual-coffee-api/${pod}/api.log`)?.toString();
    expect(log, 'the canary pod\'s log is in the bundle').toContain('canary pod starting');

    // No canary anywhere, in any file; each leak named with the file it is in.
    const leaks = [...files].flatMap(([file, bytes]) => ALL_CANARIES.filter((canary) => bytes.toString().includes(canary)).map((canary) => `${file}: ${canary}`));
    expect(leaks).toEqual([]);

    // What sits beside them survives: in the log, in the ConfigMap's file, in each env value and annotation.
    const listed = (parse(files.get('resources.yaml')!.toString()) as { items: V1PodLike[] }).items.find((i) => i.metadata.name === pod)!;
    const env = Object.fromEntries(listed.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    const cm = parse(files.get('configmap.yaml')!.toString()) as { data: Record<string, string>; binaryData: Record<string, string> };
    texts.forEach((c, i) => {
      for (const harmless of c.keep) {
        expect(log, `log: ${c.form}`).toContain(harmless);
        expect(cm.data['app.properties'], `ConfigMap: ${c.form}`).toContain(harmless);
        expect(env[`NOTE_${i}`], `env: ${c.form}`).toContain(harmless);
        expect(listed.metadata.annotations[`vc.example/note-${i}`], `annotation: ${c.form}`).toContain(harmless);
      }
    });
    expect(env.LOG_LEVEL).toBe('info');
    expect(listed.spec.containers[0]!.args).toEqual(['--password', '[REDACTED]', '--token=[REDACTED]', '--port', '8080']);
    expect(listed.metadata.annotations['vc.example/owner']).toBe('team-coffee');
    expect(cm.binaryData).toEqual({ 'keystore.p12': '[REDACTED]' });
    expect(cm.data.matching_schedule).toBe('0 9 * * MON');
  });

  it('records a failing collector in the manifest and still delivers the rest of the bundle', async () => {
    const instance = uniqueInstance('diag-fail');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await aws.kube.custom.deleteNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` });

    const result = await runBundle({ instance, options: { requestedBy } });
    expect(result.outcome).toBe('succeeded');
    expect(result.details!.collectors.find((c) => c.collector === 'argocd-application')).toMatchObject({ status: 'failed', files: 0 });
    const { files } = await download(result.details!.archive);
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
    // On a loaded machine the pods may not serve logs yet: cut logs need logs first.
    await waitFor(`an API pod of ${instance} serving its log`, async () => {
      const pods = await aws.kube.core.listNamespacedPod({ namespace: instance, labelSelector: 'app=virtual-coffee-api' });
      const running = pods.items.find((p) => p.status?.phase === 'Running');
      if (!running) return false;
      const log = await aws.kube.core.readNamespacedPodLog({ name: running.metadata!.name!, namespace: instance }).catch(() => '');
      return log.length > 120;
    });
    const result = await runBundle({ instance, options: { requestedBy }, limits: { maxLogBytes: 120, maxBundleBytes: 6000 } });
    const { files } = await download(result.details!.archive);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Manifest;
    const logs = manifest.files.filter((f) => f.path.startsWith('logs/'));
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) expect(log.size).toBeLessThanOrEqual(120);
    expect(manifest.collectors.find((c) => c.collector === 'api-logs')?.notes.join('\n')).toMatch(/log truncated to its last 120 bytes/);
    expect(manifest.files.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(6000);
    expect(manifest.omitted.length).toBeGreaterThan(0);
    expect(result.details!.archive.omitted).toEqual(manifest.omitted);
    // What describes the instance goes first; logs take what is left.
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toContain('configmap.yaml');
    expect(paths.findIndex((p) => p.startsWith('logs/'))).toBe(paths.filter((p) => !p.startsWith('logs/')).length);
  });

  it('asks the API server for the namespace\'s pods, events and Jobs once per bundle, however many collectors use them', async () => {
    const instance = uniqueInstance('diag-reads');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const calls: string[] = [];
    const raw = Object.create(aws.kube.raw) as typeof aws.kube.raw;
    raw.json = (path, query) => {
      const read = /\/namespaces\/([^/]+)\/(pods|events|jobs)$/.exec(path);
      if (read?.[1] === instance) calls.push(read[2]!);
      return aws.kube.raw.json(path, query);
    };
    const kube = { ...aws.kube, raw };
    const result = await withWorker(
      async ({ client, taskQueue }) => (await startDiagnosticBundle(client, taskQueue, { instance, options: { requestedBy } })).result(),
      { overrides: { kube } },
    );
    expect(result.details!.collectors.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(calls.sort()).toEqual(['events', 'jobs', 'pods']);
  });

  it('returns where the archive is and no download link: the run\'s history holds no signature; a start that still sends urlExpirySeconds runs', async () => {
    const instance = uniqueInstance('diag-nolink');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await withWorker(async ({ client, taskQueue }) => {
      // Older starters sent a link lifetime, this one longer than SigV4 allows: accepted and ignored.
      const handle = await startDiagnosticBundle(client, taskQueue, { instance, options: { requestedBy }, urlExpirySeconds: 8 * 24 * 3600 });
      const result = (await handle.result());
      expect(result.outcome).toBe('succeeded');
      const archive = result.details!.archive;
      expect(Object.keys(archive).sort()).toEqual(['bucket', 'files', 'key', 'omitted', 'sha256', 'size']);
      // Every payload of the history as text (they are JSON bytes), so a link anywhere in it shows.
      const texts: string[] = [];
      const collect = (value: unknown): void => {
        if (value instanceof Uint8Array) texts.push(Buffer.from(value).toString('utf8'));
        else if (typeof value === 'string') texts.push(value);
        else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
      };
      collect(await handle.fetchHistory());
      const text = texts.join('\n');
      expect(text).toContain(archive.key);
      expect(text).not.toMatch(/X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token/i);
      const { files } = await download(archive);
      expect(files.has('manifest.json')).toBe(true);
    });
  });

  it('stages each collector as one file of its files back to back on the worker; the archive refuses a staged file that no longer matches its checksum, or one that is gone', async () => {
    // Nothing seeded: empty lists still make files, and no instance is needed for the format.
    const instance = uniqueInstance('diag-stage');
    const bundleId = `${instance}/format`;
    const env = new MockActivityEnvironment();
    const run = <R>(fn: () => Promise<R>): Promise<R> => env.run(fn);
    const staging = directStagingArea(aws);
    const diagnostics = createDiagnosticsActivities({ ...aws, staging });
    const archives = createArchiveActivities({ ...aws, staging });
    const collectors = ['nodes', 'resources', 'storage-and-network'] as const;
    const outcomes = await Promise.all(collectors.map((collector) => run(() => diagnostics.collectDiagnostics({ bundleId, instance, collector, limits: DEFAULT_DIAGNOSTIC_LIMITS }))));
    expect(outcomes.map((o) => [o.collector, o.status, o.files.map((f) => f.path)])).toEqual([
      ['nodes', 'ok', ['nodes.txt']],
      ['resources', 'ok', ['resources.txt', 'resources.yaml']],
      ['storage-and-network', 'ok', ['pvcs.yaml', 'networkpolicies.yaml']],
    ]);

    const dir = staging.bundleDir(bundleId);
    expect(readdirSync(dir).sort()).toEqual(collectors.map((c) => `${c}.staged`));
    for (const outcome of outcomes) {
      const bytes = readFileSync(path.join(dir, `${outcome.collector}.staged`));
      let offset = 0;
      for (const file of outcome.files) {
        expect(file).toMatchObject({ staged: `${outcome.collector}.staged`, offset });
        expect(createHash('sha256').update(bytes.subarray(file.offset, file.offset + file.size)).digest('hex')).toBe(file.sha256);
        offset += file.size;
      }
      expect(bytes.length).toBe(offset);
    }

    // One byte of resources.yaml changed, same length: the archive fails instead of shipping it.
    const yamlFile = outcomes[1]!.files[1]!;
    const stagedPath = path.join(dir, yamlFile.staged);
    const original = readFileSync(stagedPath);
    const altered = Buffer.from(original);
    altered[yamlFile.offset + 1] = altered[yamlFile.offset + 1]! ^ 1;
    writeFileSync(stagedPath, altered);
    const archiveKey = `diagnostics/${bundleId}.tar.gz`;
    const request = { bundleId, instance, archiveKey, outcomes, limits: DEFAULT_DIAGNOSTIC_LIMITS, urlExpirySeconds: 60, inputs: {} };
    await expect(run(() => archives.buildDiagnosticArchive(request))).rejects.toThrow(/resources\.yaml in resources\.staged does not match the SHA-256 its collector recorded/);
    const archived = () =>
      aws.s3.send(new HeadObjectCommand({ Bucket: config.aws.backupBucket, Key: archiveKey })).then(
        () => 'exists',
        (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode,
      );
    expect(await archived()).toBe(404);

    // A staged file that is gone (another worker, or removed): no retry can help, the workflow must collect again.
    writeFileSync(stagedPath, original);
    rmSync(path.join(dir, 'nodes.staged'));
    const lost = await run(() => archives.buildDiagnosticArchive(request)).catch((err: unknown) => err);
    expect(lost).toBeInstanceOf(ApplicationFailure);
    expect(lost).toMatchObject({ type: STAGING_LOST, nonRetryable: true });
    expect(await archived()).toBe(404);

    // Everything in place again: the archive is built and the staging folder removed.
    const nodes = await run(() => diagnostics.collectDiagnostics({ bundleId, instance, collector: 'nodes', limits: DEFAULT_DIAGNOSTIC_LIMITS }));
    const built = await run(() => archives.buildDiagnosticArchive({ ...request, outcomes: [nodes, outcomes[1]!, outcomes[2]!] }));
    expect(built.files).toBe(7);
    expect(await archived()).toBe('exists');
    expect(existsSync(dir)).toBe(false);
  });

  it('a staging folder left by a bundle that never reached its archive is removed once stale', async () => {
    const staging = directStagingArea(aws);
    const bundleId = `${uniqueInstance('diag-stale')}/run`;
    const file = await staging.open(bundleId, 'configmap', 1000);
    await file.add('configmap.yaml', 'data: {}\n');
    await file.close();
    expect(await staging.removeStale(60_000)).not.toContain(path.basename(staging.bundleDir(bundleId)));
    expect(existsSync(staging.bundleDir(bundleId))).toBe(true);
    const hourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(staging.bundleDir(bundleId), hourAgo, hourAgo);
    expect(await staging.removeStale()).toContain(path.basename(staging.bundleDir(bundleId)));
    expect(existsSync(staging.bundleDir(bundleId))).toBe(false);
  });
});

describe('diagnostic bundle survives its staging worker', () => {
  const workers: ChildProcess[] = [];
  let proxy: DynamoDbFaultProxy | undefined;
  afterAll(async () => {
    for (const worker of workers) worker.kill('SIGKILL');
    await proxy?.close();
  });

  function startWorkerProcess(taskQueue: string, env: Record<string, string> = {}): ChildProcess {
    // The test identities' keyring, so the worker can verify who started the bundle.
    const approversFile = path.join(mkdtempSync(path.join(tmpdir(), 'vcp-approvers-')), 'approvers.json');
    writeFileSync(approversFile, JSON.stringify(approversFileJson));
    // `node --import tsx`, not the tsx CLI: the CLI runs the worker in a child that SIGKILL would miss.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'worker', 'main.ts')], {
      env: { ...process.env, VCP_TASK_QUEUE: taskQueue, VCP_METRICS_ADDRESS: '', VCP_APPROVERS_FILE: approversFile, ...env },
      stdio: 'ignore',
    });
    workers.push(child);
    return child;
  }

  it('progress shows during a long collection; a worker killed (SIGKILL) with files staged: the bundle is collected again on another worker and is complete', async () => {
    const instance = uniqueInstance('diag-kill');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    // The first worker's table descriptions take long, so it dies with the other collectors' files staged.
    proxy = await startDynamoDbFaultProxy({ target: process.env.AWS_ENDPOINT_URL_DYNAMODB!, delayMs: 60_000, operations: ['DescribeTable'] });
    const taskQueue = `diag-kill-${randomBytes(4).toString('hex')}`;
    const { client, close } = await temporalClient();
    try {
      const first = startWorkerProcess(taskQueue, { AWS_ENDPOINT_URL_DYNAMODB: proxy.url });
      const handle = await startDiagnosticBundle(client, taskQueue, { instance, options: { requestedBy } });
      for (let i = 0; i < 300; i++) {
        const counters = (await handle.query(progressQuery).catch(() => undefined))?.counters;
        if (counters?.['collectors done'] === COLLECTORS.length - 1) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect((await handle.query(progressQuery)).counters['collectors done']).toBe(COLLECTORS.length - 1);
      first.kill('SIGKILL');
      startWorkerProcess(taskQueue);

      const result = (await handle.result());
      expect(result.outcome).toBe('succeeded');
      expect(result.details!.collectors.filter((c) => c.status !== 'ok')).toEqual([]);
      const { files } = await download(result.details!.archive);
      const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Manifest;
      expect([...files.keys()].sort()).toEqual(['manifest.json', ...manifest.files.map((f) => f.path)].sort());
      expect(Object.keys(JSON.parse(files.get('dynamodb-tables.json')!.toString()) as object)).toHaveLength(3);
      expect(files.get('resources.txt')?.toString()).toContain(`deployment.apps/${API_DEPLOYMENT}`);

      // The archive went to the killed worker's own queue first, found nobody there, and the bundle
      // was collected again: the second archive ran on the replacement's queue.
      const events = (await handle.fetchHistory()).events ?? [];
      const queues = events.flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === 'buildDiagnosticArchive' ? [e.activityTaskScheduledEventAttributes.taskQueue?.name] : []));
      expect(new Set(queues).size).toBe(2);
      for (const queue of queues) expect(queue).toMatch(new RegExp(`^${taskQueue}/staging/`));
      expect(events.some((e) => decodeTimeoutType(e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType) === 'SCHEDULE_TO_START')).toBe(true);
    } finally {
      await close();
    }
  }, 240_000);
});
