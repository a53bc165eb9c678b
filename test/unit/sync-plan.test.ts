/**
 * The sync runbook's pure planning (common/sync-plan.ts) and the approval guard's rules for its
 * Argo CD writes (activities/destructive.ts): what is synced and pruned, the guide's patch exactly,
 * what is refused. The same against the real controller is in test/sync.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DESTRUCTIVE_RULES } from '../../activities/destructive';
import type { ApplicationSnapshot } from '../../common/rollback';
import { automatedSyncPatch, GUIDE_AUTOMATED_SYNC_PATCH, planSync, syncChange, syncPlannedState, validateSyncInput } from '../../common/sync-plan';

const CURRENT = 'c'.repeat(40);

function app(extra: Partial<ApplicationSnapshot> = {}): ApplicationSnapshot {
  return {
    name: 'virtual-coffee-demo',
    namespace: 'demo',
    resourceVersion: '1',
    desiredRevision: 'main',
    syncedRevision: CURRENT,
    resolvedRevision: CURRENT,
    syncStatus: 'OutOfSync',
    health: 'Healthy',
    history: [],
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

const run = { instance: 'demo', workflowId: 'destructive/demo', runId: 'run-1', requester: 'bob', reason: 'OutOfSync since the outage' };

describe('the sync plan', () => {
  it('syncs the target revision as it stands, pruning only when the sync policy prunes', () => {
    const manual = planSync(app(), 'demo', { enableAutomatedSync: false });
    expect(manual.sync).toMatchObject({ revision: 'main', prune: false });
    expect(manual.hardRefresh).toEqual({ annotation: 'argocd.argoproj.io/refresh', value: 'hard' });
    expect(manual.risks.join('\n')).toMatch(/does not prune/);
    expect(manual.refusals).toEqual([]);
    const automated = planSync(app({ automatedSync: true, prune: true, automatedPolicy: { prune: true, selfHeal: false } }), 'demo', { enableAutomatedSync: false });
    expect(automated.sync.prune).toBe(true);
    expect(automated.automatedSync).toMatchObject({ enable: false, current: { prune: true, selfHeal: false } });
    expect(automated.automatedSync.patch).toBeUndefined();
  });

  it('with enableAutomatedSync shows the guide\'s exact patch and prunes as that policy will', () => {
    const plan = planSync(app(), 'demo', { enableAutomatedSync: true });
    expect(plan.automatedSync.patch).toEqual({ spec: { syncPolicy: { automated: { prune: true, selfHeal: true } } } });
    expect(plan.automatedSync.patch).toEqual(GUIDE_AUTOMATED_SYNC_PATCH);
    expect(plan.sync.prune).toBe(true);
  });

  it('a policy kept with enabled: false gets enabled: true too (a merge patch would leave it off); one already as the guide sets it needs no patch', () => {
    expect(automatedSyncPatch({ prune: false, enabled: false })).toEqual({ spec: { syncPolicy: { automated: { prune: true, selfHeal: true, enabled: true } } } });
    expect(automatedSyncPatch({ prune: true, selfHeal: true })).toBeUndefined();
    expect(automatedSyncPatch({ prune: true, selfHeal: false })).toEqual(GUIDE_AUTOMATED_SYNC_PATCH);
    expect(automatedSyncPatch(null)).toEqual(GUIDE_AUTOMATED_SYNC_PATCH);
  });

  it('refuses an Application managed by a parent and one with several sources, naming why', () => {
    const plan = planSync(app({ owners: [{ kind: 'ApplicationSet', name: 'all' }], multiSource: true }), 'demo', { enableAutomatedSync: false });
    expect(plan.refusals).toHaveLength(2);
    expect(plan.refusals[0]).toMatch(/managed by ApplicationSet all .*sync the parent instead/);
    expect(plan.refusals[1]).toMatch(/several sources/);
  });

  it('lists Argo CD\'s errors and an operation in progress as risks', () => {
    const plan = planSync(app({ errors: ['ComparisonError: boom'], operationInProgress: true, lastOperation: { phase: 'Running', startedAt: 'x', message: 'syncing' } }), 'demo', { enableAutomatedSync: false });
    expect(plan.risks.join('\n')).toMatch(/ComparisonError: boom[\s\S]*waits for it to end/);
  });

  it('requests a sync of the revision it keeps, named after the run', () => {
    const plan = planSync(app(), 'demo', { enableAutomatedSync: false });
    expect(syncChange(plan, run)).toEqual({
      instance: 'demo',
      changeId: 'destructive/demo/run-1/sync',
      initiatedBy: 'vcp-runbooks:bob',
      reason: run.reason,
      expectedDesiredRevision: 'main',
      toRevision: 'main',
      requestSyncOf: 'main',
      prune: false,
    });
    expect(syncPlannedState(app())).toEqual({ desiredRevision: 'main', automatedPolicy: null, syncOptions: [], multiSource: false, owners: [] });
  });

  it('validates its input', () => {
    expect(() => validateSyncInput({ instance: 'demo', reason: 'x', options: { requestedBy: { user: 'bob', via: 'test' } } })).toThrow(/reason is required/);
    expect(validateSyncInput({ instance: 'demo', reason: ' fix drift ', options: { requestedBy: { user: 'bob', via: 'test' } } })).toEqual({ reason: 'fix drift', enableAutomatedSync: false });
  });
});

describe('the approval guard on the sync\'s Argo CD writes', () => {
  const plan = planSync(app(), 'demo', { enableAutomatedSync: true });
  const change = syncChange(plan, run);

  it('the sync request: only the target revision, unchanged, pruning only as planned', () => {
    const outside = (c: typeof change, p: unknown = plan) => DESTRUCTIVE_RULES.setDesiredRevision.outsidePlan(p, c);
    expect(outside(change)).toBeUndefined();
    expect(outside({ ...change, toRevision: CURRENT })).toMatch(/keeps the target revision main/);
    expect(outside({ ...change, requestSyncOf: CURRENT })).toMatch(/syncs main, not c{40}/);
    expect(outside(change, planSync(app(), 'demo', { enableAutomatedSync: false }))).toBe('the approved plan does not prune');
    expect(outside({ ...change, instance: 'other' })).toMatch(/not virtual-coffee-other/);
  });

  it('the hard refresh and the automated-sync patch: only the Application planned, only the patch planned', () => {
    expect(DESTRUCTIVE_RULES.requestHardRefresh.outsidePlan(plan, { instance: 'demo' })).toBeUndefined();
    expect(DESTRUCTIVE_RULES.requestHardRefresh.outsidePlan(plan, { instance: 'other' })).toMatch(/not virtual-coffee-other/);
    const enable = (p: unknown, input: Parameters<typeof DESTRUCTIVE_RULES.enableAutomatedSync.outsidePlan>[1]) => DESTRUCTIVE_RULES.enableAutomatedSync.outsidePlan(p, input);
    expect(enable(plan, { instance: 'demo', expected: null, automated: { prune: true, selfHeal: true } })).toBeUndefined();
    expect(enable(plan, { instance: 'demo', expected: null, automated: { prune: false, selfHeal: true } })).toMatch(/sets automated/);
    expect(enable(planSync(app(), 'demo', { enableAutomatedSync: false }), { instance: 'demo', expected: null, automated: { prune: true, selfHeal: true } })).toMatch(/does not change automated sync/);
    expect(enable({ application: 'virtual-coffee-demo' }, { instance: 'demo', expected: null, automated: {} })).toMatch(/not a sync/);
  });
});
