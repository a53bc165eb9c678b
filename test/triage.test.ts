/**
 * Triage on the real stack: each analyzer finds the fault made for it on a live instance (real
 * kube-apiserver, controller-manager, scheduler and kwok pods, real Argo CD, real Crossplane and
 * provider-aws, dynalite, moto), through the triage workflow on the real Temporal server, and the
 * same findings come out of the instance's diagnostic bundle read offline by the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateTableCommand, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { NetworkingV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { loadKubeConfig, MERGE_PATCH } from '../activities/kubernetes/client';
import { createTriageActivities } from '../activities/triage/evidence';
import { startDiagnosticBundle, startTriage } from '../client/runbooks';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, DYNAMODB_CLAIM, FRONTEND_DEPLOYMENT, MANAGED_TABLE, MATCHING_CRONJOB } from '../common/platform';
import type { DynamoDbClaim, ManagedTable } from '../common/platform';
import type { Finding, TriageReport } from '../common/triage';
import { CRASH_LOOP_ANNOTATION, IMAGE_PULL_ERROR_ANNOTATION, JOB_FAILS_ANNOTATION, LOG_FAULTS_ANNOTATION } from '../platform-sim/platform-repo';
import { waitFor } from '../platform-sim/seed';
import { ensureBackupBucket, platformTableDefinitions, seedInstanceTables } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const exec = promisify(execFile);
const STRATEGIC_MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const aws = awsClients();
const analyzer = createTriageActivities(aws);
const requestedBy = { user: 'bob', via: 'test' as const };

beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

const above = (report: TriageReport) => report.findings.filter((f) => f.severity !== 'info');

/** Triages (the activity itself, as the workflow runs it) until every id is found; returns that report. */
async function triageUntil(instance: string, ids: string[], timeoutMs = 120_000, also: (report: TriageReport) => boolean = () => true): Promise<TriageReport> {
  let report: TriageReport | undefined;
  try {
    await waitFor(`findings ${ids.join(', ')} on ${instance}`, async () => {
      report = await analyzer.triageInstance(instance);
      const found = new Set(report.findings.filter((f) => f.severity !== 'info').map((f) => f.id));
      return ids.every((id) => found.has(id)) && also(report);
    }, timeoutMs);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last findings: ${JSON.stringify(report?.findings.map((f) => f.id))}`, { cause: err });
  }
  return report!;
}

const byId = (report: TriageReport, id: string): Finding => {
  const found = report.findings.find((f) => f.id === id);
  expect(found, id).toBeDefined();
  return found!;
};

async function runCliJson(args: string[]): Promise<{ code: number; json: unknown }> {
  try {
    const { stdout } = await exec(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), '-o', 'json', ...args], { env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    return { code: 0, json: JSON.parse(stdout) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    if (!e.stdout) throw new Error(`runbook ${args.join(' ')} exited ${e.code}: ${e.stderr}`);
    return { code: e.code, json: JSON.parse(e.stdout) };
  }
}

describe('triage (real stack)', () => {
  it('a healthy instance has nothing above info; then each fault made on it is found with its evidence, guide section and fix, live and in its bundle read offline', async () => {
    const instance = uniqueInstance('triage');
    // Manual sync: the faults made by hand stay (self-heal would undo them), as on an instance a person changed.
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const app = `virtual-coffee-${instance}`;

    await withWorker(async ({ client, taskQueue }) => {
      const handle = await startTriage(client, taskQueue, { instance, options: { requestedBy } });
      const result = await handle.result();
      expect(result.outcome).toBe('succeeded');
      const healthy = result.details!;
      expect(above(healthy)).toEqual([]);
      expect(healthy).toMatchObject({ instance, healthy: true, failedAnalyzers: [] });
      // Manual sync is worth knowing, not a fault.
      expect(healthy.findings.map((f) => [f.id, f.severity])).toEqual([[`argocd/manual-sync/${app}`, 'info']]);
    });

    // The faults, each the way it happens: hand edits that drift from git, a bad release's pods, storage and policy.
    const { kube } = aws;
    await kube.core.patchNamespacedConfigMap({ name: CONFIG_MAP, namespace: instance, body: { data: { oauth_client_id: null } } }, MERGE_PATCH);
    await kube.apps.patchNamespacedDeployment(
      {
        name: API_DEPLOYMENT,
        namespace: instance,
        body: {
          spec: {
            template: {
              metadata: { annotations: { [CRASH_LOOP_ANNOTATION]: 'true', [LOG_FAULTS_ANNOTATION]: 'api-errors,auth-errors' } },
              // Strategic merge by name: AWS_REGION removed from the api container's env.
              spec: { containers: [{ name: 'api', env: [{ name: 'AWS_REGION', $patch: 'delete' }] }] },
            },
          },
        },
      },
      STRATEGIC_MERGE_PATCH,
    );
    await kube.apps.patchNamespacedDeployment(
      {
        name: FRONTEND_DEPLOYMENT,
        namespace: instance,
        body: {
          spec: {
            template: {
              spec: {
                containers: [{ name: 'frontend', resources: { requests: { cpu: '500' } } }],
                volumes: [{ name: 'flags', configMap: { name: 'feature-flags' } }],
              },
            },
          },
        },
      },
      STRATEGIC_MERGE_PATCH,
    );
    // A Deployment whose image cannot be pulled (a tag that was never pushed).
    await kube.apps.createNamespacedDeployment({
      namespace: instance,
      body: {
        metadata: { name: 'virtual-coffee-docs' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'virtual-coffee-docs' } },
          template: {
            metadata: { labels: { app: 'virtual-coffee-docs' }, annotations: { [IMAGE_PULL_ERROR_ANNOTATION]: 'true' } },
            spec: { containers: [{ name: 'docs', image: 'ghcr.io/virtual-coffee/docs:never-pushed' }] },
          },
        },
      },
    });
    await kube.core.createNamespacedPersistentVolumeClaim({
      namespace: instance,
      body: { metadata: { name: 'uploads' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'no-such-class', resources: { requests: { storage: '1Gi' } } } },
    });
    await loadKubeConfig(config.kubernetes.kubeconfig).makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({ namespace: instance, body: { metadata: { name: 'deny-all-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } } });
    // Matching: suspended, and a schedule every minute whose runs are missed (10 s deadline, no success since).
    await kube.batch.patchNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance, body: { spec: { suspend: true, schedule: '* * * * *', startingDeadlineSeconds: 10 } } }, MERGE_PATCH);

    // A matching run that failed: a Job as `kubectl create job --from=cronjob/...` makes it, its pod exiting 1.
    const cronJob = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
    const template = cronJob.spec!.jobTemplate.spec!;
    template.template.metadata = { ...template.template.metadata, annotations: { [JOB_FAILS_ANNOTATION]: 'true', [LOG_FAULTS_ANNOTATION]: 'matching-failure' } };
    await kube.batch.createNamespacedJob({
      namespace: instance,
      body: { metadata: { name: 'manual-matching', annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' } }, spec: { ...template, backoffLimit: 0 } },
    });

    const expected = [
      'matching/job-failed/manual-matching',
      `argocd/out-of-sync/${app}`,
      `auth/oauth-settings/${CONFIG_MAP}`,
      `auth/log-errors/${API_DEPLOYMENT}`,
      `api/server-errors/${API_DEPLOYMENT}`,
      `api/env-missing/${API_DEPLOYMENT}`,
      `pods/missing-config/${FRONTEND_DEPLOYMENT}`,
      'pods/pvc-unbound/uploads',
      'pods/network-policy/deny-all-ingress',
      `matching/suspended/${MATCHING_CRONJOB}`,
      `matching/missed-run/${MATCHING_CRONJOB}`,
    ];
    const live = await triageUntil(instance, expected, 180_000);
    // Pods with generated names: found by prefix.
    const crash = live.findings.find((f) => f.id.startsWith(`pods/crash-loop/${API_DEPLOYMENT}-`));
    const pending = live.findings.find((f) => f.id.startsWith(`pods/pending-resources/${FRONTEND_DEPLOYMENT}-`));
    const imagePull = live.findings.find((f) => /^pods\/image-pull\/virtual-coffee-docs-[^/]+\/docs$/.test(f.id));
    expect(imagePull?.title).toContain('ghcr.io/virtual-coffee/docs:never-pushed');
    expect(imagePull?.evidence[0]?.value).toMatch(/^ImagePullBackOff: Back-off pulling image/);
    expect(crash, JSON.stringify(live.findings.map((f) => f.id))).toBeDefined();
    expect(pending).toBeDefined();
    expect(crash).toMatchObject({ severity: 'error', guideSection: 'Pods Not Starting', fix: { runbook: 'restart', target: 'api' } });
    expect(crash!.evidence.map((e) => e.value ?? e.logLine)).toEqual(expect.arrayContaining([expect.stringMatching(/^exitCode 1\b/), 'FATAL exiting with code 1']));
    expect(pending!.evidence[0]!.value).toMatch(/Insufficient cpu/);
    expect(byId(live, `argocd/out-of-sync/${app}`)).toMatchObject({ severity: 'error', fix: { runbook: 'sync' } });
    expect(byId(live, `argocd/out-of-sync/${app}`).evidence.map((e) => e.object)).toEqual(expect.arrayContaining([`ConfigMap ${instance}/${CONFIG_MAP}`, `Deployment ${instance}/${API_DEPLOYMENT}`]));
    expect(byId(live, `auth/oauth-settings/${CONFIG_MAP}`).evidence).toEqual([{ object: `ConfigMap ${instance}/${CONFIG_MAP}`, field: 'data.oauth_client_id', value: 'absent' }]);
    expect(byId(live, `api/server-errors/${API_DEPLOYMENT}`).evidence.map((e) => e.logLine)).toEqual(expect.arrayContaining([expect.stringContaining('500 31ms')]));
    expect(byId(live, `api/env-missing/${API_DEPLOYMENT}`).title).toContain('AWS_REGION');
    expect(byId(live, `pods/missing-config/${FRONTEND_DEPLOYMENT}`).evidence[0]!.value).toBe('ConfigMap feature-flags not found');
    expect(byId(live, `matching/missed-run/${MATCHING_CRONJOB}`).fix).toEqual({ runbook: 'run-matching-job' });
    const failedJob = byId(live, 'matching/job-failed/manual-matching');
    expect(failedJob.title).toContain('exit code 1');
    expect(failedJob.evidence.map((e) => e.logLine)).toContain('FATAL exiting with code 1');
    // Nothing leaks: the secret the ConfigMap holds is redacted before any analyzer sees it.
    expect(JSON.stringify(live)).not.toContain('GOCSPX');

    // The same instance's diagnostic bundle, triaged offline by the CLI: the same findings.
    const bundle = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startTriage(client, taskQueue, { instance, options: { requestedBy } });
      const triaged = await handle.result();
      expect(triaged.details!.findings.map((f) => f.id)).toEqual(expect.arrayContaining(expected));
      // The UI's current details list the findings worst first, each with its fix command.
      const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toContain(`[error] ${byId(live, `argocd/out-of-sync/${app}`).title} (argocd/out-of-sync/${app}) → fix: runbook triage ${instance} --fix argocd/out-of-sync/${app}`);
      const bundled = await startDiagnosticBundle(client, taskQueue, { instance, options: { requestedBy } });
      return (await bundled.result()).details!.archive;
    });
    const object = await aws.s3.send(new GetObjectCommand({ Bucket: bundle.bucket, Key: bundle.key }));
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'vcp-triage-')), 'bundle.tar.gz');
    writeFileSync(file, Buffer.from(await object.Body!.transformToByteArray()));
    const offline = await runCliJson(['triage', '--bundle', file]);
    expect(offline.code).toBe(3);
    const offlineIds = (offline.json as TriageReport).findings.map((f) => f.id);
    expect(offlineIds).toEqual(expect.arrayContaining([...expected, crash!.id, pending!.id, imagePull!.id]));
  });

  it('table creation and the tables the API needs: a claim stuck on a missing Composition, a table missing', async () => {
    const instance = uniqueInstance('triage-claim');
    await aws.kube.core.createNamespace({ body: { metadata: { name: instance } } });
    onTestFinished(() => aws.kube.core.deleteNamespace({ name: instance }).then(() => undefined, () => undefined));
    await seedInstanceTables(aws.dynamodb, instance, { users: 1, matches: 0, feedback: 0 });
    onTestFinished(async () => {
      for (const t of ['users', 'matches']) await aws.dynamodb.send(new DeleteTableCommand({ TableName: `${t}-${instance}` })).catch(() => undefined);
    });
    await aws.dynamodb.send(new DeleteTableCommand({ TableName: `feedback-${instance}` }));
    const claim: DynamoDbClaim = {
      apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`,
      kind: DYNAMODB_CLAIM.kind,
      metadata: { name: `${instance}-dynamodb`, namespace: instance },
      spec: { parameters: { instance, region: 'us-west-2' }, compositionRef: { name: 'no-such-composition' } },
    };
    await aws.kube.custom.createNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, body: claim });
    // Not Ready at first is creating (info); stuck once Crossplane says why.
    const report = await triageUntil(instance, [`table-creation/claim-not-ready/${instance}-dynamodb`, `api/tables-unavailable/${instance}`, `argocd/missing/virtual-coffee-${instance}`]);
    const stuck = byId(report, `table-creation/claim-not-ready/${instance}-dynamodb`);
    expect(stuck).toMatchObject({ severity: 'error', guideSection: 'DynamoDB Table Creation Failures', fix: { runbook: 'recreate-claim' } });
    // Crossplane's own words: the Composition it cannot find.
    expect(stuck.evidence.map((e) => e.value).join('\n')).toMatch(/no-such-composition/);
    expect(byId(report, `api/tables-unavailable/${instance}`).evidence).toEqual([{ object: `table feedback-${instance}`, field: 'TableStatus', value: 'does not exist' }]);
  });

  it('AWS credentials and a name conflict: the real provider refused with an invalid token, a table adopted instead of created', async () => {
    const instance = uniqueInstance('triage-aws');
    // feedback-<instance> exists before the claim (another owner's table of that name): the provider adopts it.
    const [, , feedback] = platformTableDefinitions(instance);
    await aws.dynamodb.send(new CreateTableCommand(feedback!));
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const claim = (await aws.kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
    const composite = claim.spec.resourceRef!.name;

    // An endpoint that answers every DynamoDB call as AWS does for a revoked key.
    const refusing = http.createServer((req, res) => {
      req.resume();
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': 'UnrecognizedClientException' });
      res.end(JSON.stringify({ __type: 'com.amazon.coral.service#UnrecognizedClientException', message: 'The security token included in the request is invalid.' }));
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => refusing.close(() => resolve())));
    const providerConfig = `revoked-${instance}`;
    const PROVIDER_CONFIG = { group: 'aws.crossplane.io', version: 'v1beta1', plural: 'providerconfigs' };
    await aws.kube.custom.createClusterCustomObject({
      ...PROVIDER_CONFIG,
      body: {
        apiVersion: 'aws.crossplane.io/v1beta1',
        kind: 'ProviderConfig',
        metadata: { name: providerConfig },
        spec: {
          credentials: { source: 'Secret', secretRef: { namespace: 'crossplane-system', name: 'dynamodb-emulator-credentials', key: 'credentials' } },
          endpoint: { url: { type: 'Static', static: `http://127.0.0.1:${(refusing.address() as AddressInfo).port}` }, hostnameImmutable: true },
        },
      },
    });
    onTestFinished(() => aws.kube.custom.deleteClusterCustomObject({ ...PROVIDER_CONFIG, name: providerConfig }).then(() => undefined, () => undefined));
    // A Table of the instance's composite (its label) that the provider reconciles with those
    // credentials; observe-only, so deleting it afterwards never needs AWS.
    const tableName = `audit-${instance}`;
    await aws.kube.custom.createClusterCustomObject({
      ...MANAGED_TABLE,
      body: {
        apiVersion: `${MANAGED_TABLE.group}/${MANAGED_TABLE.version}`,
        kind: MANAGED_TABLE.kind,
        metadata: { name: tableName, labels: { 'crossplane.io/composite': composite }, annotations: { 'crossplane.io/external-name': tableName } },
        spec: { managementPolicies: ['Observe'], deletionPolicy: 'Orphan', providerConfigRef: { name: providerConfig }, forProvider: { region: 'us-west-2', attributeDefinitions: [{ attributeName: 'id', attributeType: 'S' }], keySchema: [{ attributeName: 'id', keyType: 'HASH' }] } },
      } satisfies ManagedTable,
    });
    onTestFinished(() => aws.kube.custom.deleteClusterCustomObject({ ...MANAGED_TABLE, name: tableName }).then(() => undefined, () => undefined));

    const report = await triageUntil(instance, [`aws-credentials/rejected/${instance}-dynamodb`, `table-creation/name-conflict/feedback-${instance}`]);
    expect(byId(report, `table-creation/name-conflict/feedback-${instance}`)).toMatchObject({ severity: 'warning', guideSection: 'DynamoDB Table Creation Failures' });
    // The tables the claim created itself are not conflicts.
    expect(report.findings.filter((f) => f.id.startsWith('table-creation/name-conflict/')).map((f) => f.id)).toEqual([`table-creation/name-conflict/feedback-${instance}`]);
    const rejected = byId(report, `aws-credentials/rejected/${instance}-dynamodb`);
    expect(rejected).toMatchObject({ severity: 'critical', guideSection: 'AWS Credentials Issues', fix: { runbook: 'restart', target: 'provider-aws' } });
    expect(rejected.evidence.map((e) => e.object)).toEqual([`Table ${tableName}`]);
    expect(rejected.evidence[0]!.value).toMatch(/UnrecognizedClientException|security token/);
    // The caller identity itself (moto) is fine: only the provider's credentials are refused.
    expect(report.findings.map((f) => f.id)).not.toContain('aws-credentials/caller-identity');
    // The Application is untouched by this: no Argo CD finding above info.
    const app = (await aws.kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` })) as { status?: { sync?: { status?: string } } };
    expect(app.status?.sync?.status).toBe('Synced');
    expect(report.findings.filter((f) => f.analyzer === 'argocd' && f.severity !== 'info')).toEqual([]);
  });
});
