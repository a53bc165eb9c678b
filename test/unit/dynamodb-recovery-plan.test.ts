/** The recovery's pure plan building (common/dynamodb-recovery-plan.ts): what it covers, refuses and says. */
import { describe, expect, it } from 'vitest';
import type { ClaimInfo, PlannedSource, TableSnapshot } from '../../common/dynamodb-backup';
import {
  backupTableMapping,
  buildRecoveryPlan,
  describeRecoveryPlan,
  ownedTables,
  requireTablesCoverOwned,
  resumeRefusal,
  specForInstance,
  tablesLeftByClaimDeletion,
  tablesToRestore,
} from '../../common/dynamodb-recovery-plan';
import type { ResumeFacts } from '../../common/dynamodb-recovery-plan';
import { InvalidInputError } from '../../common/instance';

const managed = (tableName: string, deletionPolicy: 'Delete' | 'Orphan' = 'Delete') => ({ name: `demo-dynamodb-x-${tableName}`, tableName, deletionPolicy });
const platform = ['users-demo', 'matches-demo', 'feedback-demo'];
const snapshot = (tableName: string, itemCount: number, exists = true): TableSnapshot => ({ tableName, exists, itemCount: exists ? itemCount : undefined });

function claim(managedTables: ClaimInfo['managedTables']): ClaimInfo {
  return { name: 'demo-dynamodb', namespace: 'demo', uid: 'uid-1', resourceVersion: '1', spec: { parameters: { instance: 'demo' } }, labels: {}, conditions: [], composite: { name: 'demo-dynamodb-x' }, managedTables };
}

function source(tables: [string, number][], extra: Partial<PlannedSource> = {}): PlannedSource {
  return {
    url: 's3://b/dynamodb-backups/demo/1/manifest.json',
    bucket: 'b',
    manifestKey: 'dynamodb-backups/demo/1/manifest.json',
    manifestSha256: 'a'.repeat(64),
    instance: 'demo',
    createdAt: '2026-01-01T00:00:00Z',
    tables: tables.map(([t, items]) => ({ tableName: t, targetTable: t, items, digest: '0'.repeat(64) })),
    ...extra,
  };
}

describe('what a DynamoDB recovery covers', () => {
  it('owns the platform tables in order, then every other managed table, sorted, once', () => {
    expect(ownedTables('demo', [managed('users-demo'), managed('zeta-demo'), managed('audit-demo'), managed('audit-demo')])).toEqual([...platform, 'audit-demo', 'zeta-demo']);
    expect(ownedTables('demo', [], ['extra-demo'])).toEqual([...platform, 'extra-demo']);
  });

  it('refuses `tables` that leave out an owned table, naming them; accepts all of them or none', () => {
    expect(() => requireTablesCoverOwned('demo-dynamodb', ['users-demo'], platform)).toThrow(InvalidInputError);
    expect(() => requireTablesCoverOwned('demo-dynamodb', ['users-demo'], platform)).toThrow(/leaves out matches-demo, feedback-demo: omit tables/);
    expect(() => requireTablesCoverOwned('demo-dynamodb', [...platform].reverse(), platform)).not.toThrow();
    expect(() => requireTablesCoverOwned('demo-dynamodb', undefined, platform)).not.toThrow();
  });

  it('the runbook itself deletes existing tables the claim leaves behind: Orphan policy, or not managed at all', () => {
    const snapshots = [snapshot('users-demo', 3), snapshot('matches-demo', 2), snapshot('feedback-demo', 0, false)];
    expect(tablesLeftByClaimDeletion(platform, snapshots, [managed('users-demo', 'Orphan'), managed('feedback-demo')])).toEqual(['users-demo', 'matches-demo']);
  });

  it('maps another instance\'s backup tables by base name only when allowed', () => {
    expect(backupTableMapping('demo', 'demo', false, 'x')('users-demo')).toBe('users-demo');
    expect(() => backupTableMapping('prod', 'demo', false, 's3://b/m.json')).toThrow(/s3:\/\/b\/m\.json is a backup of instance prod, not demo: pass allowOtherInstance/);
    expect(() => backupTableMapping(undefined, 'demo', false, 'x')).toThrow(/does not say which instance/);
    expect(backupTableMapping('prod', 'demo', true, 'x')('users-prod')).toBe('users-demo');
    expect(() => backupTableMapping('prod', 'demo', true, 'x')('legacy')).toThrow(/not named <base>-prod/);
    expect(specForInstance({ parameters: { instance: 'prod', region: 'r' }, x: 1 }, 'demo')).toEqual({ parameters: { instance: 'demo', region: 'r' }, x: 1 });
  });
});

describe('when a resume may write', () => {
  const full = source([['users-demo', 5], ['matches-demo', 2], ['feedback-demo', 1]]);
  const facts = (extra: Partial<ResumeFacts>): ResumeFacts => ({ instance: 'demo', source: full, expectedTables: platform, restoreFinished: false, snapshots: [], ...extra });
  const recreated = { name: 'demo-dynamodb', uid: 'uid-2', restoredFrom: { manifest: full.url, sha256: full.manifestSha256 } };

  it('the claim is gone, or is the claim a recovery from this very backup recreated, unfinished', () => {
    expect(resumeRefusal(facts({}))).toBeUndefined();
    expect(resumeRefusal(facts({ liveClaim: recreated, snapshots: [snapshot('users-demo', 3)] }))).toBeUndefined();
  });

  it('refuses a live claim not recreated from this backup (no annotation, other URL or other SHA-256)', () => {
    expect(resumeRefusal(facts({ liveClaim: { name: 'demo-dynamodb', uid: 'uid-1' } }))).toMatch(/exists and was not recreated by a recovery from .*: resuming would import old items over live data/);
    expect(resumeRefusal(facts({ liveClaim: { ...recreated, restoredFrom: { manifest: full.url, sha256: 'b'.repeat(64) } } }))).toMatch(/was not recreated/);
    expect(resumeRefusal(facts({ liveClaim: { ...recreated, restoredFrom: { manifest: 's3://b/other/manifest.json', sha256: full.manifestSha256 } } }))).toMatch(/was not recreated/);
  });

  it('refuses after the restore finished, a backup lacking an owned table, and a table holding more than its backup', () => {
    expect(resumeRefusal(facts({ liveClaim: recreated, restoreFinished: true }))).toMatch(/already finished/);
    expect(resumeRefusal(facts({ source: source([['users-demo', 5]]) }))).toMatch(/has no backup of matches-demo, feedback-demo, which the recreated claim owns/);
    expect(resumeRefusal(facts({ liveClaim: recreated, snapshots: [snapshot('users-demo', 6)] }))).toMatch(/users-demo holds 6 items, more than the 5 of its backup/);
  });
});

describe('the recovery plan', () => {
  const base = {
    instance: 'demo',
    owned: [...platform, 'audit-demo'],
    writers: { apiDeployment: { name: 'api', replicas: 2 } },
    app: { name: 'virtual-coffee-demo', automatedSync: true, selfHeal: true },
    quiesce: true,
    confirmAfterBackup: false,
    backup: { bucket: 'b', prefix: 'p' },
  };

  it('lists every owned table with its items, who deletes it, and that it is restored', () => {
    const plan = buildRecoveryPlan({
      ...base,
      claim: claim([managed('users-demo'), managed('matches-demo'), managed('feedback-demo', 'Orphan'), managed('audit-demo')]),
      snapshots: [snapshot('users-demo', 10), snapshot('matches-demo', 4), snapshot('feedback-demo', 3), snapshot('audit-demo', 7)],
    });
    expect(plan.tables.map((t) => [t.tableName, t.items, t.deletedBy, t.restored, t.deletionPolicy])).toEqual([
      ['users-demo', 10, 'claim', true, 'Delete'],
      ['matches-demo', 4, 'claim', true, 'Delete'],
      ['feedback-demo', 3, 'runbook', true, 'Orphan'],
      ['audit-demo', 7, 'claim', true, 'Delete'],
    ]);
    expect(plan).toMatchObject({ totalItems: 24, orphanedTablesToDelete: ['feedback-demo'], claim: { action: 'delete-and-recreate', deletionPolicy: 'mixed', spec: { parameters: { instance: 'demo' } } } });
  });

  it('a resume deletes nothing and names its source and the spec it recreates', () => {
    const resumeSource = source([['users-demo', 5], ['matches-demo', 2], ['feedback-demo', 1]]);
    const plan = buildRecoveryPlan({
      ...base,
      owned: platform,
      claim: claim([]),
      snapshots: platform.map((t) => snapshot(t, 0, false)),
      resume: { url: resumeSource.url, source: resumeSource, claimAction: 'recreate', spec: { parameters: { instance: 'demo' } } },
    });
    expect(plan.tables.map((t) => [t.tableName, t.deletedBy, t.backupItems])).toEqual([['users-demo', 'none', 5], ['matches-demo', 'none', 2], ['feedback-demo', 'none', 1]]);
    expect(plan).toMatchObject({ orphanedTablesToDelete: [], resumeFrom: resumeSource.url, source: { manifestSha256: 'a'.repeat(64), bucket: 'b' }, claim: { action: 'recreate' } });
  });

  it('says in one line what it backs up, deletes and restores, or what it resumes from', () => {
    const fresh = buildRecoveryPlan({ ...base, owned: platform, claim: claim([managed('users-demo')]), snapshots: [snapshot('users-demo', 10), snapshot('matches-demo', 4), snapshot('feedback-demo', 0)] });
    expect(describeRecoveryPlan(fresh)).toBe(`Back up 14 items in 3 tables (${platform.join(', ')}), delete and recreate demo-dynamodb, restore all of them; expected write downtime ~${fresh.expectedWriteDowntimeSeconds}s`);
    const from = source([['users-demo', 5], ['matches-demo', 2], ['feedback-demo', 1]]);
    const resume = buildRecoveryPlan({ ...base, owned: platform, claim: claim([]), snapshots: [], resume: { url: from.url, source: from, claimAction: 'keep', spec: {} } });
    expect(describeRecoveryPlan(resume)).toBe(`Resume from ${from.url} (SHA-256 ${'a'.repeat(64)}): keep the claim, import 3 tables, verify`);
  });
});

describe('what a recovery restores from its backup', () => {
  const backup = (...names: string[]) => names.map((tableName) => ({ tableName, items: 1 }));

  it('every owned table the backup holds, under its own name; tables the claim does not own stay out', () => {
    expect(tablesToRestore(backup('users-demo', 'matches-demo', 'legacy-demo'), ['users-demo', 'matches-demo'])).toEqual({
      tables: [{ tableName: 'users-demo', items: 1, targetTable: 'users-demo' }, { tableName: 'matches-demo', items: 1, targetTable: 'matches-demo' }],
      absent: [],
    });
  });

  it('another instance\'s backup goes into the tables the plan mapped it to', () => {
    const mapped = [{ tableName: 'users-prod', targetTable: 'users-demo' }];
    expect(tablesToRestore(backup('users-prod'), ['users-demo'], mapped).tables).toEqual([{ tableName: 'users-prod', items: 1, targetTable: 'users-demo' }]);
  });

  it('names each owned table the backup lacks, so the run refuses before deleting what it could not restore', () => {
    expect(tablesToRestore(backup('users-demo'), platform).absent).toEqual(['matches-demo', 'feedback-demo']);
  });
});
