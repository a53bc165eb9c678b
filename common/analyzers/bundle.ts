/**
 * Triage evidence from a diagnostic bundle's files (paths as in the archive, without its top folder):
 * what the collectors (activities/diagnostics/collectors.ts) wrote, read back, so a bundle is
 * triaged with the same analyzers as a live instance: when it is archived (its findings.json) and
 * offline later (`runbook triage --bundle FILE`). A file the bundle lacks (its collector failed)
 * makes that part unknown, never "missing".
 */
import type { CoreV1Event, V1CronJob, V1Deployment, V1Job, V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { instanceTableNames } from '../instance';
import { MATCHING_CRONJOB } from '../platform';
import type { Application, DynamoDbClaim, DynamoDbComposite, ManagedTable } from '../platform';
import type { CallerIdentity, EvidencePart, LogTail, ProviderEvidence, TriageEvidence } from './evidence';

/** The files of a bundle the analyzers read: everything but the text renderings. */
export const BUNDLE_EVIDENCE_FILES = {
  application: 'argocd-app.yaml',
  claim: 'dynamodb-claim.yaml',
  composite: 'dynamodb-composite.yaml',
  crossplaneHealth: 'crossplane-health.json',
  awsIdentity: 'aws-identity.json',
  resources: 'resources.yaml',
  events: 'events.yaml',
  pvcs: 'pvcs.yaml',
  networkPolicies: 'networkpolicies.yaml',
  configMap: 'configmap.yaml',
  configMapNames: 'configmap-names.json',
  tables: 'dynamodb-tables.json',
} as const;

/** Whether a bundle path is read by the analyzers (the archive reads only those back). */
export function isEvidenceFile(path: string): boolean {
  return (Object.values(BUNDLE_EVIDENCE_FILES) as string[]).includes(path) || /^logs\/(?:virtual-coffee-api\/[^/]+|jobs\/[^/]+\/[^/]+)\/[^/]+\.log$/.test(path);
}

/** What the crossplane-health file holds. */
export interface CrossplaneHealth {
  xrd: TriageEvidence['xrd'] | null;
  providers: ProviderEvidence[] | null;
  unreadable?: string[];
}

interface KindedList {
  items?: { kind?: string }[];
}

export function evidenceFromBundle(instance: string, files: ReadonlyMap<string, string>, collectedAt: string): TriageEvidence {
  const unknown = new Set<EvidencePart>();
  const unparsable: string[] = [];
  const read = <T>(path: string, part: EvidencePart, json = false): T | undefined => {
    const text = files.get(path);
    if (text !== undefined) {
      try {
        return (json ? JSON.parse(text) : parse(text)) as T;
      } catch (err) {
        // A damaged file leaves its part unknown; the rest of the bundle is still triaged.
        unparsable.push(`${path} (not parsable: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
      }
    }
    unknown.add(part);
    return undefined;
  };
  const application = read<Application>(BUNDLE_EVIDENCE_FILES.application, 'application');
  const claim = read<DynamoDbClaim>(BUNDLE_EVIDENCE_FILES.claim, 'claim');
  const compositeFile = read<{ composite?: DynamoDbComposite | null; managedTables?: ManagedTable[] }>(BUNDLE_EVIDENCE_FILES.composite, 'composite');
  const health = read<CrossplaneHealth>(BUNDLE_EVIDENCE_FILES.crossplaneHealth, 'crossplane', true);
  const identity = read<CallerIdentity | null>(BUNDLE_EVIDENCE_FILES.awsIdentity, 'identity', true);
  const resources = read<KindedList>(BUNDLE_EVIDENCE_FILES.resources, 'workloads')?.items ?? [];
  const ofKind = <T>(kind: string) => resources.filter((r) => r.kind === kind) as T[];
  const cronJob = ofKind<V1CronJob>('CronJob').find((c) => c.metadata?.name === MATCHING_CRONJOB);
  if (unknown.has('workloads')) unknown.add('cronJob');
  const configMap = read<{ data?: Record<string, string> } | null>(BUNDLE_EVIDENCE_FILES.configMap, 'configMap');
  const tables = read<Record<string, { TableStatus?: string }>>(BUNDLE_EVIDENCE_FILES.tables, 'tables', true);
  return {
    instance,
    collectedAt,
    ...(application ? { application } : {}),
    ...(claim ? { claim } : {}),
    ...(compositeFile?.composite ? { composite: compositeFile.composite } : {}),
    managedTables: compositeFile?.managedTables ?? [],
    ...(health?.xrd ? { xrd: health.xrd } : {}),
    ...(health?.providers ? { providers: health.providers } : {}),
    ...(health?.unreadable?.length || unparsable.length ? { unreadable: [...(health?.unreadable ?? []), ...unparsable] } : {}),
    ...(identity ? { callerIdentity: identity } : {}),
    deployments: ofKind<V1Deployment>('Deployment'),
    pods: ofKind<V1Pod>('Pod'),
    jobs: ofKind<V1Job>('Job'),
    ...(cronJob ? { cronJob } : {}),
    events: read<{ items?: CoreV1Event[] }>(BUNDLE_EVIDENCE_FILES.events, 'events')?.items ?? [],
    pvcs: read<{ items?: V1PersistentVolumeClaim[] }>(BUNDLE_EVIDENCE_FILES.pvcs, 'pvcs')?.items ?? [],
    networkPolicies: read<{ items?: V1NetworkPolicy[] }>(BUNDLE_EVIDENCE_FILES.networkPolicies, 'networkPolicies')?.items ?? [],
    ...(configMap ? { configMap: configMap.data ?? {} } : {}),
    configMapNames: read<string[]>(BUNDLE_EVIDENCE_FILES.configMapNames, 'configMapNames', true) ?? [],
    tables: tables ? instanceTableNames(instance).map((tableName) => ({ tableName, exists: tableName in tables, status: tables[tableName]?.TableStatus })) : [],
    logs: logTails(files),
    unknown: [...unknown],
  };
}

/** logs/virtual-coffee-api/<pod>/<container>[.previous].log and logs/jobs/<job>/<pod>/<container>.log. */
function logTails(files: ReadonlyMap<string, string>): LogTail[] {
  const tails: LogTail[] = [];
  for (const [path, text] of files) {
    const api = /^logs\/virtual-coffee-api\/([^/]+)\/([^/]+?)(\.previous)?\.log$/.exec(path);
    const job = /^logs\/jobs\/([^/]+)\/([^/]+)\/([^/]+?)\.log$/.exec(path);
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (api) tails.push({ pod: api[1]!, container: api[2]!, previous: api[3] !== undefined, lines });
    else if (job) tails.push({ pod: job[2]!, container: job[3]!, previous: false, job: job[1]!, lines });
  }
  return tails;
}
