/** The restore drill's pure parts (common/dynamodb-drill.ts): scratch names and their guard, which backup, what CreateTable gets. */
import { describe, expect, it } from 'vitest';
import type { TableDefinition } from '../../common/dynamodb-backup';
import { backupIdOf, drillManifestUrl, drillMismatches, drillRunTag, scratchTableName, scratchTableRefusal, scratchTableSpec } from '../../common/dynamodb-drill';
import { InvalidInputError, instanceTableNames } from '../../common/instance';

// Two UUIDv7 run IDs started in the same millisecond: the first 12 hex digits are equal.
const runA = '01a23d0e-93d7-7abc-8def-0123456789ab';
const runB = '01a23d0e-93d7-7abc-8def-ba9876543210';

describe('scratch tables', () => {
  it('are named drill-<random part of the run ID>-<table>, distinct for two runs started together', () => {
    expect(drillRunTag(runA)).toBe('0123456789ab');
    expect(drillRunTag(runA)).not.toBe(drillRunTag(runB));
    expect(scratchTableName(runA, 'users-demo', 0)).toBe('drill-0123456789ab-users-demo');
    expect(() => drillRunTag('dead-beef')).toThrow(InvalidInputError);
  });

  it('stay within 255 characters, and two long names of one backup do not collide', () => {
    const long = (c: string) => `${c.repeat(250)}-x`;
    const a = scratchTableName(runA, long('a'), 0);
    const b = scratchTableName(runA, long('a').replace(/x$/, 'y'), 1);
    expect(a.length).toBe(255);
    expect(b.length).toBe(255);
    expect(a).not.toBe(b);
    expect(scratchTableRefusal(a, runA, 'demo')).toBeUndefined();
  });

  it('the guard accepts only this run\'s scratch names: never an instance table, another run\'s scratch table, or a bare prefix', () => {
    for (const table of instanceTableNames('demo')) {
      expect(scratchTableRefusal(scratchTableName(runA, table, 0), runA, 'demo')).toBeUndefined();
      expect(scratchTableRefusal(table, runA, 'demo')).toMatch(/is not a scratch table of this drill \(drill-0123456789ab-…\)/);
    }
    expect(scratchTableRefusal(scratchTableName(runB, 'users-demo', 0), runA, 'demo')).toMatch(/not a scratch table of this drill/);
    expect(scratchTableRefusal('drill-0123456789ab-', runA, 'demo')).toMatch(/not a scratch table/);
    expect(scratchTableRefusal('drill-0123456789ab-bad name', runA, 'demo')).toMatch(/is not a DynamoDB table name/);
    // An instance named so that one of its tables carries the run's prefix is still refused.
    expect(scratchTableRefusal('users-x', runA, 'x')).toMatch(/not a scratch table/);
  });
});

describe('which backup a drill restores', () => {
  it('a backup ID is a folder under the instance\'s prefix in the backup bucket; a URL is taken as it is', () => {
    expect(drillManifestUrl('demo', '20261203T174400Z-0193abcd', 'backups')).toEqual({ bucket: 'backups', key: 'dynamodb-backups/demo/20261203T174400Z-0193abcd/manifest.json' });
    expect(drillManifestUrl('demo', 's3://other/x/manifest.json', 'backups')).toEqual({ bucket: 'other', key: 'x/manifest.json' });
    expect(() => drillManifestUrl('demo', '../prod/x', 'backups')).toThrow(/neither an s3:\/\/ manifest URL nor a backup ID/);
    expect(backupIdOf('dynamodb-backups/demo/20261203T174400Z-0193abcd/manifest.json')).toBe('20261203T174400Z-0193abcd');
  });
});

describe('the scratch table\'s definition', () => {
  const captured: TableDefinition = {
    tableName: 'users-demo',
    keySchema: [{ AttributeName: 'user_id', KeyType: 'HASH' }],
    attributeDefinitions: [
      { AttributeName: 'user_id', AttributeType: 'S' },
      { AttributeName: 'email', AttributeType: 'S' },
    ],
    billingMode: 'PROVISIONED',
    provisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
    globalSecondaryIndexes: [{ IndexName: 'email-index', KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' }, ProvisionedThroughput: { ReadCapacityUnits: 5 } }],
    localSecondaryIndexes: [],
    stream: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    timeToLive: { status: 'ENABLED', attributeName: 'expires' },
    pointInTimeRecovery: { status: 'ENABLED' },
    tags: [{ Key: 'cost-center', Value: 'coffee' }],
  };

  it('has the captured keys and indexes, on-demand, no stream, no source tags: tagged as the drill\'s', () => {
    expect(scratchTableSpec(captured, 'drill-0123456789ab-users-demo', { instance: 'demo', runId: runA })).toEqual({
      TableName: 'drill-0123456789ab-users-demo',
      KeySchema: captured.keySchema,
      AttributeDefinitions: captured.attributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
      GlobalSecondaryIndexes: [{ IndexName: 'email-index', KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } }],
      Tags: [
        { Key: 'vcp-runbooks/drill-of', Value: 'demo' },
        { Key: 'vcp-runbooks/drill-run', Value: runA },
        { Key: 'vcp-runbooks/source-table', Value: 'users-demo' },
      ],
    });
  });
});

describe('what fails a drill', () => {
  it('a count or a digest that differs from the manifest, in words naming the table', () => {
    const t = { tableName: 'users-demo', scratchTable: 'drill-x-users-demo', expectedItems: 100_000, expectedDigest: 'a'.repeat(64) };
    expect(drillMismatches([{ ...t, restoredItems: 100_000, restoredDigest: 'a'.repeat(64) }])).toEqual([]);
    expect(drillMismatches([{ ...t, restoredItems: 99_563, restoredDigest: 'b'.repeat(64) }])).toEqual([
      `users-demo restored 99563 of 100000 items into drill-x-users-demo, item digest ${'b'.repeat(64)} differs from the manifest's ${'a'.repeat(64)}`,
    ]);
    expect(drillMismatches([t])).toEqual(['users-demo restored ? of 100000 items into drill-x-users-demo']);
  });
});
