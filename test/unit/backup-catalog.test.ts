/**
 * The backup catalog and retention's pure parts (common/backup-catalog.ts) under a simulated clock:
 * what an entry says of a backup folder, which backups running workflows use, and which expire. Each
 * protection has a case that deletes the backup if the protection is removed.
 */
import { describe, expect, it } from 'vitest';
import { backupIdParts, backupsInUse, catalogEntry, selectForRetention, validateRetentionPolicy } from '../../common/backup-catalog';
import type { BackupEntry, BackupFolder, BackupUse, RetentionPolicy } from '../../common/backup-catalog';
import { backupPrefix, DRILL_FORMAT, VERIFICATION_FORMAT } from '../../common/dynamodb-backup';
import type { BackupManifest, DrillRecord } from '../../common/dynamodb-backup';
import { InvalidInputError } from '../../common/instance';

const BUCKET = 'vcp-backups';
const INSTANCE = 'demo';
const NOW = new Date('2026-12-10T12:00:00Z');
const DAY = 24 * 60 * 60 * 1000;

function idAt(daysAgo: number, runId: string): string {
  return backupPrefix(INSTANCE, runId, new Date(NOW.getTime() - daysAgo * DAY)).split('/').pop()!;
}

function manifestFor(id: string, extra: Partial<BackupManifest> = {}): BackupManifest {
  const prefix = `dynamodb-backups/${INSTANCE}/${id}`;
  return {
    format: 'vcp-runbooks/dynamodb-backup/v1',
    instance: INSTANCE,
    createdAt: backupIdParts(id)!.startedAt,
    createdBy: { workflowId: `dynamodb-export/${INSTANCE}/x`, runId: backupIdParts(id)!.runId },
    bucket: BUCKET,
    prefix,
    tables: [
      {
        tableName: `users-${INSTANCE}`,
        definition: {} as never,
        items: 3,
        digest: 'd1',
        segments: [{ segment: 0, totalSegments: 1, chunks: [{ key: `${prefix}/c1`, items: 3, bytes: 100, sha256: 's' }], items: 3, digest: 'd1', itemsReadByLastAttempt: 3, resumedFromItems: 0, attempts: 1 }],
      },
    ],
    ...extra,
  };
}

/** A backup `daysAgo` old: verified unless said otherwise. */
function folder(daysAgo: number, runId: string, opts: { verified?: boolean; incomplete?: boolean; manifest?: Partial<BackupManifest>; restoreRecords?: number } = {}): BackupFolder {
  const id = idAt(daysAgo, runId);
  if (opts.incomplete) return { id, objects: 4, storedBytes: 400, verifications: [] };
  const manifest = manifestFor(id, opts.manifest);
  const manifestKey = `${manifest.prefix}/manifest.json`;
  const sha = `sha-${runId}`;
  return {
    id,
    objects: 5,
    storedBytes: 500,
    manifest,
    manifestSha256: sha,
    restoreRecords: opts.restoreRecords,
    verifications:
      opts.verified === false
        ? []
        : manifest.tables.map((t) => ({
            format: VERIFICATION_FORMAT,
            manifestKey,
            manifestSha256: sha,
            tableName: t.tableName,
            items: t.items,
            digest: t.digest,
            chunks: 1,
            verifiedAt: manifest.createdAt,
            verifiedBy: manifest.createdBy,
          })),
  };
}

function entries(...folders: BackupFolder[]): BackupEntry[] {
  return folders.map((f) => catalogEntry(INSTANCE, BUCKET, f));
}

function expiredIds(list: BackupEntry[], policy: RetentionPolicy, uses: BackupUse[] = [], now = NOW): string[] {
  return selectForRetention(list, policy, now, uses).expire.map((d) => d.id);
}

function idOf(list: BackupEntry[], runId: string): string {
  return list.find((e) => e.id.endsWith(`-${runId}`))!.id;
}

describe('catalog entries', () => {
  it('summarises a verified Scan backup: tables, items, bytes, URL, not point-in-time', () => {
    const [entry] = entries(folder(1, 'run-a'));
    expect(entry).toMatchObject({
      state: 'complete',
      verified: true,
      items: 3,
      bytes: 100,
      tables: [{ tableName: 'users-demo', items: 3, bytes: 100 }],
      method: 'scan',
      pointInTime: false,
      consistency: 'not point-in-time (Scan)',
      url: `s3://${BUCKET}/dynamodb-backups/demo/${idOf(entries(folder(1, 'run-a')), 'run-a')}/manifest.json`,
      createdBy: { runId: 'run-a' },
      stored: { objects: 5, bytes: 500 },
    });
  });

  it('is not verified when a record is bound to another manifest SHA-256, or a table has none', () => {
    const f = folder(1, 'run-a');
    f.verifications = f.verifications.map((v) => ({ ...v, manifestSha256: 'another' }));
    expect(catalogEntry(INSTANCE, BUCKET, f)).toMatchObject({ verified: false, unverifiedTables: ['users-demo'] });
    expect(entries(folder(1, 'run-b', { verified: false }))[0]).toMatchObject({ verified: false, unverifiedTables: ['users-demo'] });
  });

  it('shows the newest drill of this manifest, and ignores one of another manifest', () => {
    const f = folder(1, 'run-a');
    const manifestKey = `${f.manifest!.prefix}/manifest.json`;
    const drill: DrillRecord = { format: DRILL_FORMAT, manifestKey, manifestSha256: f.manifestSha256!, passed: false, error: 'digest differs', tables: [], startedAt: '2026-12-10T10:00:00Z', finishedAt: '2026-12-10T10:01:00Z', drilledBy: { workflowId: 'w', runId: 'r' } };
    expect(catalogEntry(INSTANCE, BUCKET, { ...f, newestDrill: drill }).drill).toEqual({ passed: false, at: '2026-12-10T10:01:00Z', error: 'digest differs', drilledBy: { workflowId: 'w', runId: 'r' } });
    expect(catalogEntry(INSTANCE, BUCKET, { ...f, newestDrill: { ...drill, manifestSha256: 'other' } }).drill).toBeUndefined();
  });

  it('labels a staged native export point-in-time at its export time', () => {
    const source = { kind: 'dynamodb-native-export', url: 's3://b/x', exportArn: 'a', tableArn: 't', tableName: 'users-demo', exportTime: '2026-12-09T00:00:00Z', itemCount: 3, files: 1, summarySha256: 's', filesManifestSha256: 'f' } as const;
    expect(entries(folder(1, 'run-a', { manifest: { source } }))[0]).toMatchObject({ method: 'native-export', pointInTime: true, consistency: 'point-in-time at 2026-12-09T00:00:00Z' });
  });

  it('labels a backup taken by native export point-in-time at its one ExportTime, and a scan that auto chose not', () => {
    const pointInTime = { exportTime: '2026-12-09T06:00:00.000Z', tables: [{ tableName: 'users-demo', exportArn: 'arn:aws:dynamodb:us-east-1:1:table/users-demo/export/1-a' }] };
    const native = entries(folder(1, 'run-n', { manifest: { exportMethod: { method: 'native', requested: 'native' }, pointInTime } }))[0];
    expect(native).toMatchObject({ method: 'native-export', pointInTime: true, consistency: 'point-in-time at 2026-12-09T06:00:00.000Z' });
    const fellBack = entries(folder(1, 'run-s', { manifest: { exportMethod: { method: 'scan', requested: 'auto', reason: 'native export not possible: …' } } }))[0];
    expect(fellBack).toMatchObject({ method: 'scan', pointInTime: false, consistency: 'not point-in-time (Scan)' });
  });

  it('lists a folder with chunks and no manifest as incomplete, dated by its folder name', () => {
    const [entry] = entries(folder(2, 'run-x', { incomplete: true }));
    expect(entry).toMatchObject({ state: 'incomplete', verified: false, items: 0, createdAt: new Date(NOW.getTime() - 2 * DAY).toISOString() });
    expect(entry!.url).toMatch(/run-x\/$/);
  });
});

describe('retention policy input', () => {
  it('requires keep or keepDays, keep a whole number from 1, keepDays above 0', () => {
    expect(() => validateRetentionPolicy({})).toThrow(InvalidInputError);
    expect(() => validateRetentionPolicy({})).toThrow(/--keep N .* or --keep-days D/);
    expect(() => validateRetentionPolicy({ keep: 0 })).toThrow(/keep must be a whole number from 1/);
    expect(() => validateRetentionPolicy({ keep: 1.5 })).toThrow(/keep must be/);
    expect(() => validateRetentionPolicy({ keepDays: 0 })).toThrow(/keepDays must be a number of days above 0/);
    expect(() => validateRetentionPolicy({ keepDays: Number.NaN })).toThrow(/keepDays/);
    expect(() => validateRetentionPolicy({ keepDays: '7' })).toThrow(/keepDays/);
    expect(validateRetentionPolicy({ keep: 3, keepDays: 0.5 })).toEqual({ keep: 3, keepDays: 0.5 });
  });
});

describe('retention selection (simulated clock)', () => {
  // Five verified backups, 1..5 days old.
  const five = () => entries(folder(1, 'r1'), folder(2, 'r2'), folder(3, 'r3'), folder(4, 'r4'), folder(5, 'r5'));

  it('keep N: keeps the newest N verified, deletes the older ones, each with why', () => {
    const list = five();
    const selection = selectForRetention(list, { keep: 2 }, NOW, []);
    expect(selection.keep.map((d) => d.id)).toEqual([idOf(list, 'r1'), idOf(list, 'r2')]);
    expect(selection.expire.map((d) => d.id)).toEqual([idOf(list, 'r3'), idOf(list, 'r4'), idOf(list, 'r5')]);
    expect(selection.expire[0]!.why).toBe('verified, 3.00 days old, not one of the 2 newest verified backups');
  });

  it('keepDays: keeps everything younger, deletes older verified backups', () => {
    const list = five();
    expect(expiredIds(list, { keepDays: 2.5 })).toEqual([idOf(list, 'r3'), idOf(list, 'r4'), idOf(list, 'r5')]);
    // The clock moves on: a day later, the 2-day-old one expires too.
    expect(expiredIds(list, { keepDays: 2.5 }, [], new Date(NOW.getTime() + DAY))).toEqual([idOf(list, 'r2'), idOf(list, 'r3'), idOf(list, 'r4'), idOf(list, 'r5')]);
  });

  it('keep and keepDays together keep the union: the newest N verified and everything younger than D days', () => {
    const list = five();
    expect(expiredIds(list, { keep: 1, keepDays: 3.5 })).toEqual([idOf(list, 'r4'), idOf(list, 'r5')]);
    expect(expiredIds(list, { keep: 4, keepDays: 1.5 })).toEqual([idOf(list, 'r5')]);
  });

  it('never deletes the newest verified backup, however old and whatever the policy', () => {
    const list = entries(folder(40, 'old-verified'), folder(1, 'new-unverified', { verified: false }), folder(50, 'older-verified'));
    const selection = selectForRetention(list, { keepDays: 1 / 24 }, NOW, []);
    expect(selection.keep.find((d) => d.id === idOf(list, 'old-verified'))?.kept).toEqual(['newest-verified']);
    expect(selection.expire.map((d) => d.id)).toEqual([idOf(list, 'older-verified')]);
  });

  it('never deletes a backup a running recovery or import reads (by URL) or a drill names (by ID)', () => {
    const list = five();
    const r4 = list.find((e) => e.id === idOf(list, 'r4'))!;
    const r5 = list.find((e) => e.id === idOf(list, 'r5'))!;
    const uses = backupsInUse([
      { workflowType: 'dynamodbRecovery', workflowId: 'destructive/demo', runId: 'rec', input: { instance: 'demo', resumeFrom: r4.url, options: {} } },
      { workflowType: 'backupDrill', workflowId: 'backup-drill/demo/1', runId: 'drill', input: { instance: 'demo', backup: r5.id } },
    ]);
    const selection = selectForRetention(list, { keep: 1 }, NOW, uses);
    expect(selection.expire.map((d) => d.id)).toEqual([idOf(list, 'r2'), idOf(list, 'r3')]);
    expect(selection.keep.find((d) => d.id === r4.id)).toMatchObject({ kept: ['in-use'], why: 'in use by dynamodbRecovery destructive/demo' });
    expect(selection.keep.find((d) => d.id === r5.id)?.kept).toEqual(['in-use']);
  });

  it('never deletes the folder a running export still writes (its run ID), even incomplete and old', () => {
    const list = entries(folder(1, 'r1'), folder(10, 'writing', { incomplete: true }), folder(10, 'failed', { incomplete: true }));
    const uses = backupsInUse([{ workflowType: 'dynamodbExport', workflowId: 'dynamodb-export/demo/1', runId: 'writing', input: { instance: 'demo' } }]);
    expect(expiredIds(list, { keepDays: 1 }, uses)).toEqual([idOf(list, 'failed')]);
    expect(selectForRetention(list, { keepDays: 1 }, NOW, []).expire[1]!.why).toMatch(/^incomplete \(no manifest\), 10\.00 days old/);
  });

  it('never deletes a backup younger than keepDays, even beyond keep and unverified', () => {
    const list = entries(folder(1, 'r1'), folder(2, 'young-unverified', { verified: false }), folder(3, 'r3'), folder(9, 'old-unverified', { verified: false }));
    expect(expiredIds(list, { keepDays: 5 })).toEqual([idOf(list, 'old-unverified')]);
  });

  it('keep alone: an unverified or incomplete backup newer than the newest verified stays, an older one goes', () => {
    const list = entries(folder(0.1, 'just-failed', { verified: false }), folder(0.2, 'running', { incomplete: true }), folder(1, 'r1'), folder(2, 'stale', { verified: false }));
    expect(expiredIds(list, { keep: 1 })).toEqual([idOf(list, 'stale')]);
  });

  it('with no verified backup at all, deletes nothing', () => {
    const list = entries(folder(30, 'a', { verified: false }), folder(40, 'b', { incomplete: true }));
    expect(expiredIds(list, { keep: 1, keepDays: 1 })).toEqual([]);
  });

  it('never deletes a recovery backup no restore finished from (a failed recovery resumes from it)', () => {
    const claim = { name: 'c', spec: {}, labels: {} };
    const list = entries(folder(1, 'r1'), folder(10, 'failed-recovery', { manifest: { claim } }), folder(11, 'restored-recovery', { manifest: { claim }, restoreRecords: 1 }));
    const selection = selectForRetention(list, { keep: 1 }, NOW, []);
    expect(selection.expire.map((d) => d.id)).toEqual([idOf(list, 'restored-recovery')]);
    expect(selection.keep.find((d) => d.id === idOf(list, 'failed-recovery'))?.kept).toEqual(['recovery-not-restored']);
  });

  it('never deletes a folder it cannot date', () => {
    const list = [...entries(folder(1, 'r1'), folder(5, 'r5')), catalogEntry(INSTANCE, BUCKET, { id: 'hand-made', objects: 1, storedBytes: 1, verifications: [] })];
    const selection = selectForRetention(list, { keep: 1 }, NOW, []);
    expect(selection.expire.map((d) => d.id)).toEqual([idOf(list, 'r5')]);
    expect(selection.keep.find((d) => d.id === 'hand-made')?.kept).toEqual(['undated']);
  });
});

describe('backups in use', () => {
  it('finds backup URLs and IDs anywhere in a start input, and the run ID every run writes under', () => {
    const uses = backupsInUse([
      { workflowType: 'dynamodbImport', workflowId: 'destructive/b', runId: 'imp', input: { instance: 'b', from: 's3://bkt/dynamodb-backups/a/20261201T000000Z-xyz/manifest.json' } },
      { workflowType: 'backupDrill', workflowId: 'drill', runId: 'dr', input: { nested: [{ backup: '20261202T000000Z-abc' }] } },
    ]);
    expect(uses).toEqual([
      { runId: 'imp', how: 'writes', by: { workflowType: 'dynamodbImport', workflowId: 'destructive/b', runId: 'imp' } },
      { prefix: 'dynamodb-backups/a/20261201T000000Z-xyz', how: 'reads', by: { workflowType: 'dynamodbImport', workflowId: 'destructive/b', runId: 'imp' } },
      { runId: 'dr', how: 'writes', by: { workflowType: 'backupDrill', workflowId: 'drill', runId: 'dr' } },
      { id: '20261202T000000Z-abc', how: 'reads', by: { workflowType: 'backupDrill', workflowId: 'drill', runId: 'dr' } },
    ]);
  });

  it('a drill started without naming its backup uses the one its memo names once it resolved it', () => {
    const url = 's3://bkt/dynamodb-backups/a/20261203T000000Z-newest/manifest.json';
    const by = { workflowType: 'backupDrill', workflowId: 'backup-drill/a/1', runId: 'dr' };
    expect(backupsInUse([{ ...by, input: { instance: 'a' }, memo: { backup: url } }])).toContainEqual({ prefix: 'dynamodb-backups/a/20261203T000000Z-newest', how: 'reads', by });
  });
});
