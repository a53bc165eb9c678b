/**
 * The diagnostic bundle's collectors: each reads one part of what the guide collects (and what its
 * other diagnosis steps read), redacts secrets, and stages its files on this worker for the archive
 * step, as one staging file per collector (its files back to back, each one's offset, size and
 * SHA-256 in the outcome). Secrets themselves are never read. The text they write is formatted by
 * kubectl-text.ts (tables, descriptions, log tails) and yaml.ts.
 */
import { DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { STSClient } from '@aws-sdk/client-sts';
import { ApiException } from '@kubernetes/client-node';
import type { CoreV1Event, V1CronJob, V1DaemonSet, V1Deployment, V1Job, V1Node, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { forEachLimit } from '../../common/concurrency';
import type { KubeClients } from '../kubernetes/client';
import { getOrUndefined } from '../kubernetes/client';
import { apiPath, groupPath } from '../kubernetes/raw';
import type { Query } from '../kubernetes/raw';
import type { CollectorName, CollectorOutcome, DiagnosticLimits } from '../../common/diagnostics';
import { argoApplicationName, dynamodbClaimName, instanceTableNames } from '../../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, FRONTEND_DEPLOYMENT, MANAGED_TABLE, MATCHING_CRONJOB } from '../../common/platform';
import type { DynamoDbClaim } from '../../common/platform';
import { redactObject, redactText } from '../../common/redact';
import { capTail, describeNode, describePod, eventsText, getAllText } from './kubectl-text';
import type { NamespaceResources } from './kubectl-text';
import type { StagingArea, StagingHost } from './staging';
import { toYamlText } from './yaml';
import { readCallerIdentity, readConfigMapNames, readCrossplaneHealth } from '../triage/evidence';

export interface DiagnosticsDeps {
  kube: KubeClients;
  dynamodb: DynamoDBClient;
  sts?: STSClient;
  staging: StagingArea;
}

export interface CollectRequest {
  bundleId: string;
  instance: string;
  collector: CollectorName;
  limits: DiagnosticLimits;
}

type Stage = (path: string, content: string) => Promise<void>;

const toYaml = (value: unknown) => toYamlText(redactObject(value));

/** An error's first line: API errors carry whole response bodies after it. */
function firstLine(err: unknown): string {
  return err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
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
    await forEachLimit(reads, 8, async ({ name, container, previous }) => {
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
      const resources: NamespaceResources = {
        pods: pods.items,
        services: services.items,
        deployments: deployments.items,
        replicaSets: replicaSets.items,
        statefulSets: statefulSets.items,
        daemonSets: daemonSets.items,
        jobs: jobs.items,
        cronJobs: cronJobs.items,
      };
      await stage('resources.txt', getAllText(resources));
      // A list's items carry no kind; as `kubectl get -o yaml` does, each says what it is, so the
      // file can be read back (triage of a bundle).
      const kinds: Record<keyof NamespaceResources, [string, string]> = {
        pods: ['v1', 'Pod'],
        services: ['v1', 'Service'],
        deployments: ['apps/v1', 'Deployment'],
        replicaSets: ['apps/v1', 'ReplicaSet'],
        statefulSets: ['apps/v1', 'StatefulSet'],
        daemonSets: ['apps/v1', 'DaemonSet'],
        jobs: ['batch/v1', 'Job'],
        cronJobs: ['batch/v1', 'CronJob'],
      };
      const items = (Object.keys(resources) as (keyof NamespaceResources)[]).flatMap((group) =>
        (resources[group] as object[]).map((item) => ({ apiVersion: kinds[group][0], kind: kinds[group][1], ...item })),
      );
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
      const health = await readCrossplaneHealth(raw);
      await stage('crossplane-health.json', JSON.stringify({ xrd: health.xrd ?? null, providers: health.providers ?? null, unreadable: health.unreadable }, null, 2) + '\n');
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
      await stage('events.txt', eventsText(events.items));
      await stage('events.yaml', toYaml({ apiVersion: 'v1', kind: 'List', items: events.items }));
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
      const text = nodes.items.map((node) => describeNode(node, podsOn.get(node.metadata?.name ?? ''), { instance: req.instance, instanceOnly }));
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
      const [configMap, names] = await Promise.all([namespaced<unknown>('', 'v1', instance, 'configmaps', CONFIG_MAP), readConfigMapNames(raw, instance)]);
      await stage('configmap.yaml', toYaml(configMap));
      await stage('configmap-names.json', JSON.stringify(names) + '\n');
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
      await stage('aws-identity.json', JSON.stringify((await readCallerIdentity(deps.sts)) ?? null, null, 2) + '\n');
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
