/**
 * How the runbooks read Argo CD (common/argocd.ts) and what the Argo CD patch's guard lets through
 * (activities/destructive.ts), on Application objects shaped as the v3.6 controller writes them.
 * Pure code; the same behaviour against the real controller is in test/rollback.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DESTRUCTIVE_RULES } from '../../activities/destructive';
import { assessRollout, snapshotOf, SYNC_CHANGE_INFO } from '../../common/argocd';
import type { DeploymentView } from '../../common/argocd';
import type { Application, OperationState } from '../../common/platform';
import type { RevisionChange } from '../../common/rollback';

const [R1, R2, R3] = ['1'.repeat(40), '2'.repeat(40), '3'.repeat(40)];
const CHANGE = 'destructive/demo/run-1/rollback';
const available: DeploymentView[] = [
  { name: 'virtual-coffee-api', exists: true, available: true },
  { name: 'virtual-coffee-frontend', exists: true, available: true },
];

function ourOperation(phase: OperationState['phase'], extra: Partial<OperationState> = {}): OperationState {
  return {
    operation: { sync: { revision: R2 }, initiatedBy: { username: 'vcp-runbooks:bob' }, info: [{ name: SYNC_CHANGE_INFO, value: CHANGE }] },
    phase,
    startedAt: '2026-12-03T10:00:00Z',
    ...(phase === 'Succeeded' ? { syncResult: { revision: R2 }, finishedAt: '2026-12-03T10:00:01Z' } : {}),
    ...extra,
  };
}

function app(status: Application['status'], extra: Partial<Application> = {}): Application {
  return {
    metadata: { name: 'virtual-coffee-demo', namespace: 'argocd' },
    spec: { project: 'virtual-coffee', destination: { namespace: 'demo' }, source: { repoURL: 'file:///repo', targetRevision: R2 } },
    status: {
      history: [
        { id: 0, revision: R1, deployedAt: '2026-12-01T10:00:00Z' },
        { id: 1, revision: R3, deployedAt: '2026-12-02T10:00:00Z' },
      ],
      ...status,
    },
    ...extra,
  };
}

const expectation = { instance: 'demo', changeId: CHANGE, revision: R2, prune: false };

describe('reading an Application', () => {
  it('what runs is the newest history entry, not status.sync.revision (the resolved target, perhaps never synced)', () => {
    const s = snapshotOf(app({ sync: { status: 'OutOfSync', revision: R2 } }));
    expect(s.syncedRevision).toBe(R3);
    expect(s.resolvedRevision).toBe(R2);
  });

  it('an operation is in progress while requested, running, or retrying after a failure', () => {
    expect(snapshotOf(app({}, { operation: { sync: { revision: R2 } } })).operationInProgress).toBe(true);
    const retrying = snapshotOf(app({ operationState: { ...ourOperation('Running'), retryCount: 1, finishedAt: '2026-12-03T10:00:02Z', message: 'failed. Retrying attempt #1' } }));
    expect(retrying.operationInProgress).toBe(true);
    expect(retrying.lastOperation).toMatchObject({ retryCount: 1, changeId: CHANGE });
    expect(snapshotOf(app({ operationState: ourOperation('Failed') })).operationInProgress).toBe(false);
  });

  it('prunes only with automated sync and prune on', () => {
    expect(snapshotOf(app({})).prune).toBe(false);
    expect(snapshotOf(app({}, { spec: { ...app({}).spec, syncPolicy: { automated: { prune: true } } } })).prune).toBe(true);
    expect(snapshotOf(app({}, { spec: { ...app({}).spec, syncPolicy: { automated: { prune: true, enabled: false } } } })).prune).toBe(false);
  });
});

describe('judging a rollout', () => {
  it('waits while its sync is requested but not started, and fails when the request is gone (dropped or replaced)', () => {
    const pending = app({ operationState: { ...ourOperation('Succeeded'), operation: { sync: { revision: R3 }, initiatedBy: { automated: true } } } }, {
      operation: { sync: { revision: R2 }, info: [{ name: SYNC_CHANGE_INFO, value: CHANGE }] },
    });
    expect(assessRollout(pending, available, expectation)).toMatchObject({ kind: 'waiting', why: 'the requested sync has not started yet' });
    const dropped = app({ operationState: { ...ourOperation('Succeeded'), operation: { sync: { revision: R3 }, initiatedBy: { automated: true } } } });
    expect(assessRollout(dropped, available, expectation)).toMatchObject({ kind: 'failed', type: 'SyncLost' });
  });

  it('after its sync was seen Succeeded, a later automated sync (self-heal) is no lost request: the Application is judged as it is', () => {
    const later = app({
      operationState: { ...ourOperation('Succeeded'), operation: { sync: { revision: R2 }, initiatedBy: { automated: true } } },
      sync: { status: 'Synced', revision: R2 },
      health: { status: 'Healthy' },
    });
    expect(assessRollout(later, available, expectation)).toMatchObject({ kind: 'failed', type: 'SyncLost' });
    expect(assessRollout(later, available, { ...expectation, oursSucceeded: true })).toMatchObject({ kind: 'done', state: { oursSucceeded: true } });
  });

  it('ends with Argo CD\'s reason when its sync fails, errors (a ComparisonError) or retries', () => {
    const errored = app({ operationState: ourOperation('Error', { message: 'ComparisonError: Failed to load target state' }) });
    expect(assessRollout(errored, available, expectation)).toMatchObject({ kind: 'failed', type: 'SyncFailed', message: `sync to ${R2} errored: ComparisonError: Failed to load target state` });
    const retrying = app({ operationState: ourOperation('Running', { retryCount: 2, finishedAt: '2026-12-03T10:00:05Z', message: 'one or more objects failed to apply. Retrying attempt #2' }) });
    expect(assessRollout(retrying, available, expectation)).toMatchObject({ kind: 'failed', message: expect.stringContaining('retrying (attempt 2)') as unknown });
  });

  it('is Degraded only when a Deployment exceeded its progress deadline, not while pods start', () => {
    const progressing = app({ operationState: ourOperation('Succeeded'), sync: { status: 'Synced', revision: R2 }, health: { status: 'Progressing' } });
    const starting: DeploymentView[] = [{ ...available[0]!, available: false }, available[1]!];
    expect(assessRollout(progressing, starting, expectation)).toMatchObject({ kind: 'waiting' });
    const stalled: DeploymentView[] = [{ ...available[0]!, available: false, progressDeadlineExceeded: 'ReplicaSet "x" has timed out progressing.' }, available[1]!];
    expect(assessRollout(progressing, stalled, expectation)).toMatchObject({ kind: 'failed', type: 'Degraded', message: expect.stringContaining('ProgressDeadlineExceeded') as unknown });
  });

  it('is done when Synced, Healthy and available at the revision; OutOfSync only by resources to prune counts when the sync does not prune', () => {
    const synced = app({ operationState: ourOperation('Succeeded'), sync: { status: 'Synced', revision: R2 }, health: { status: 'Healthy' } });
    expect(assessRollout(synced, available, expectation)).toMatchObject({ kind: 'done', state: { leftToPrune: [] } });
    const extra = app({
      operationState: ourOperation('Succeeded'),
      sync: { status: 'OutOfSync', revision: R2 },
      health: { status: 'Healthy' },
      resources: [{ group: 'batch', kind: 'CronJob', name: 'matching', status: 'OutOfSync', requiresPruning: true }],
    });
    expect(assessRollout(extra, available, expectation)).toMatchObject({ kind: 'done', state: { leftToPrune: ['CronJob matching'] } });
    expect(assessRollout(extra, available, { ...expectation, prune: true })).toMatchObject({ kind: 'waiting' });
    // A stale comparison of the previous target is not the revision's.
    const stale = app({ operationState: ourOperation('Succeeded'), sync: { status: 'Synced', revision: R3 }, health: { status: 'Healthy' } });
    expect(assessRollout(stale, available, expectation)).toMatchObject({ kind: 'waiting' });
  });
});

describe('the Argo CD patch guard', () => {
  const plan = { application: 'virtual-coffee-demo', from: { desiredRevision: 'main', syncedRevision: R3 }, to: { revision: R2 }, sync: { prune: false } };
  const change = (extra: Partial<RevisionChange>): RevisionChange => ({
    instance: 'demo',
    changeId: 'c',
    expectedDesiredRevision: 'main',
    toRevision: R2,
    requestSyncOf: R2,
    prune: false,
    initiatedBy: 'x',
    reason: 'y',
    ...extra,
  });
  const outside = (c: RevisionChange, p: unknown = plan) => DESTRUCTIVE_RULES.setDesiredRevision.outsidePlan(p, c);

  it('allows the rollback and its revert, and unpin\'s sync of its branch', () => {
    expect(outside(change({}))).toBeUndefined();
    expect(outside(change({ expectedDesiredRevision: R2, toRevision: 'main', requestSyncOf: R3 }))).toBeUndefined();
    const unpin = { application: 'virtual-coffee-demo', from: R2, to: 'main', prune: true };
    expect(outside(change({ expectedDesiredRevision: R2, toRevision: 'main', requestSyncOf: 'main', prune: true }), unpin)).toBeUndefined();
  });

  it('refuses a sync of a revision outside the plan, and a prune the plan does not do', () => {
    expect(outside(change({ requestSyncOf: R1 }))).toMatch(/the approved plan syncs .* not 1{40}/);
    expect(outside(change({ prune: true }))).toBe('the approved plan does not prune');
  });
});
