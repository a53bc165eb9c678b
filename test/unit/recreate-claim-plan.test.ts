/**
 * recreate-claim's pure planning (common/recreate-claim-plan.ts) and the approval guard's rules for its
 * claim writes: refused when any table holds an item (pointing to recover-dynamodb), why the claim is
 * stuck, what each table becomes. The same on real Crossplane is in test/recreate-claim.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DESTRUCTIVE_RULES } from '../../activities/destructive';
import type { ClaimInfo, TableSnapshot } from '../../common/dynamodb-backup';
import { buildRecreateClaimPlan, notEmptyRefusal, stuckReasons } from '../../common/recreate-claim-plan';

const platform = ['users-demo', 'matches-demo', 'feedback-demo'];
const managed = (tableName: string, deletionPolicy: 'Delete' | 'Orphan' = 'Delete') => ({ name: `demo-dynamodb-x-${tableName}`, tableName, deletionPolicy });
const snapshot = (tableName: string, itemCount: number, exists = true, status = 'ACTIVE'): TableSnapshot => (exists ? { tableName, exists, status, itemCount } : { tableName, exists });

function claim(extra: Partial<ClaimInfo> = {}): ClaimInfo {
  return {
    name: 'demo-dynamodb',
    namespace: 'demo',
    uid: 'uid-1',
    resourceVersion: '1',
    spec: { parameters: { instance: 'demo' } },
    labels: { a: 'b' },
    conditions: [
      { type: 'Synced', status: 'True' },
      { type: 'Ready', status: 'True' },
    ],
    composite: { name: 'demo-dynamodb-x' },
    managedTables: platform.map((t) => managed(t)),
    ...extra,
  };
}

const facts = (c: ClaimInfo, snapshots: TableSnapshot[]) => ({
  instance: 'demo',
  claim: c,
  owned: platform,
  snapshots,
  writers: { apiDeployment: { name: 'virtual-coffee-api', replicas: 2 }, cronJob: { name: 'virtual-coffee-matching-cronjob', suspended: false } },
  app: { name: 'virtual-coffee-demo', automatedSync: true, selfHeal: true },
});

describe('the recreate-claim plan', () => {
  it('plans the delete and recreate of a claim whose tables are empty, from its spec, with the writers stopped', () => {
    const plan = buildRecreateClaimPlan(facts(claim(), platform.map((t) => snapshot(t, 0))));
    expect(plan.refusals).toEqual([]);
    expect(plan.claim).toMatchObject({ uid: 'uid-1', action: 'delete-and-recreate', spec: { parameters: { instance: 'demo' } }, labels: { a: 'b' } });
    expect(plan.tables.map((t) => [t.tableName, t.items, t.onDelete])).toEqual(platform.map((t) => [t, 0, 'deleted with the claim']));
    expect(plan.writers).toMatchObject({ quiesce: true, apiDeployment: { replicas: 2 } });
    expect(plan.autoSync.pausedDuringRun).toBe(true);
    expect(plan.stuck).toEqual([expect.stringMatching(/nothing looks stuck/)]);
  });

  it('refuses when any table holds even one item, naming it and recover-dynamodb', () => {
    const plan = buildRecreateClaimPlan(facts(claim(), [snapshot('users-demo', 0), snapshot('matches-demo', 1), snapshot('feedback-demo', 0)]));
    expect(plan.refusals).toHaveLength(1);
    expect(plan.refusals[0]).toMatch(/^matches-demo holds 1 item: .*runbook recover-dynamodb demo$/);
    expect(notEmptyRefusal('demo', [{ tableName: 'users-demo', items: 3 }, { tableName: 'feedback-demo' }])).toMatch(/^users-demo holds 3 items, feedback-demo holds items:/);
  });

  it('refuses what a delete and recreate could not finish or give back (the recovery\'s checks)', () => {
    const plan = buildRecreateClaimPlan(facts(claim({ deletionBlockers: ['claim is paused'] }), platform.map((t) => snapshot(t, 0))));
    expect(plan.refusals).toEqual([expect.stringMatching(/cannot be deleted and recreated safely: claim is paused/)]);
  });

  it('says why the claim is stuck: its conditions, its Tables\', tables missing or not ACTIVE; missing tables are allowed', () => {
    const stuck = claim({
      conditions: [{ type: 'Ready', status: 'False', reason: 'Creating' }],
      managedTableStatus: [{ name: 'demo-dynamodb-x-users', tableName: 'users-demo', conditions: [{ type: 'Synced', status: 'False', reason: 'ReconcileError', message: 'create failed: ResourceInUseException' }] }],
    });
    const snapshots = [snapshot('users-demo', 0, false), snapshot('matches-demo', 0, true, 'CREATING'), snapshot('feedback-demo', 0)];
    expect(stuckReasons(stuck, snapshots)).toEqual([
      'claim Ready=False (Creating)',
      'Table demo-dynamodb-x-users (users-demo) Synced=False (ReconcileError): create failed: ResourceInUseException',
      'table users-demo does not exist',
      'table matches-demo is CREATING',
    ]);
    const plan = buildRecreateClaimPlan(facts(stuck, snapshots));
    expect(plan.refusals).toEqual([]);
    expect(plan.tables[0]).toMatchObject({ tableName: 'users-demo', exists: false, onDelete: 'missing' });
  });

  it('names a table taken over from a same-named table with other keys (the guide\'s name conflict)', () => {
    const taken = claim({ managedTableStatus: [{ name: 'demo-dynamodb-x-users', tableName: 'users-demo', conditions: [{ type: 'Ready', status: 'True' }], keySchema: [{ attributeName: 'user_id', keyType: 'HASH' }] }] });
    const definition = { keySchema: [{ AttributeName: 'id', KeyType: 'HASH' as const }] } as TableSnapshot['definition'];
    const snapshots = [{ ...snapshot('users-demo', 0), definition }, snapshot('matches-demo', 0), snapshot('feedback-demo', 0)];
    expect(stuckReasons(taken, snapshots)).toEqual([expect.stringMatching(/^table users-demo has key id HASH, but its Table demo-dynamodb-x-users wants user_id HASH: .*name conflict/)]);
    expect(stuckReasons(taken, [{ ...snapshot('users-demo', 0), definition: { keySchema: [{ AttributeName: 'user_id', KeyType: 'HASH' }] } as TableSnapshot['definition'] }])).toEqual([]);
  });

  it('a table its Table orphans stays in place (empty), for the recreated claim to take over', () => {
    const plan = buildRecreateClaimPlan(facts(claim({ managedTables: platform.map((t) => managed(t, 'Orphan')) }), platform.map((t) => snapshot(t, 0))));
    expect(plan.tables.map((t) => t.onDelete)).toEqual(['left in place (empty)', 'left in place (empty)', 'left in place (empty)']);
  });
});

describe('the approval guard on recreate-claim\'s claim writes', () => {
  const plan = buildRecreateClaimPlan(facts(claim(), platform.map((t) => snapshot(t, 0))));
  const guard = (name: string, workflowType: string) => {
    const rule = DESTRUCTIVE_RULES[name as keyof typeof DESTRUCTIVE_RULES];
    return rule.workflowTypes.includes(workflowType);
  };

  it('recreate-claim may pause sync, stop the writers, delete only an empty claim and recreate it; never the backed-up delete or an import', () => {
    for (const name of ['pauseAutomatedSync', 'quiesceWriters', 'deleteEmptyDynamoDbClaim', 'createDynamoDbClaim']) expect(guard(name, 'recreateClaim'), name).toBe(true);
    for (const name of ['deleteDynamoDbClaim', 'deleteOrphanedTable', 'importBackupSegment', 'setDesiredRevision']) expect(guard(name, 'recreateClaim'), name).toBe(false);
    expect(guard('deleteEmptyDynamoDbClaim', 'dynamodbRecovery')).toBe(false);
  });

  it('deletes only the planned claim and recreates exactly the planned spec', () => {
    expect(DESTRUCTIVE_RULES.deleteEmptyDynamoDbClaim.outsidePlan(plan, { instance: 'demo', uid: 'uid-1' })).toBeUndefined();
    expect(DESTRUCTIVE_RULES.deleteEmptyDynamoDbClaim.outsidePlan(plan, { instance: 'demo', uid: 'uid-2' })).toMatch(/deletes claim uid-1, not uid-2/);
    expect(DESTRUCTIVE_RULES.createDynamoDbClaim.outsidePlan(plan, { instance: 'demo', spec: { parameters: { instance: 'demo' } } })).toBeUndefined();
    expect(DESTRUCTIVE_RULES.createDynamoDbClaim.outsidePlan(plan, { instance: 'demo', spec: { parameters: { instance: 'demo', deletionPolicy: 'Orphan' } } })).toMatch(/spec differs/);
  });
});
