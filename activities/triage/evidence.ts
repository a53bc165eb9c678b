/**
 * Triage's live read of one instance: every object, log tail and AWS answer the analyzers need
 * (common/analyzers), read in parallel, then analyzed here, so the workflow carries only findings.
 * Read-only. Secrets are never read (not even listed: RBAC cannot grant a list of Secrets without
 * their values), so a reference to a missing Secret is not checked live.
 */
import { DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { STSClient } from '@aws-sdk/client-sts';
import { ApiException } from '@kubernetes/client-node';
import type { CoreV1Event, V1CronJob, V1Deployment, V1Job, V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { analyze } from '../../common/analyzers';
import type { TriageReport } from '../../common/analyzers';
import type { CallerIdentity, LogTail, ProviderEvidence, TableEvidence, TriageEvidence } from '../../common/analyzers/evidence';
import { forEachLimit } from '../../common/concurrency';
import { argoApplicationName, dynamodbClaimName, instanceTableNames, validateInstanceName } from '../../common/instance';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, CONFIG_MAP, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, MANAGED_TABLE, MATCHING_CRONJOB } from '../../common/platform';
import type { Application, Condition, DynamoDbClaim, DynamoDbComposite, ManagedTable } from '../../common/platform';
import { redactObject, redactText } from '../../common/redact';
import type { KubeClients } from '../kubernetes/client';
import { apiPath, groupPath } from '../kubernetes/raw';
import type { KubeRawReader } from '../kubernetes/raw';

export interface TriageDeps {
  kube: KubeClients;
  dynamodb: DynamoDBClient;
  /** Unset: the caller identity is not checked. */
  sts?: STSClient;
}

/** The claim's CompositeResourceDefinition (platform-sim/crossplane/definition.yaml). */
export const CLAIM_XRD = 'xvirtualcoffeedynamodbs.virtualcoffee.io';
/** Lines kept of each log: what the analyzers look through. */
const LOG_TAIL_LINES = 200;
/** The newest matching Jobs whose logs are read. */
const JOBS_WITH_LOGS = 3;
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

interface List<T> {
  items: T[];
}

/** Not found (404), or not allowed (403), reads as `undefined`: triage says what it could not see instead of failing. */
async function orUndefined<T>(read: Promise<T>, codes = [404]): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof ApiException && codes.includes(err.code)) return undefined;
    throw err;
  }
}

/** STS GetCallerIdentity: who AWS takes the worker for, or why it refuses (the guide's `aws sts get-caller-identity`). */
export async function readCallerIdentity(sts: STSClient | undefined): Promise<CallerIdentity | undefined> {
  if (!sts) return undefined;
  try {
    const answer = await sts.send(new GetCallerIdentityCommand({}));
    return { ok: true, account: answer.Account, arn: answer.Arn };
  } catch (err) {
    const e = err as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    // Only an answer from AWS says the credentials are bad; an unreachable endpoint is retried.
    if (e.$metadata?.httpStatusCode === undefined) throw err;
    return { ok: false, code: e.Code ?? e.name ?? 'Error', message: redactText(e.message ?? '') };
  }
}

/** The claim's XRD and Crossplane's Provider packages, as far as the worker may read them (the guide's `kubectl get xrd`, `kubectl get providers`). */
export async function readCrossplaneHealth(raw: KubeRawReader): Promise<{ xrd?: TriageEvidence['xrd']; providers?: ProviderEvidence[]; unreadable: string[] }> {
  const unreadable: string[] = [];
  const [xrd, providers] = await Promise.all([
    raw.json<{ metadata: { name: string }; status?: { conditions?: Condition[] } }>(apiPath(groupPath('apiextensions.crossplane.io', 'v1'), 'compositeresourcedefinitions', CLAIM_XRD)).then(
      (x) => ({ name: x.metadata.name, conditions: x.status?.conditions ?? [] }),
      (err: unknown) => {
        if (err instanceof ApiException && err.code === 404) return 'missing' as const;
        if (err instanceof ApiException && err.code === 403) return void unreadable.push(`CompositeResourceDefinition ${CLAIM_XRD} (forbidden)`);
        throw err;
      },
    ),
    raw.json<List<{ metadata: { name: string }; status?: { conditions?: Condition[] } }>>(apiPath(groupPath('pkg.crossplane.io', 'v1'), 'providers')).then(
      (l) => l.items.map((p) => ({ name: p.metadata.name, conditions: p.status?.conditions ?? [] })),
      (err: unknown) => {
        // No package API (providers run without Crossplane's package manager): nothing to check.
        if (err instanceof ApiException && err.code === 404) return undefined;
        if (err instanceof ApiException && err.code === 403) return void unreadable.push('Crossplane providers (forbidden)');
        throw err;
      },
    ),
  ]);
  return { ...(xrd ? { xrd } : {}), ...(providers ? { providers } : {}), unreadable };
}

/** The names of the namespace's ConfigMaps, read as metadata only: their values never leave the API server. */
export async function readConfigMapNames(raw: KubeRawReader, namespace: string): Promise<string[]> {
  const text = await raw.text(apiPath('api/v1', 'namespaces', namespace, 'configmaps'), {}, METADATA_ONLY);
  return (JSON.parse(text) as List<{ metadata: { name: string } }>).items.map((c) => c.metadata.name);
}

export function createTriageActivities(deps: TriageDeps) {
  const { raw } = deps.kube;
  const get = <T>(group: string, version: string, ...segments: string[]) => raw.json<T>(apiPath(groupPath(group, version), ...segments));
  const list = async <T>(group: string, version: string, namespace: string, plural: string, query = {}) =>
    (await raw.json<List<T>>(apiPath(groupPath(group, version), 'namespaces', namespace, plural), query)).items;

  async function tables(instance: string): Promise<TableEvidence[]> {
    return Promise.all(
      instanceTableNames(instance).map((tableName) =>
        deps.dynamodb.send(new DescribeTableCommand({ TableName: tableName })).then(
          (answer) => ({ tableName, exists: true, status: answer.Table?.TableStatus }),
          (err: unknown) => {
            if (err instanceof ResourceNotFoundException) return { tableName, exists: false };
            throw err;
          },
        ),
      ),
    );
  }

  async function logTails(instance: string, pods: V1Pod[], jobs: V1Job[]): Promise<LogTail[]> {
    const matchingJobs = jobs
      .filter((j) => j.metadata?.ownerReferences?.some((o) => o.name === MATCHING_CRONJOB) || j.metadata?.annotations?.['cronjob.kubernetes.io/instantiate'] === 'manual')
      .sort((a, b) => Date.parse(String(a.metadata?.creationTimestamp)) - Date.parse(String(b.metadata?.creationTimestamp)))
      .slice(-JOBS_WITH_LOGS)
      .map((j) => j.metadata!.name!);
    const reads = pods.flatMap((pod) => {
      const job = pod.metadata?.labels?.['job-name'];
      const isApi = pod.metadata?.labels?.['app'] === API_DEPLOYMENT;
      if (!isApi && !(job && matchingJobs.includes(job))) return [];
      return (pod.spec?.containers ?? []).flatMap((c) => {
        const status = pod.status?.containerStatuses?.find((s) => s.name === c.name);
        const restarted = (status?.restartCount ?? 0) > 0 || status?.lastState?.terminated !== undefined;
        return [false, ...(restarted ? [true] : [])].map((previous) => ({ pod: pod.metadata!.name!, container: c.name, previous, job }));
      });
    });
    const tails: LogTail[] = [];
    await forEachLimit(reads, 8, async (r) => {
      const text = await orUndefined(raw.text(apiPath('api/v1', 'namespaces', instance, 'pods', r.pod, 'log'), { container: r.container, previous: r.previous || undefined, tailLines: LOG_TAIL_LINES }), [400, 404]);
      if (text === undefined) return;
      tails.push({ pod: r.pod, container: r.container, previous: r.previous, ...(r.job ? { job: r.job } : {}), lines: redactText(text).split('\n').filter((l) => l.length > 0) });
    });
    return tails;
  }

  async function collect(instance: string): Promise<TriageEvidence> {
    const [application, claim, crossplane, identity, deployments, pods, jobs, cronJob, events, pvcs, networkPolicies, configMap, configMaps, tableEvidence] = await Promise.all([
      orUndefined(get<Application>(APPLICATION.group, APPLICATION.version, 'namespaces', ARGOCD_NAMESPACE, APPLICATION.plural, argoApplicationName(instance))),
      orUndefined(get<DynamoDbClaim>(DYNAMODB_CLAIM.group, DYNAMODB_CLAIM.version, 'namespaces', instance, DYNAMODB_CLAIM.plural, dynamodbClaimName(instance))),
      readCrossplaneHealth(raw),
      readCallerIdentity(deps.sts),
      list<V1Deployment>('apps', 'v1', instance, 'deployments'),
      list<V1Pod>('', 'v1', instance, 'pods'),
      list<V1Job>('batch', 'v1', instance, 'jobs'),
      orUndefined(get<V1CronJob>('batch', 'v1', 'namespaces', instance, 'cronjobs', MATCHING_CRONJOB)),
      list<CoreV1Event>('', 'v1', instance, 'events'),
      list<V1PersistentVolumeClaim>('', 'v1', instance, 'persistentvolumeclaims'),
      list<V1NetworkPolicy>('networking.k8s.io', 'v1', instance, 'networkpolicies'),
      orUndefined(get<{ data?: Record<string, string> }>('', 'v1', 'namespaces', instance, 'configmaps', CONFIG_MAP)),
      readConfigMapNames(raw, instance),
      tables(instance),
    ]);
    const compositeName = claim?.spec.resourceRef?.name;
    const [composite, managedTables, logs] = await Promise.all([
      compositeName ? orUndefined(get<DynamoDbComposite>(DYNAMODB_COMPOSITE.group, DYNAMODB_COMPOSITE.version, DYNAMODB_COMPOSITE.plural, compositeName)) : undefined,
      compositeName
        ? raw.json<List<ManagedTable>>(apiPath(groupPath(MANAGED_TABLE.group, MANAGED_TABLE.version), MANAGED_TABLE.plural), { labelSelector: `crossplane.io/composite=${compositeName}` }).then((l) => l.items)
        : [],
      logTails(instance, pods, jobs),
    ]);
    return {
      instance,
      collectedAt: new Date().toISOString(),
      ...(application ? { application } : {}),
      ...(claim ? { claim } : {}),
      ...(composite ? { composite } : {}),
      managedTables,
      ...(crossplane.xrd ? { xrd: crossplane.xrd } : {}),
      ...(crossplane.providers ? { providers: crossplane.providers } : {}),
      ...(crossplane.unreadable.length > 0 ? { unreadable: crossplane.unreadable } : {}),
      ...(identity ? { callerIdentity: identity } : {}),
      deployments,
      pods,
      jobs,
      ...(cronJob ? { cronJob } : {}),
      events,
      pvcs,
      networkPolicies,
      ...(configMap ? { configMap: redactObject<Record<string, string>>(configMap.data ?? {}) } : {}),
      configMapNames: configMaps,
      tables: tableEvidence,
      logs,
    };
  }

  return {
    /** Reads the instance and runs every analyzer over what it read: findings only leave the worker. */
    async triageInstance(instance: string): Promise<TriageReport> {
      return analyze(await collect(validateInstanceName(instance)));
    },
  };
}
