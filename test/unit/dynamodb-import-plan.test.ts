/** The import's pure planning (common/dynamodb-import-plan.ts): what it reads, what it writes, what it refuses. */
import { describe, expect, it } from 'vitest';
import type { DynamoDbImportInput, MergedTableResult } from '../../common/dynamodb-backup';
import { buildImportPlan, filledSinceApproval, importTargets, mergeLosses, nonEmptyRefusal, validateImport } from '../../common/dynamodb-import-plan';
import { InvalidInputError } from '../../common/instance';

const options = { requestedBy: { user: 'bob', via: 'test' as const } };
const input = (extra: Partial<DynamoDbImportInput> = {}): DynamoDbImportInput => ({ instance: 'demo', from: 's3://backups/dynamodb-backups/prod/1/manifest.json', options, ...extra });
const backup = (instance: string | undefined, ...names: string[]) => ({ instance, tables: names.map((tableName) => ({ tableName, items: 2 })) });
const location = { bucket: 'backups', prefix: 'dynamodb-backups/prod/1', manifestKey: 'dynamodb-backups/prod/1/manifest.json', manifestSha256: 'a'.repeat(64) };

describe('what an import reads and writes', () => {
  it('a manifest may be filtered by target table; a scan file needs exactly one target', () => {
    expect(validateImport(input({ tables: ['users-demo'] }), 'demo')).toMatchObject({ kind: 'manifest', source: { bucket: 'backups' }, tables: ['users-demo'] });
    expect(() => validateImport(input({ from: 's3://backups/uploads/users.json' }), 'demo')).toThrow(/holds one table: name the target with exactly one table/);
    expect(validateImport(input({ from: 's3://backups/uploads/users.json', tables: ['users-demo'] }), 'demo').kind).toBe('scan-file');
    expect(() => validateImport(input({ targetTables: { 'users-prod': 'users-other' } }), 'demo')).toThrow(InvalidInputError);
  });

  it('another instance\'s manifest maps by base name only when allowed, and only into this instance\'s tables', () => {
    const request = validateImport(input(), 'demo');
    expect(() => importTargets(backup('prod', 'users-prod'), input(), request)).toThrow(/is a backup of instance prod, not demo: pass allowOtherInstance/);
    expect(importTargets(backup('prod', 'users-prod', 'matches-prod'), input({ allowOtherInstance: true }), request).map((t) => t.targetTable)).toEqual(['users-demo', 'matches-demo']);
    expect(() => importTargets(backup('demo', 'users-demo', 'legacy'), input(), request)).toThrow(/holds tables that are not demo's \(legacy → legacy\): name the tables to import/);
  });

  it('tables asked for select the targets; none left is refused', () => {
    const request = validateImport(input({ tables: ['matches-demo'] }), 'demo');
    expect(importTargets(backup('demo', 'users-demo', 'matches-demo'), input(), request).map((t) => t.tableName)).toEqual(['matches-demo']);
    expect(() => importTargets(backup('demo', 'users-demo'), input(), request)).toThrow(/holds none of the tables asked for \(matches-demo\)/);
  });
});

describe('the import plan and its refusals', () => {
  const request = validateImport(input(), 'demo');
  const targets = [{ tableName: 'users-demo', targetTable: 'users-demo', items: 5 }, { tableName: 'matches-demo', targetTable: 'matches-demo', items: 3 }];
  const plan = (counts: number[], allowNonEmptyTargets = false) =>
    buildImportPlan({
      input: input({ allowNonEmptyTargets }),
      request,
      location,
      url: 's3://backups/dynamodb-backups/prod/1/manifest.json',
      manifest: { instance: 'demo', createdAt: '2026-01-01T00:00:00Z' },
      targets,
      snapshots: counts.map((itemCount, i) => ({ tableName: targets[i]!.targetTable, exists: true, itemCount })),
    });

  it('pins the manifest by its SHA-256 and says per target what it holds and what is overwritten', () => {
    expect(plan([0, 4])).toMatchObject({
      kind: 'manifest',
      sourceBucket: 'backups',
      manifest: { sha256: 'a'.repeat(64), instance: 'demo' },
      tables: [
        { targetTable: 'users-demo', backupItems: 5, targetItemsBefore: 0, overwritesSameKeyItems: false },
        { targetTable: 'matches-demo', backupItems: 3, targetItemsBefore: 4, overwritesSameKeyItems: true },
      ],
    });
  });

  it('refuses targets holding items unless allowed, and targets filled since the approval', () => {
    expect(nonEmptyRefusal(plan([0, 4]))).toBe('matches-demo holds 4 items: importing would mix data (pass allowNonEmptyTargets to overwrite same-key items)');
    expect(nonEmptyRefusal(plan([0, 4], true))).toBeUndefined();
    expect(nonEmptyRefusal(plan([0, 0]))).toBeUndefined();
    expect(filledSinceApproval(plan([0, 0]), [0, 7])).toMatch(/^matches-demo now holds 7 items, empty when the plan was approved: nothing imported/);
    expect(filledSinceApproval(plan([0, 0]), [0, 0])).toBeUndefined();
    expect(filledSinceApproval(plan([0, 0], true), [0, 7])).toBeUndefined();
  });

  it('an import into tables that held items fails for an item missing or changed, or a table that shrank', () => {
    const result = (extra: Partial<MergedTableResult>): MergedTableResult => ({ tableName: 't', targetTable: 't', backupItems: 3, itemsBefore: 4, itemsAfter: 5, missing: 0, differing: 0, examples: [], ...extra });
    expect(mergeLosses([result({})])).toEqual({ lost: [] });
    expect(mergeLosses([result({ missing: 1, examples: ['id=1'] })]).message).toBe('the import into tables that held items did not keep everything: t: 5 items after, 4 before; 1 backup items missing, 0 differ (id=1)');
    expect(mergeLosses([result({ differing: 1 }), result({ itemsAfter: 3 })]).lost).toHaveLength(2);
  });
});
