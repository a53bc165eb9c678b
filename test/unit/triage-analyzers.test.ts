import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1Job, V1Pod } from '@kubernetes/client-node';
import { analyze, ANALYZERS } from '../../common/analyzers';
import { evidenceFromBundle } from '../../common/analyzers/bundle';
import { parseCron, previousFireTime } from '../../common/analyzers/cron';
import type { TriageEvidence } from '../../common/analyzers/evidence';
import { API_DEPLOYMENT, CONFIG_MAP, FRONTEND_DEPLOYMENT, MATCHING_CRONJOB } from '../../common/platform';

const NOW = '2026-12-02T12:00:00.000Z';
const ready = [{ type: 'Ready', status: 'True' as const }, { type: 'Synced', status: 'True' as const }];

function deployment(name: string, extra: Partial<V1Deployment['spec']> = {}): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: name === API_DEPLOYMENT ? 'api' : 'frontend', env: ['INSTANCE', 'AWS_REGION', 'USERS_TABLE'].map((n) => ({ name: n, value: 'x' })) }],
          volumes: [{ name: 'config', configMap: { name: CONFIG_MAP } }],
        },
      },
      ...extra,
    },
    status: { replicas: 1, availableReplicas: 1, updatedReplicas: 1 },
  };
}

function pod(name: string, app: string, status: V1Pod['status'] = { phase: 'Running', containerStatuses: [{ name: 'api', image: 'img', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] }): V1Pod {
  return { metadata: { name, labels: { app } }, spec: { containers: [{ name: 'api' }] }, status };
}

/** A healthy instance as triage reads it. */
function healthy(): TriageEvidence {
  return {
    instance: 'demo',
    collectedAt: NOW,
    application: {
      metadata: { name: 'virtual-coffee-demo', namespace: 'argocd' },
      spec: { project: 'p', destination: {}, source: { repoURL: 'file:///repo', path: 'instance', targetRevision: 'main' }, syncPolicy: { automated: { prune: true, selfHeal: true } } },
      status: { sync: { status: 'Synced' }, health: { status: 'Healthy' }, operationState: { operation: {}, phase: 'Succeeded', startedAt: NOW } },
    },
    claim: { metadata: { name: 'demo-dynamodb' }, spec: { parameters: { instance: 'demo' }, resourceRef: { apiVersion: 'v', kind: 'X', name: 'demo-x' } }, status: { conditions: ready } },
    managedTables: [{ metadata: { name: 'users-t', annotations: { 'crossplane.io/external-name': 'users-demo', 'crossplane.io/external-create-succeeded': NOW } }, spec: { forProvider: {} }, status: { conditions: ready } }],
    xrd: { name: 'xvirtualcoffeedynamodbs.virtualcoffee.io', conditions: [{ type: 'Established', status: 'True' }, { type: 'Offered', status: 'True' }] },
    providers: [{ name: 'provider-aws', conditions: [{ type: 'Installed', status: 'True' }, { type: 'Healthy', status: 'True' }] }],
    callerIdentity: { ok: true, account: '123456789012', arn: 'arn:aws:iam::123456789012:user/runbooks' },
    deployments: [deployment(API_DEPLOYMENT), deployment(FRONTEND_DEPLOYMENT)],
    pods: [pod(`${API_DEPLOYMENT}-abc`, API_DEPLOYMENT), pod(`${FRONTEND_DEPLOYMENT}-def`, FRONTEND_DEPLOYMENT)],
    jobs: [],
    cronJob: { metadata: { name: MATCHING_CRONJOB, creationTimestamp: new Date('2026-12-01T00:00:00Z') }, spec: { schedule: '0 9 * * 1', jobTemplate: {} } },
    events: [],
    pvcs: [],
    networkPolicies: [],
    configMap: { oauth_provider: 'google', oauth_client_id: 'id', oauth_client_secret: '[REDACTED]' },
    configMapNames: [CONFIG_MAP],
    tables: ['users', 'matches', 'feedback'].map((base) => ({ tableName: `${base}-demo`, exists: true, status: 'ACTIVE' })),
    logs: [{ pod: `${API_DEPLOYMENT}-abc`, container: 'api', previous: false, lines: ['INFO  GET /api/v1/health 200 2ms'] }],
  };
}

const ids = (e: TriageEvidence) => analyze(e).findings.filter((f) => f.severity !== 'info').map((f) => f.id);

describe('triage analyzers', () => {
  it('a healthy instance has no finding above info, and every analyzer ran', () => {
    const report = analyze(healthy());
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ healthy: true, worst: 'none', failedAnalyzers: [] });
  });

  it('AWS credentials: STS refusing, an unhealthy provider, managed resources rejected with InvalidClientTokenId', () => {
    const e = healthy();
    e.callerIdentity = { ok: false, code: 'ExpiredToken', message: 'The security token included in the request is expired' };
    e.providers = [{ name: 'provider-aws-1a2b', conditions: [{ type: 'Healthy', status: 'False', reason: 'UnhealthyPackageRevision' }] }];
    e.managedTables[0]!.status = { conditions: [{ type: 'Synced', status: 'False', reason: 'ReconcileError', message: 'observe failed: UnrecognizedClientException: The security token included in the request is invalid.' }, { type: 'Ready', status: 'True' }] };
    const report = analyze(e);
    expect(report.findings.map((f) => [f.id, f.severity])).toEqual(
      expect.arrayContaining([
        ['aws-credentials/caller-identity', 'critical'],
        ['aws-credentials/rejected/demo-dynamodb', 'critical'],
        ['aws-credentials/provider-unhealthy/provider-aws-1a2b', 'error'],
      ]),
    );
    expect(report.findings.find((f) => f.id === 'aws-credentials/rejected/demo-dynamodb')).toMatchObject({ fix: { runbook: 'restart', target: 'provider-aws' }, guideSection: 'AWS Credentials Issues' });
    expect(report.worst).toBe('critical');
  });

  it('table creation: a claim not Ready on a quota error, an adopted table, a missing XRD', () => {
    const e = healthy();
    e.claim!.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'Creating' }, { type: 'Synced', status: 'True' }] };
    e.managedTables = [
      { metadata: { name: 'm1', annotations: { 'crossplane.io/external-name': 'matches-demo' } }, spec: { forProvider: {} }, status: { conditions: [{ type: 'Ready', status: 'False', message: 'create failed: LimitExceededException: Subscriber limit exceeded' }] } },
      { metadata: { name: 'u1', annotations: { 'crossplane.io/external-name': 'users-demo' } }, spec: { forProvider: {} }, status: { conditions: ready } },
    ];
    e.xrd = 'missing';
    const report = analyze(e);
    const claim = report.findings.find((f) => f.id === 'table-creation/claim-not-ready/demo-dynamodb');
    expect(claim?.title).toMatch(/quota or throughput/);
    expect(claim?.fix).toEqual({ runbook: 'recreate-claim' });
    expect(ids(e)).toEqual(expect.arrayContaining(['table-creation/name-conflict/users-demo', 'table-creation/xrd-missing']));
  });

  it('a claim creating its tables for a few minutes is info; past the grace, or with an error from Crossplane, it is stuck', () => {
    const e = healthy();
    e.claim!.metadata.creationTimestamp = '2026-12-02T11:58:00Z';
    e.claim!.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'Creating' }] };
    const id = 'table-creation/claim-not-ready/demo-dynamodb';
    expect(analyze(e).findings.find((f) => f.id === id)).toMatchObject({ severity: 'info', title: expect.stringContaining('still creating') as unknown });
    // Crossplane's own progress message is not an error.
    e.claim!.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'Waiting', message: 'Claim is waiting for composite resource to become Ready' }] };
    expect(analyze(e).findings.find((f) => f.id === id)?.severity).toBe('info');
    e.claim!.metadata.creationTimestamp = '2026-12-02T11:50:00Z';
    expect(analyze(e).findings.find((f) => f.id === id)).toMatchObject({ severity: 'error', fix: { runbook: 'recreate-claim' } });
    e.claim!.metadata.creationTimestamp = '2026-12-02T11:59:00Z';
    e.claim!.status.conditions!.push({ type: 'Synced', status: 'False', reason: 'ReconcileError', message: 'cannot resolve composition: Composition.apiextensions.crossplane.io "x" not found' });
    expect(analyze(e).findings.find((f) => f.id === id)?.severity).toBe('error');
  });

  it('Argo CD: OutOfSync with its drifted resources, a wrong path, a failed sync', () => {
    const e = healthy();
    e.application!.status!.sync = { status: 'OutOfSync' };
    e.application!.status!.resources = [{ kind: 'ConfigMap', name: CONFIG_MAP, namespace: 'demo', status: 'OutOfSync' }];
    e.application!.spec.syncPolicy = undefined;
    expect(analyze(e).findings.find((f) => f.id === 'argocd/out-of-sync/virtual-coffee-demo')).toMatchObject({ severity: 'error', fix: { runbook: 'sync' } });
    e.application!.status!.conditions = [{ type: 'ComparisonError', message: 'Failed to load target state: app path does not exist' }];
    e.application!.status!.operationState = { operation: {}, phase: 'Failed', startedAt: NOW, message: 'one or more objects failed to apply' };
    expect(ids(e)).toEqual(expect.arrayContaining(['argocd/wrong-path/virtual-coffee-demo', 'argocd/sync-failed/virtual-coffee-demo']));
    expect(analyze(e).findings.find((f) => f.id === 'argocd/manual-sync/virtual-coffee-demo')?.severity).toBe('info');
  });

  it('pods: unschedulable, image pull, crash loop with its exit code, a missing ConfigMap, an unbound PVC, a deny-all policy', () => {
    const e = healthy();
    e.pods.push(
      pod('p-pending', FRONTEND_DEPLOYMENT, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' }] }),
      pod('p-pull', API_DEPLOYMENT, { phase: 'Pending', containerStatuses: [{ name: 'api', image: 'ghcr.io/x:nope', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } } }] }),
      pod('p-crash', API_DEPLOYMENT, { phase: 'Running', containerStatuses: [{ name: 'api', image: 'i', imageID: '', ready: false, restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 137, reason: 'Error' } } }] }),
    );
    e.deployments[1]!.spec!.template.spec!.volumes = [{ name: 'extra', configMap: { name: 'not-there' } }];
    e.pvcs = [{ metadata: { name: 'data' }, spec: { storageClassName: 'nope' }, status: { phase: 'Pending' } }];
    e.networkPolicies = [{ metadata: { name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }];
    const report = analyze(e);
    expect(ids(e)).toEqual(expect.arrayContaining(['pods/pending-resources/p-pending', 'pods/image-pull/p-pull/api', 'pods/crash-loop/p-crash/api', `pods/missing-config/${FRONTEND_DEPLOYMENT}`, 'pods/pvc-unbound/data', 'pods/network-policy/deny-all']));
    const crash = report.findings.find((f) => f.id === 'pods/crash-loop/p-crash/api');
    expect(crash?.fix).toEqual({ runbook: 'restart', target: 'api' });
    expect(crash?.title).toContain('last exit code 137');
  });

  it('API and authentication: 5xx in the logs, a missing variable, a table not ACTIVE, auth errors, OAuth settings gone', () => {
    const e = healthy();
    e.logs[0]!.lines.push('ERROR POST /api/v1/matches 500 31ms: ProvisionedThroughputExceededException', 'WARN  POST /api/v1/auth/callback 401 8ms');
    e.deployments[0]!.spec!.template.spec!.containers[0]!.env = [{ name: 'INSTANCE', value: 'x' }];
    e.tables[1] = { tableName: 'matches-demo', exists: false };
    e.configMap = { oauth_provider: 'google' };
    expect(ids(e)).toEqual(expect.arrayContaining([`api/server-errors/${API_DEPLOYMENT}`, `api/env-missing/${API_DEPLOYMENT}`, 'api/tables-unavailable/demo', `auth/log-errors/${API_DEPLOYMENT}`, `auth/oauth-settings/${CONFIG_MAP}`]));
    expect(analyze(e).findings.find((f) => f.id === `api/env-missing/${API_DEPLOYMENT}`)?.title).toContain('AWS_REGION, USERS_TABLE');
  });

  it('matching: suspended, the last Job failed with its log tail, a scheduled run missed', () => {
    const e = healthy();
    e.cronJob!.spec!.suspend = true;
    e.cronJob!.spec!.schedule = '0 * * * *';
    const job: V1Job = { metadata: { name: 'manual-matching-1', creationTimestamp: new Date('2026-12-02T10:00:00Z'), annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' } }, status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] } };
    e.jobs = [job];
    e.logs.push({ pod: 'manual-matching-1-x', container: 'matching', previous: false, job: 'manual-matching-1', lines: ['ERROR matching failed'] });
    const report = analyze(e);
    expect(ids(e)).toEqual(expect.arrayContaining([`matching/suspended/${MATCHING_CRONJOB}`, 'matching/job-failed/manual-matching-1', `matching/missed-run/${MATCHING_CRONJOB}`]));
    expect(report.findings.find((f) => f.id === 'matching/job-failed/manual-matching-1')?.evidence.map((x) => x.logLine)).toContain('ERROR matching failed');
    // The fix: a manual run that completed clears both the failed Job and the missed run.
    e.jobs.push({ metadata: { name: 'manual-matching-2', creationTimestamp: new Date('2026-12-02T11:30:00Z'), annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' } }, status: { completionTime: new Date('2026-12-02T11:31:00Z'), conditions: [{ type: 'Complete', status: 'True' }] } });
    expect(ids(e).filter((id) => id.startsWith('matching/'))).toEqual([`matching/suspended/${MATCHING_CRONJOB}`]);
  });

  it('an analyzer that throws on unexpected evidence is reported, and the instance is not called healthy', () => {
    const e = healthy();
    e.deployments = [null as unknown as V1Deployment];
    const report = analyze(e);
    expect(report.failedAnalyzers.map((a) => a.analyzer)).toEqual(expect.arrayContaining(['pods']));
    expect(report.healthy).toBe(false);
  });

  it('one analyzer per guide section of Common Issues', () => {
    expect(Object.keys(ANALYZERS)).toEqual(['aws-credentials', 'table-creation', 'argocd', 'pods', 'api', 'auth', 'matching']);
  });
});

describe('triage of a bundle', () => {
  it('parts a bundle lacks are unknown, never reported missing', () => {
    const report = analyze(evidenceFromBundle('demo', new Map(), NOW));
    expect(report.findings).toEqual([]);
  });

  it('reads the objects the collectors wrote and finds what the live analyzers find', () => {
    const e = healthy();
    const files = new Map<string, string>([
      ['argocd-app.yaml', JSON.stringify({ ...e.application, status: { ...e.application!.status, sync: { status: 'OutOfSync' } } })],
      ['dynamodb-claim.yaml', JSON.stringify(e.claim)],
      ['dynamodb-composite.yaml', JSON.stringify({ composite: null, managedTables: e.managedTables })],
      ['resources.yaml', JSON.stringify({ items: [...e.deployments.map((d) => ({ kind: 'Deployment', ...d })), { kind: 'CronJob', ...e.cronJob }] })],
      ['configmap.yaml', JSON.stringify({ data: { oauth_provider: 'google' } })],
      ['configmap-names.json', JSON.stringify([CONFIG_MAP])],
      ['dynamodb-tables.json', JSON.stringify({ 'users-demo': { TableStatus: 'ACTIVE' } })],
      ['logs/virtual-coffee-api/virtual-coffee-api-abc/api.log', 'ERROR GET /x 503 1ms\n'],
    ]);
    expect(ids(evidenceFromBundle('demo', files, NOW))).toEqual(
      expect.arrayContaining(['argocd/out-of-sync/virtual-coffee-demo', `auth/oauth-settings/${CONFIG_MAP}`, 'api/tables-unavailable/demo', `api/server-errors/${API_DEPLOYMENT}`]),
    );
  });
});

describe('cron schedules', () => {
  it('finds the last time a schedule fired', () => {
    const now = new Date('2026-12-02T12:34:56Z'); // a Wednesday
    expect(previousFireTime('0 9 * * MON', now)?.toISOString()).toBe('2026-11-30T09:00:00.000Z');
    expect(previousFireTime('*/15 * * * *', now)?.toISOString()).toBe('2026-12-02T12:30:00.000Z');
    expect(previousFireTime('@daily', now)?.toISOString()).toBe('2026-12-02T00:00:00.000Z');
    expect(previousFireTime('0 0 1 1 *', now)?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('refuses what is not a five-field schedule', () => {
    expect(() => parseCron('0 9 * *')).toThrow(/five fields/);
    expect(() => parseCron('61 * * * *')).toThrow(/out of range/);
  });
});
