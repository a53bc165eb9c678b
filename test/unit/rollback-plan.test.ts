/**
 * The rollback's and unpin's pure planning (common/rollback.ts, common/rollback-plan.ts): the target
 * planned from what ran, what is refused, and the exact Argo CD change each step requests.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../common/instance';
import { APPLICATION_ANNOTATIONS, plannedState, planRollback } from '../../common/rollback';
import type { ApplicationSnapshot } from '../../common/rollback';
import { planUnpin, revertChange, rollbackChange, unpinChange } from '../../common/rollback-plan';

const [OLDEST, PREVIOUS, CURRENT] = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)];

function app(extra: Partial<ApplicationSnapshot> = {}): ApplicationSnapshot {
  return {
    name: 'virtual-coffee-demo',
    namespace: 'demo',
    resourceVersion: '1',
    desiredRevision: 'main',
    syncedRevision: CURRENT,
    syncStatus: 'Synced',
    health: 'Healthy',
    history: [
      { id: 1, revision: OLDEST, deployedAt: '2026-01-01T00:00:00Z' },
      { id: 2, revision: PREVIOUS, deployedAt: '2026-01-02T00:00:00Z' },
      { id: 3, revision: CURRENT, deployedAt: '2026-01-03T00:00:00Z' },
    ],
    automatedSync: false,
    selfHeal: false,
    prune: false,
    syncOptions: [],
    multiSource: false,
    owners: [],
    errors: [],
    operationInProgress: false,
    ...extra,
  };
}

const run = { instance: 'demo', workflowId: 'destructive/demo', runId: 'run-1', requester: 'bob', reason: '5xx after deploy' };

describe('the rollback plan', () => {
  it('"previous" is the newest history entry other than what runs; a commit prefix names its entry', () => {
    expect(planRollback(app(), 'previous').to).toEqual({ revision: PREVIOUS, historyId: 2, deployedAt: '2026-01-02T00:00:00Z' });
    expect(planRollback(app(), 'aaaaaaa').to.revision).toBe(OLDEST);
    expect(planRollback(app({ syncedRevision: PREVIOUS }), 'previous').to.revision).toBe(CURRENT);
  });

  it('refuses a revision outside the history and the one that runs, naming what it knows', () => {
    expect(() => planRollback(app(), 'd'.repeat(40))).toThrow(InvalidInputError);
    expect(() => planRollback(app(), 'd'.repeat(40))).toThrow(/is not in virtual-coffee-demo's deployment history \(known: aaaaaaaaaaaa, bbbbbbbbbbbb, cccccccccccc\)/);
    expect(() => planRollback(app(), CURRENT)).toThrow(/already runs/);
  });

  it('an Application managed by a parent or with several sources is refused unless accepted, and the risk stays listed', () => {
    const owned = app({ owners: [{ kind: 'ApplicationSet', name: 'all' }], multiSource: true });
    expect(planRollback(owned, 'previous').refusals).toHaveLength(2);
    const accepted = planRollback(owned, 'previous', { owned: true, multiSource: true });
    expect(accepted.refusals).toEqual([]);
    expect(accepted.risks.join('\n')).toMatch(/owned by ApplicationSet all[\s\S]*several sources/);
  });
});

describe('the changes rollback, revert and unpin request', () => {
  const plan = planRollback(app(), 'previous');

  it('the rollback sets and syncs the planned commit, and remembers the branch it replaced', () => {
    expect(rollbackChange(plan, run, false)).toEqual({
      instance: 'demo',
      changeId: 'destructive/demo/run-1/rollback',
      expectedDesiredRevision: 'main',
      toRevision: PREVIOUS,
      requestSyncOf: PREVIOUS,
      prune: false,
      initiatedBy: 'vcp-runbooks:bob',
      reason: '5xx after deploy',
      annotations: { [APPLICATION_ANNOTATIONS.pinnedFrom]: 'main', [APPLICATION_ANNOTATIONS.pinnedBy]: 'destructive/demo' },
    });
  });

  it('an Application already pinned keeps the branch it was pinned from', () => {
    expect(rollbackChange(plan, run, true).annotations).toEqual({ [APPLICATION_ANNOTATIONS.pinnedBy]: 'destructive/demo' });
  });

  it('the revert goes back to the branch but syncs what ran before, not the branch head', () => {
    expect(revertChange(plan, run, 'sync failed')).toMatchObject({
      changeId: 'destructive/demo/run-1/revert',
      expectedDesiredRevision: PREVIOUS,
      toRevision: 'main',
      requestSyncOf: CURRENT,
      reason: 'revert: sync failed (5xx after deploy)',
      annotations: { [APPLICATION_ANNOTATIONS.pinnedFrom]: null, [APPLICATION_ANNOTATIONS.pinnedBy]: null },
    });
    const neverSynced = planRollback(app({ syncedRevision: undefined, history: app().history.slice(0, 2) }), 'previous');
    expect(revertChange(neverSynced, run, 'x').requestSyncOf).toBe('main');
  });

  it('unpin follows the recorded branch again, or the one named; only an Application pinned to a commit', () => {
    const pinned = app({ desiredRevision: PREVIOUS, pinnedFrom: 'main', prune: true });
    const unpinPlan = planUnpin(pinned, undefined);
    expect(unpinPlan).toEqual({ application: 'virtual-coffee-demo', from: PREVIOUS, to: 'main', prune: true, planned: plannedState(pinned) });
    expect(unpinChange(unpinPlan, run)).toMatchObject({ changeId: 'destructive/demo/run-1/unpin', expectedDesiredRevision: PREVIOUS, toRevision: 'main', requestSyncOf: 'main', prune: true });
    expect(planUnpin(pinned, 'release/2').to).toBe('release/2');
    expect(() => planUnpin(app({ desiredRevision: PREVIOUS }), undefined)).toThrow(/was not pinned by a rollback runbook; say which branch/);
    expect(() => planUnpin(pinned, OLDEST)).toThrow(/is not a branch name/);
    expect(() => planUnpin(app(), 'main')).toThrow(/is not pinned: it follows main/);
  });
});
