/**
 * The diagnostic bundle's collectors: each reads one part of what the guide collects (and what its
 * other diagnosis steps read), redacts secrets, and stages its files in S3 for the archive step.
 * Secrets themselves are never read.
 */
import { createHash } from 'node:crypto';
import { DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApiException } from '@kubernetes/client-node';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { heartbeat } from '@temporalio/activity';
import { stringify } from 'yaml';
import type { KubeClients } from '../kubernetes/client';
import { getOrUndefined } from '../kubernetes/client';
import type { CollectorName, CollectorOutcome, DiagnosticLimits, StagedFile } from '../../common/diagnostics';
import { argoApplicationName, dynamodbClaimName, instanceTableNames } from '../../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, FRONTEND_DEPLOYMENT, MANAGED_TABLE, MATCHING_CRONJOB } from '../../common/platform';
import type { DynamoDbClaim } from '../../common/platform';
import { redactObject, redactText } from '../../common/redact';

export interface DiagnosticsDeps {
  kube: KubeClients;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
}

export interface CollectRequest {
  bundleId: string;
  instance: string;
  collector: CollectorName;
  limits: DiagnosticLimits;
}

export function stagingPrefix(bundleId: string): string {
  return `diagnostics/${bundleId}/staging/`;
}

type Stage = (path: string, content: string) => Promise<void>;

const toYaml = (value: unknown) => stringify(redactObject(value), { lineWidth: 0 });

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n') + '\n';
}

function age(timestamp: Date | string | undefined): string {
  if (!timestamp) return '<unknown>';
  const seconds = Math.max(0, Math.round((Date.now() - new Date(timestamp).getTime()) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function podStatus(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  const terminated = pod.status?.containerStatuses?.find((c) => c.state?.terminated)?.state?.terminated?.reason;
  return waiting ?? terminated ?? pod.status?.phase ?? 'Unknown';
}

/** In the spirit of `kubectl describe pod`: containers, states, last termination, conditions, volumes, events. */
export function describePod(pod: V1Pod, events: CoreV1Event[]): string {
  const p = redactObject(pod);
  const lines = [
    `Name:         ${p.metadata?.name}`,
    `Namespace:    ${p.metadata?.namespace}`,
    `Node:         ${p.spec?.nodeName ?? '<none>'}/${p.status?.hostIP ?? ''}`,
    `Start Time:   ${p.status?.startTime ? new Date(p.status.startTime).toISOString() : '<none>'}`,
    `Labels:       ${Object.entries(p.metadata?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `Status:       ${podStatus(p)}`,
    `IP:           ${p.status?.podIP ?? '<none>'}`,
    'Containers:',
  ];
  for (const c of p.spec?.containers ?? []) {
    const s = p.status?.containerStatuses?.find((cs) => cs.name === c.name);
    const state = s?.state?.running ? 'Running' : s?.state?.waiting ? `Waiting (${s.state.waiting.reason ?? ''})` : s?.state?.terminated ? `Terminated (${s.state.terminated.reason ?? ''}, exit code ${s.state.terminated.exitCode})` : 'Unknown';
    lines.push(`  ${c.name}:`, `    Image:          ${c.image ?? ''}`, `    State:          ${state}`);
    const last = s?.lastState?.terminated;
    if (last) lines.push(`    Last State:     Terminated`, `      Reason:       ${last.reason ?? ''}`, `      Exit Code:    ${last.exitCode}`, `      Finished:     ${last.finishedAt ? new Date(last.finishedAt).toISOString() : ''}`);
    lines.push(`    Ready:          ${s?.ready ?? false}`, `    Restart Count:  ${s?.restartCount ?? 0}`);
    if (c.resources?.requests) lines.push(`    Requests:       ${Object.entries(c.resources.requests).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (c.resources?.limits) lines.push(`    Limits:         ${Object.entries(c.resources.limits).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (c.env?.length) lines.push('    Environment:', ...c.env.map((e) => `      ${e.name}:  ${e.value ?? (e.valueFrom ? '<set from a reference>' : '')}`));
  }
  lines.push('Conditions:', ...(p.status?.conditions ?? []).map((c) => `  ${c.type.padEnd(18)} ${c.status}`));
  lines.push('Volumes:', ...(p.spec?.volumes ?? []).map((v) => `  ${v.name}: ${v.configMap ? `ConfigMap ${v.configMap.name}` : v.secret ? `Secret ${v.secret.secretName} (not collected)` : v.persistentVolumeClaim ? `PVC ${v.persistentVolumeClaim.claimName}` : 'other'}`));
  lines.push('Events:', ...(events.length ? events.map((e) => `  ${e.type ?? ''}  ${e.reason ?? ''}  ${age(e.lastTimestamp ?? e.eventTime)}  ${redactText(e.message ?? '')}`) : ['  <none>']));
  return lines.join('\n') + '\n';
}

/** Runs `task` over `items` with at most `limit` running at once. */
export async function mapLimit<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await task(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Keeps at most maxBytes of a log, from its end (the newest lines), on a line boundary. */
export function capTail(log: string, maxBytes: number, notes: string[], what: string): string {
  const bytes = Buffer.from(log, 'utf8');
  if (bytes.length <= maxBytes) return log;
  const tail = bytes.subarray(bytes.length - maxBytes).toString('utf8');
  const firstNewline = tail.indexOf('\n');
  notes.push(`${what}: log truncated to its last ${maxBytes} bytes (was ${bytes.length})`);
  // Drop a partial first line, and a character the byte cut may have split.
  return firstNewline >= 0 && firstNewline < tail.length - 1 ? tail.slice(firstNewline + 1) : tail.replace(/^\uFFFD/, '');
}

export function createDiagnosticsActivities(deps: DiagnosticsDeps) {
  const { kube } = deps;

  async function stageFile(bundleId: string, files: StagedFile[], path: string, content: string): Promise<void> {
    const body = Buffer.from(content, 'utf8');
    const key = `${stagingPrefix(bundleId)}${path}`;
    await deps.s3.send(
      new PutObjectCommand({ Bucket: deps.backupBucket, Key: key, Body: body, ServerSideEncryption: 'AES256', ExpectedBucketOwner: deps.expectedBucketOwner }),
    );
    files.push({ path, key, size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    heartbeat({ staged: files.length });
  }

  async function podLogs(stage: Stage, notes: string[], instance: string, selector: string, dir: string, limits: DiagnosticLimits): Promise<void> {
    const pods = await kube.core.listNamespacedPod({ namespace: instance, labelSelector: selector });
    if (pods.items.length === 0) notes.push(`no pods match ${selector}`);
    const reads = pods.items.flatMap((pod) =>
      (pod.spec?.containers ?? []).flatMap((container) => [false, true].map((previous) => ({ name: pod.metadata!.name!, container: container.name, previous }))),
    );
    await mapLimit(reads, 8, async ({ name, container, previous }) => {
      try {
        // tailLines bounds the transfer; the byte cap is applied here, because the kubelet's
        // limitBytes keeps the oldest bytes of the range and the newest are the ones that matter.
        const log = await kube.core.readNamespacedPodLog({ name, namespace: instance, container, previous, tailLines: limits.logTailLines });
        await stage(`${dir}/${name}/${container}${previous ? '.previous' : ''}.log`, capTail(redactText(log), limits.maxLogBytes, notes, `${name}/${container}`));
      } catch (err) {
        // A container that never restarted has no previous logs (400/404): normal, noted, not a
        // failure. Anything else (403 above all) fails the collector, so it shows in the manifest.
        if (!(err instanceof ApiException && (err.code === 400 || err.code === 404))) throw err;
        notes.push(`${name}/${container}${previous ? ' (previous)' : ''}: no logs (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
      }
    });
  }

  const collectors: Record<CollectorName, (stage: Stage, notes: string[], req: CollectRequest) => Promise<void>> = {
    async resources(stage, _notes, { instance }) {
      const namespace = instance;
      const [pods, services, deployments, replicaSets, statefulSets, daemonSets, jobs, cronJobs] = await Promise.all([
        kube.core.listNamespacedPod({ namespace }),
        kube.core.listNamespacedService({ namespace }),
        kube.apps.listNamespacedDeployment({ namespace }),
        kube.apps.listNamespacedReplicaSet({ namespace }),
        kube.apps.listNamespacedStatefulSet({ namespace }),
        kube.apps.listNamespacedDaemonSet({ namespace }),
        kube.batch.listNamespacedJob({ namespace }),
        kube.batch.listNamespacedCronJob({ namespace }),
      ]);
      const sections = [
        table([['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], ...pods.items.map((p) => [`pod/${p.metadata?.name}`, `${(p.status?.containerStatuses ?? []).filter((c) => c.ready).length}/${p.spec?.containers.length ?? 0}`, podStatus(p), String((p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0)), age(p.metadata?.creationTimestamp)])]),
        table([['NAME', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'AGE'], ...services.items.map((s) => [`service/${s.metadata?.name}`, s.spec?.type ?? '', s.spec?.clusterIP ?? '', (s.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(','), age(s.metadata?.creationTimestamp)])]),
        table([['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'], ...deployments.items.map((d) => [`deployment.apps/${d.metadata?.name}`, `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`, String(d.status?.updatedReplicas ?? 0), String(d.status?.availableReplicas ?? 0), age(d.metadata?.creationTimestamp)])]),
        table([['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'], ...replicaSets.items.map((r) => [`replicaset.apps/${r.metadata?.name}`, String(r.spec?.replicas ?? 0), String(r.status?.replicas ?? 0), String(r.status?.readyReplicas ?? 0), age(r.metadata?.creationTimestamp)])]),
        table([['NAME', 'SCHEDULE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE'], ...cronJobs.items.map((c) => [`cronjob.batch/${c.metadata?.name}`, c.spec?.schedule ?? '', String(c.spec?.suspend ?? false), String(c.status?.active?.length ?? 0), age(c.status?.lastScheduleTime), age(c.metadata?.creationTimestamp)])]),
        table([['NAME', 'STATUS', 'COMPLETIONS', 'AGE'], ...jobs.items.map((j) => [`job.batch/${j.metadata?.name}`, j.status?.succeeded ? 'Complete' : j.status?.failed ? 'Failed' : 'Running', `${j.status?.succeeded ?? 0}/${j.spec?.completions ?? 1}`, age(j.metadata?.creationTimestamp)])]),
      ];
      if (statefulSets.items.length || daemonSets.items.length) {
        sections.push(table([['NAME'], ...statefulSets.items.map((s) => [`statefulset.apps/${s.metadata?.name}`]), ...daemonSets.items.map((d) => [`daemonset.apps/${d.metadata?.name}`])]));
      }
      await stage('resources.txt', sections.join('\n'));
      const items = [...pods.items, ...services.items, ...deployments.items, ...replicaSets.items, ...statefulSets.items, ...daemonSets.items, ...jobs.items, ...cronJobs.items];
      await stage('resources.yaml', toYaml({ apiVersion: 'v1', kind: 'List', items }));
    },

    async 'pod-descriptions'(stage, _notes, { instance }) {
      const [pods, events] = await Promise.all([kube.core.listNamespacedPod({ namespace: instance }), kube.core.listNamespacedEvent({ namespace: instance })]);
      const text = pods.items.map((pod) => describePod(pod, events.items.filter((e) => e.involvedObject.kind === 'Pod' && e.involvedObject.name === pod.metadata?.name))).join('\n\n');
      await stage('pods.txt', text || 'No resources found.\n');
    },

    async 'api-logs'(stage, notes, { instance, limits }) {
      await podLogs(stage, notes, instance, `app=${API_DEPLOYMENT}`, 'logs/virtual-coffee-api', limits);
    },

    async 'frontend-logs'(stage, notes, { instance, limits }) {
      await podLogs(stage, notes, instance, `app=${FRONTEND_DEPLOYMENT}`, 'logs/virtual-coffee-frontend', limits);
    },

    async 'argocd-application'(stage, _notes, { instance }) {
      const app: unknown = await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: argoApplicationName(instance) });
      await stage('argocd-app.yaml', toYaml(app));
    },

    async 'dynamodb-claim'(stage, notes, { instance }) {
      const claim = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: dynamodbClaimName(instance) })) as DynamoDbClaim;
      await stage('dynamodb-claim.yaml', toYaml(claim));
      const ref = claim.spec.resourceRef;
      if (!ref) return void notes.push('the claim has no composite yet');
      const composite: unknown = await getOrUndefined(kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: ref.name }));
      const tables = (await kube.custom.listClusterCustomObject({ ...MANAGED_TABLE, labelSelector: `crossplane.io/composite=${ref.name}` })) as { items: unknown[] };
      await stage('dynamodb-composite.yaml', toYaml({ composite, managedTables: tables.items }));
    },

    async events(stage, _notes, { instance }) {
      const events = await kube.core.listNamespacedEvent({ namespace: instance });
      const sorted = [...events.items].sort((a, b) => new Date(a.lastTimestamp ?? a.eventTime ?? 0).getTime() - new Date(b.lastTimestamp ?? b.eventTime ?? 0).getTime());
      await stage('events.txt', table([['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], ...sorted.map((e) => [age(e.lastTimestamp ?? e.eventTime), e.type ?? '', e.reason ?? '', `${e.involvedObject.kind?.toLowerCase()}/${e.involvedObject.name}`, redactText(e.message ?? '')])]));
    },

    async nodes(stage) {
      const [nodes, pods] = await Promise.all([kube.core.listNode(), kube.core.listPodForAllNamespaces()]);
      const text = nodes.items.map((node) => {
        const name = node.metadata?.name ?? '';
        const onNode = pods.items.filter((p) => p.spec?.nodeName === name && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
        const requests = (resource: 'cpu' | 'memory') => onNode.flatMap((p) => p.spec?.containers ?? []).map((c) => c.resources?.requests?.[resource] ?? '0').join(' + ') || '0';
        return [
          `Name: ${name}`,
          `Taints: ${(node.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(', ') || '<none>'}`,
          'Conditions:',
          ...(node.status?.conditions ?? []).map((c) => `  ${c.type.padEnd(16)} ${c.status.padEnd(6)} ${c.reason ?? ''}`),
          `Allocatable: ${Object.entries(node.status?.allocatable ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`,
          'Allocated resources:',
          `  pods:    ${onNode.length}`,
          `  cpu:     ${requests('cpu')}`,
          `  memory:  ${requests('memory')}`,
        ].join('\n');
      });
      await stage('nodes.txt', text.join('\n\n') + '\n');
    },

    async 'storage-and-network'(stage, _notes, { instance }) {
      const pvcs = await kube.core.listNamespacedPersistentVolumeClaim({ namespace: instance });
      const policies: unknown = await kube.custom.listNamespacedCustomObject({ group: 'networking.k8s.io', version: 'v1', namespace: instance, plural: 'networkpolicies' });
      await stage('pvcs.yaml', toYaml({ apiVersion: 'v1', kind: 'List', items: pvcs.items }));
      await stage('networkpolicies.yaml', toYaml(policies));
    },

    async 'matching-cronjob'(stage, notes, { instance, limits }) {
      const cronJob = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
      const jobs = (await kube.batch.listNamespacedJob({ namespace: instance })).items.filter((j) => j.metadata?.ownerReferences?.some((o) => o.name === MATCHING_CRONJOB) || j.metadata?.name?.includes('matching'));
      await stage('matching-cronjob.yaml', toYaml({ cronJob, jobs }));
      for (const job of jobs.slice(-5)) await podLogs(stage, notes, instance, `job-name=${job.metadata!.name!}`, `logs/jobs/${job.metadata!.name!}`, limits);
      if (jobs.length === 0) notes.push('the matching CronJob has no recent Jobs');
    },

    async configmap(stage, _notes, { instance }) {
      const configMap = await kube.core.readNamespacedConfigMap({ name: CONFIG_MAP, namespace: instance });
      await stage('configmap.yaml', toYaml(configMap));
    },

    async 'dynamodb-tables'(stage, notes, { instance }) {
      const described: Record<string, unknown> = {};
      for (const tableName of instanceTableNames(instance)) {
        try {
          described[tableName] = (await deps.dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table;
        } catch (err) {
          if (!(err instanceof ResourceNotFoundException)) throw err;
          notes.push(`table ${tableName} does not exist`);
        }
      }
      await stage('dynamodb-tables.json', JSON.stringify(described, null, 2) + '\n');
    },
  };

  return {
    /** Runs one collector. Its failure is an outcome, not an error: the bundle is built regardless. */
    async collectDiagnostics(req: CollectRequest): Promise<CollectorOutcome> {
      const files: StagedFile[] = [];
      const notes: string[] = [];
      const started = Date.now();
      try {
        await collectors[req.collector]((path, content) => stageFile(req.bundleId, files, path, content), notes, req);
        return { collector: req.collector, status: 'ok', files, notes, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started };
      } catch (err) {
        const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
        return { collector: req.collector, status: 'failed', files, notes, error: message, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started };
      }
    },
  };
}
