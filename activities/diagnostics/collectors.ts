/**
 * The diagnostic bundle's collectors: each reads one part of what the guide collects (and what its
 * other diagnosis steps read), redacts secrets, and stages its files on this worker for the archive
 * step, as one staging file per collector (its files back to back, each one's offset, size and
 * SHA-256 in the outcome). Secrets themselves are never read.
 */
import { DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiException } from '@kubernetes/client-node';
import type { CoreV1Event, V1CronJob, V1DaemonSet, V1Deployment, V1Job, V1Node, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeClients } from '../kubernetes/client';
import { getOrUndefined } from '../kubernetes/client';
import { apiPath, groupPath } from '../kubernetes/raw';
import type { Query } from '../kubernetes/raw';
import type { CollectorName, CollectorOutcome, DiagnosticLimits } from '../../common/diagnostics';
import { argoApplicationName, dynamodbClaimName, instanceTableNames } from '../../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, FRONTEND_DEPLOYMENT, MANAGED_TABLE, MATCHING_CRONJOB } from '../../common/platform';
import type { DynamoDbClaim } from '../../common/platform';
import { redactObject, redactText } from '../../common/redact';
import type { StagingArea, StagingHost } from './staging';

export interface DiagnosticsDeps {
  kube: KubeClients;
  dynamodb: DynamoDBClient;
  staging: StagingArea;
}

export interface CollectRequest {
  bundleId: string;
  instance: string;
  collector: CollectorName;
  limits: DiagnosticLimits;
}

type Stage = (path: string, content: string) => Promise<void>;

/**
 * YAML of JSON-shaped data (what the Kubernetes API returns), in kubectl's layout. The `yaml`
 * package needs about 4 ms per KiB for this, most of a collector's time; this is plain string work.
 * A string that could read as anything but itself (number, boolean, null, date, indicator) is
 * written JSON-quoted, which YAML reads as the same string; multi-line text becomes a literal block.
 */
export function toYamlText(value: unknown): string {
  if (!isCollection(value)) return inline(value, '') + '\n';
  const out: string[] = [];
  writeCollection(out, value, '');
  return out.join('\n') + '\n';
}

const toYaml = (value: unknown) => toYamlText(redactObject(value));

// Conservative: letters, digits and a few punctuation marks; ": " and " #" can never occur.
const PLAIN = /^[A-Za-z0-9_/][\w./@=+,()-]*(?:[ :][\w./@=+,()-]+)*$/;
const AMBIGUOUS = /^(?:~|null|true|false|yes|no|on|off|y|n|[-+]?\.?\d[\d_.:eE+-]*|0[xob].*|\d{4}-\d\d?-\d\d?.*)$/i;
const BLOCK_UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]/;

type Collection = Record<string, unknown> | unknown[];

function isCollection(value: unknown): value is Collection {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && typeof value === 'object' && !(value instanceof Date) && Object.values(value).some((v) => v !== undefined);
}

function quoted(text: string): string {
  return text !== '' && PLAIN.test(text) && !AMBIGUOUS.test(text) ? text : JSON.stringify(text);
}

/** A scalar or an empty collection on the line it starts; a multi-line string as a literal block below it. */
function inline(value: unknown, indent: string): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return '[]';
  if (typeof value === 'object') return '{}';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'string') return 'null'; // functions and symbols are not data
  const lines = value.split('\n');
  // A literal block keeps every character, as long as no line could read as indentation or as the
  // block's end: the first non-empty line starts with no blank, no line is only blanks, and there is
  // at most one final newline (clip) or none (strip).
  const first = lines.find((l) => l !== '') ?? '';
  if (lines.length > 1 && first !== '' && !BLOCK_UNSAFE.test(value) && !/^\s/.test(first) && !value.endsWith('\n\n') && !lines.some((l) => l !== '' && l.trim() === '')) {
    const body = value.endsWith('\n') ? lines.slice(0, -1) : lines;
    return `${value.endsWith('\n') ? '|' : '|-'}\n${body.map((l) => (l === '' ? '' : `${indent}  ${l}`)).join('\n')}`;
  }
  return quoted(value);
}

/**
 * Writes the lines of a non-empty map or sequence at `indent`; `lead` replaces the first line's
 * indentation, so a sequence item's first line shares the dash's line ("- name: x").
 */
function writeCollection(out: string[], value: Collection, indent: string, lead = indent): void {
  let prefix = lead;
  const line = (text: string) => {
    const start = prefix;
    prefix = indent;
    return start + text;
  };
  if (Array.isArray(value)) {
    for (const child of value) {
      if (isCollection(child)) writeCollection(out, child, `${indent}  `, line('- '));
      else out.push(line(`- ${inline(child, indent)}`));
    }
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue;
    if (!isCollection(child)) {
      out.push(line(`${quoted(key)}: ${inline(child, indent)}`));
      continue;
    }
    out.push(line(`${quoted(key)}:`));
    writeCollection(out, child, `${indent}  `);
  }
}

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

/** An error's first line: API errors carry whole response bodies after it. */
function firstLine(err: unknown): string {
  return err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
}

/** Runs `task` over `items` with at most `limit` running at once; after a failure, starts no more. */
export async function mapLimit<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failed) {
      await task(items[next++]!).catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  });
  await Promise.all(lanes);
}

/** Keeps at most maxBytes of a log, from its end (the newest lines), on a line boundary. */
export function capTail(log: string, maxBytes: number, notes: string[], what: string): string {
  if (Buffer.byteLength(log, 'utf8') <= maxBytes) return log;
  const bytes = Buffer.from(log, 'utf8');
  const tail = bytes.subarray(bytes.length - maxBytes).toString('utf8');
  const firstNewline = tail.indexOf('\n');
  notes.push(`${what}: log truncated to its last ${maxBytes} bytes (was ${bytes.length})`);
  // Drop a partial first line, and a character the byte cut may have split.
  return firstNewline >= 0 && firstNewline < tail.length - 1 ? tail.slice(firstNewline + 1) : tail.replace(/^\uFFFD/, '');
}

/**
 * A list as the API server sends it. The client library's model types name its fields; timestamps
 * arrive as RFC 3339 text where they say Date, which everything here reads through `new Date()`.
 */
interface List<T> {
  items: T[];
}

export function createDiagnosticsActivities(deps: DiagnosticsDeps) {
  const { staging } = deps;
  const { raw } = deps.kube;
  // Everything is read as the server's own JSON: the bundle holds what the server said, fields the
  // client library does not know included (see kubernetes/raw.ts).
  const namespaced = <T>(group: string, version: string, namespace: string, plural: string, name?: string) =>
    raw.json<T>(apiPath(groupPath(group, version), 'namespaces', namespace, plural, ...(name ? [name] : [])));
  const list = <T>(group: string, version: string, namespace: string, plural: string) => namespaced<List<T>>(group, version, namespace, plural);
  const clusterScoped = <T>(group: string, version: string, plural: string, name?: string, query?: Query) =>
    raw.json<T>(apiPath(groupPath(group, version), plural, ...(name ? [name] : [])), query);
  // The namespace's pods, events and Jobs feed several collectors; a bundle reads each once.
  const namespacePods = (req: CollectRequest) => staging.shared(req.bundleId, 'pods', () => list<V1Pod>('', 'v1', req.instance, 'pods'));
  const namespaceEvents = (req: CollectRequest) => staging.shared(req.bundleId, 'events', () => list<CoreV1Event>('', 'v1', req.instance, 'events'));
  const namespaceJobs = (req: CollectRequest) => staging.shared(req.bundleId, 'jobs', () => list<V1Job>('batch', 'v1', req.instance, 'jobs'));

  /** Logs of the namespace's pods whose label `label` is `value`. */
  async function podLogs(stage: Stage, notes: string[], req: CollectRequest, [label, value]: [string, string], dir: string): Promise<void> {
    const { instance, limits } = req;
    const pods = (await namespacePods(req)).items.filter((pod) => pod.metadata?.labels?.[label] === value);
    if (pods.length === 0) notes.push(`no pods match ${label}=${value}`);
    const reads = pods.flatMap((pod) =>
      (pod.spec?.containers ?? []).flatMap((container) => {
        const name = pod.metadata!.name!;
        // The kubelet keeps a container's previous instance only once it has restarted; asking
        // for it before that is a 400, so that read is skipped and noted (status unknown: read).
        const status = pod.status?.containerStatuses?.find((s) => s.name === container.name);
        const restarted = !status || status.restartCount > 0 || status.lastState?.terminated !== undefined;
        if (!restarted) notes.push(`${name}/${container.name} (previous): no logs (the container has not restarted)`);
        return [false, ...(restarted ? [true] : [])].map((previous) => ({ name, container: container.name, previous }));
      }),
    );
    await mapLimit(reads, 8, async ({ name, container, previous }) => {
      try {
        // tailLines bounds the transfer; the byte cap is applied here, because the kubelet's
        // limitBytes keeps the oldest bytes of the range and the newest are the ones that matter.
        const log = await raw.text(apiPath('api/v1', 'namespaces', instance, 'pods', name, 'log'), { container, previous: previous || undefined, tailLines: limits.logTailLines });
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
    async resources(stage, _notes, req) {
      const namespace = req.instance;
      const [pods, services, deployments, replicaSets, statefulSets, daemonSets, jobs, cronJobs] = await Promise.all([
        namespacePods(req),
        list<V1Service>('', 'v1', namespace, 'services'),
        list<V1Deployment>('apps', 'v1', namespace, 'deployments'),
        list<V1ReplicaSet>('apps', 'v1', namespace, 'replicasets'),
        list<V1StatefulSet>('apps', 'v1', namespace, 'statefulsets'),
        list<V1DaemonSet>('apps', 'v1', namespace, 'daemonsets'),
        namespaceJobs(req),
        list<V1CronJob>('batch', 'v1', namespace, 'cronjobs'),
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

    async 'pod-descriptions'(stage, _notes, req) {
      const [pods, events] = await Promise.all([namespacePods(req), namespaceEvents(req)]);
      const text = pods.items.map((pod) => describePod(pod, events.items.filter((e) => e.involvedObject.kind === 'Pod' && e.involvedObject.name === pod.metadata?.name))).join('\n\n');
      await stage('pods.txt', text || 'No resources found.\n');
    },

    async 'api-logs'(stage, notes, req) {
      await podLogs(stage, notes, req, ['app', API_DEPLOYMENT], 'logs/virtual-coffee-api');
    },

    async 'frontend-logs'(stage, notes, req) {
      await podLogs(stage, notes, req, ['app', FRONTEND_DEPLOYMENT], 'logs/virtual-coffee-frontend');
    },

    async 'argocd-application'(stage, _notes, { instance }) {
      const app = await namespaced<unknown>(APPLICATION.group, APPLICATION.version, ARGOCD_NAMESPACE, APPLICATION.plural, argoApplicationName(instance));
      await stage('argocd-app.yaml', toYaml(app));
    },

    async 'dynamodb-claim'(stage, notes, { instance }) {
      const claim = await namespaced<DynamoDbClaim>(DYNAMODB_CLAIM.group, DYNAMODB_CLAIM.version, instance, DYNAMODB_CLAIM.plural, dynamodbClaimName(instance));
      await stage('dynamodb-claim.yaml', toYaml(claim));
      const ref = claim.spec.resourceRef;
      if (!ref) return void notes.push('the claim has no composite yet');
      const [composite, tables] = await Promise.all([
        getOrUndefined(clusterScoped<unknown>(DYNAMODB_COMPOSITE.group, DYNAMODB_COMPOSITE.version, DYNAMODB_COMPOSITE.plural, ref.name)),
        clusterScoped<List<unknown>>(MANAGED_TABLE.group, MANAGED_TABLE.version, MANAGED_TABLE.plural, undefined, { labelSelector: `crossplane.io/composite=${ref.name}` }),
      ]);
      await stage('dynamodb-composite.yaml', toYaml({ composite, managedTables: tables.items }));
    },

    async events(stage, _notes, req) {
      const events = await namespaceEvents(req);
      const sorted = [...events.items].sort((a, b) => new Date(a.lastTimestamp ?? a.eventTime ?? 0).getTime() - new Date(b.lastTimestamp ?? b.eventTime ?? 0).getTime());
      await stage('events.txt', table([['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], ...sorted.map((e) => [age(e.lastTimestamp ?? e.eventTime), e.type ?? '', e.reason ?? '', `${e.involvedObject.kind?.toLowerCase()}/${e.involvedObject.name}`, redactText(e.message ?? '')])]));
    },

    async nodes(stage, notes, req) {
      const [nodes, instancePods] = await Promise.all([clusterScoped<List<V1Node>>('', 'v1', 'nodes'), namespacePods(req)]);
      // Allocated resources as `kubectl describe node` counts them, for the nodes the instance runs
      // on: each node's own pods by field selector, not every pod of the cluster. A worker bound to
      // its instances only (deploy/rbac.yaml) may not list other namespaces' pods: it counts the
      // instance's own pods on the node and says so.
      const active = (p: V1Pod) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
      const hosting = [...new Set(instancePods.items.flatMap((p) => (p.spec?.nodeName ? [p.spec.nodeName] : [])))];
      let instanceOnly = false;
      const podsOn = new Map(
        await Promise.all(
          hosting.map(async (nodeName) => {
            try {
              const pods = await clusterScoped<List<V1Pod>>('', 'v1', 'pods', undefined, { fieldSelector: `spec.nodeName=${nodeName},status.phase!=Succeeded,status.phase!=Failed` });
              return [nodeName, pods.items] as const;
            } catch (err) {
              if (!(err instanceof ApiException && err.code === 403)) throw err;
              instanceOnly = true;
              return [nodeName, instancePods.items.filter((p) => p.spec?.nodeName === nodeName && active(p))] as const;
            }
          }),
        ),
      );
      if (instanceOnly) notes.push(`allocated resources count only the pods of ${req.instance}: the worker may not list pods in other namespaces`);
      const text = nodes.items.map((node) => {
        const name = node.metadata?.name ?? '';
        const onNode = podsOn.get(name);
        const requests = (resource: 'cpu' | 'memory') => (onNode ?? []).flatMap((p) => p.spec?.containers ?? []).map((c) => c.resources?.requests?.[resource] ?? '0').join(' + ') || '0';
        return [
          `Name: ${name}`,
          `Taints: ${(node.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(', ') || '<none>'}`,
          'Conditions:',
          ...(node.status?.conditions ?? []).map((c) => `  ${c.type.padEnd(16)} ${c.status.padEnd(6)} ${c.reason ?? ''}`),
          `Allocatable: ${Object.entries(node.status?.allocatable ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`,
          ...(onNode
            ? [instanceOnly ? `Allocated resources (pods of ${req.instance} only):` : 'Allocated resources:', `  pods:    ${onNode.length}`, `  cpu:     ${requests('cpu')}`, `  memory:  ${requests('memory')}`]
            : [`Allocated resources: not read (no pod of ${req.instance} runs here)`]),
        ].join('\n');
      });
      await stage('nodes.txt', text.join('\n\n') + '\n');
    },

    async 'storage-and-network'(stage, _notes, { instance }) {
      const [pvcs, policies] = await Promise.all([
        list<unknown>('', 'v1', instance, 'persistentvolumeclaims'),
        list<unknown>('networking.k8s.io', 'v1', instance, 'networkpolicies'),
      ]);
      await stage('pvcs.yaml', toYaml({ apiVersion: 'v1', kind: 'List', items: pvcs.items }));
      await stage('networkpolicies.yaml', toYaml(policies));
    },

    async 'matching-cronjob'(stage, notes, req) {
      const [cronJob, allJobs] = await Promise.all([namespaced<V1CronJob>('batch', 'v1', req.instance, 'cronjobs', MATCHING_CRONJOB), namespaceJobs(req)]);
      const jobs = allJobs.items.filter((j) => j.metadata?.ownerReferences?.some((o) => o.name === MATCHING_CRONJOB) || j.metadata?.name?.includes('matching'));
      await stage('matching-cronjob.yaml', toYaml({ cronJob, jobs }));
      await Promise.all(jobs.slice(-5).map((job) => podLogs(stage, notes, req, ['job-name', job.metadata!.name!], `logs/jobs/${job.metadata!.name!}`)));
      if (jobs.length === 0) notes.push('the matching CronJob has no recent Jobs');
    },

    async configmap(stage, _notes, { instance }) {
      const configMap = await namespaced<unknown>('', 'v1', instance, 'configmaps', CONFIG_MAP);
      await stage('configmap.yaml', toYaml(configMap));
    },

    async 'dynamodb-tables'(stage, notes, { instance }) {
      const names = instanceTableNames(instance);
      const tables = await Promise.all(
        names.map((tableName) =>
          deps.dynamodb.send(new DescribeTableCommand({ TableName: tableName })).then(
            (answer) => answer.Table,
            (err: unknown) => {
              if (!(err instanceof ResourceNotFoundException)) throw err;
              notes.push(`table ${tableName} does not exist`);
              return undefined;
            },
          ),
        ),
      );
      // In the order of instanceTableNames; missing tables are left out.
      const described: Record<string, unknown> = {};
      names.forEach((tableName, i) => {
        if (tables[i]) described[tableName] = tables[i];
      });
      await stage('dynamodb-tables.json', JSON.stringify(described, null, 2) + '\n');
    },
  };

  return {
    /**
     * This worker process's own task queue, for a bundle's collectors and archive to share its
     * staging folder. Run as a local activity: it answers for the worker running the workflow task.
     */
    diagnosticsStagingHost(): Promise<StagingHost> {
      return Promise.resolve(deps.staging.host);
    },

    /**
     * Runs one collector (a local activity: the workflow task's worker is where it stages, and the
     * workflow task is its liveness). Its failure is an outcome, not an error: the bundle is built regardless.
     */
    async collectDiagnostics(req: CollectRequest): Promise<CollectorOutcome> {
      const staged = await deps.staging.open(req.bundleId, req.collector, req.limits.maxBundleBytes);
      const notes: string[] = [];
      const started = Date.now();
      let failure: unknown;
      try {
        await collectors[req.collector]((path, content) => staged.add(path, content), notes, req);
      } catch (err) {
        failure = err;
      }
      // What a failed collector staged before it failed still goes into the bundle; if the staging
      // file itself failed, none of its files can.
      let files = staged.files;
      try {
        await staged.close();
      } catch (err) {
        if (files.length > 0) notes.push(`staged files lost: ${files.map((f) => f.path).join(', ')}`);
        files = [];
        failure ??= err;
      }
      const timing = { startedAt: new Date(started).toISOString(), durationMs: Date.now() - started };
      const omitted = staged.omitted.length > 0 ? { omitted: staged.omitted } : {};
      if (failure === undefined) return { collector: req.collector, status: 'ok', files, notes, ...omitted, ...timing };
      return { collector: req.collector, status: 'failed', files, notes, ...omitted, error: firstLine(failure), ...timing };
    },
  };
}
