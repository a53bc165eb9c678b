/**
 * Restore drills on the real stack (Temporal, dynalite, moto): a drill of a real export passes, records
 * a passed DrillRecord and the metric on the worker's Prometheus endpoint; a tampered chunk, a chunk
 * altered while the drill runs, and a chunk altered together with its manifest each fail loudly with a
 * failed DrillRecord naming what is wrong; a cancelled drill deletes its scratch tables too. After every
 * drill no scratch table remains and every table of the instance holds exactly what it held before.
 * The activities refuse to create, write or delete any table but their own run's scratch tables.
 */
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { heartbeat, sleep as activitySleep } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Runtime } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillActivities } from '../activities/aws/dynamodb-drill';
import { itemFromWire, ItemDigest } from '../activities/aws/dynamodb-items';
import { startBackupDrill, startDynamoDbExport } from '../client/runbooks';
import { DRILL_FORMAT, parseS3Url } from '../common/dynamodb-backup';
import type { BackupManifest, DrillRecord } from '../common/dynamodb-backup';
import { drillRunTag, scratchTableName } from '../common/dynamodb-drill';
import type { BackupDrillDetails } from '../common/dynamodb-drill';
import type { RunbookResult } from '../common/runbook';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { allTableNames, instanceItems, tableItems } from '../test-support/dynamodb';
import { freePort } from '../test-support/free-port';
import { everyTypeItems } from '../test-support/native-export';
import { messages } from '../test-support/recovery';
import { expectSameItems } from '../test-support/recovery-run';
import { until, stepReached } from '../test-support/runs';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { dynamodb, s3 } = aws;
const requestedBy = { user: 'bob', via: 'test' as const };
const bucket = config.aws.backupBucket;
let metricsUrl: string;

beforeAll(async () => {
  // The worker's Prometheus endpoint, as VCP_METRICS_ADDRESS gives the worker process one (worker/main.ts).
  const port = await freePort();
  Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } });
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  await ensureBackupBucket(s3, bucket);
});
afterAll(() => aws.close());

/** An instance with users and matches from the seed and a feedback table holding every attribute type. */
async function seededInstance(prefix: string): Promise<string> {
  const instance = uniqueInstance(prefix);
  await seedForTest(instance, { sizes: { users: 40, matches: 15, feedback: 0 } });
  const items = everyTypeItems(45);
  for (let i = 0; i < items.length; i += 25) {
    await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [`feedback-${instance}`]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
  }
  return instance;
}

/** A backup made by the real export runbook, several chunks per table. */
async function exportBackup(instance: string): Promise<string> {
  return withWorker(async ({ client, taskQueue }) => {
    const result = await (await startDynamoDbExport(client, taskQueue, { instance, export: { chunkMaxItems: 8 }, options: { requestedBy } })).result();
    expect(result.outcome).toBe('succeeded');
    return result.details!.backup.url;
  });
}

async function readManifest(url: string): Promise<BackupManifest> {
  const { key } = parseS3Url(url);
  return JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as BackupManifest;
}

/** Changes one item of a chunk (its `name`/`status`/`text` attribute) and writes it back: same item count, other content. */
async function tamperChunk(chunkKey: string): Promise<Buffer> {
  const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: chunkKey }))).Body!.transformToByteArray());
  const lines = gunzipSync(body).toString('utf8').split('\n').filter(Boolean);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  first.tampered = { S: 'yes' };
  lines[0] = JSON.stringify(first);
  const changed = gzipSync(lines.join('\n') + '\n');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: chunkKey, Body: changed }));
  return changed;
}

/** Every DrillRecord beside the manifest. */
async function drillRecords(manifestUrl: string): Promise<DrillRecord[]> {
  const { key } = parseS3Url(manifestUrl);
  const folder = `${key.slice(0, key.lastIndexOf('/') + 1)}drills/`;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: folder }));
  const records: DrillRecord[] = [];
  for (const o of listed.Contents ?? []) records.push(JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToString()) as DrillRecord);
  return records;
}

/** Tables whose name marks them as a drill's scratch table of `runId` (or of any run). */
async function scratchTablesLeft(runId?: string): Promise<string[]> {
  return (await allTableNames(dynamodb)).filter((n) => n.startsWith(runId ? `drill-${drillRunTag(runId)}-` : 'drill-'));
}

/** A drill run to its end, and the metrics the worker's endpoint shows then (it lives as long as the worker). */
async function drill(instance: string, backup?: string): Promise<{ details?: BackupDrillDetails; failure?: unknown; runId: string; metrics: string }> {
  return withWorker(async ({ client, taskQueue }) => {
    const handle = await startBackupDrill(client, taskQueue, { instance, backup, options: { requestedBy } });
    const ended = await handle.result().then(
      async (r) => {
        // The backup it resolved is in its memo, where retention looks for what running drills read.
        expect((await handle.describe()).memo).toMatchObject({ backup: r.details!.backup.url });
        return { details: r.details, runId: handle.firstExecutionRunId };
      },
      (failure: unknown) => ({ failure, runId: handle.firstExecutionRunId }),
    );
    return { ...ended, metrics: await (await fetch(metricsUrl)).text() };
  });
}

describe('restore drills', { timeout: 300_000 }, () => {
  it('drills the newest verified backup of a real export: every table restored, count and digest equal, a passed record, the metric; no scratch table left, the instance untouched', async () => {
    const instance = await seededInstance('drill-ok');
    const url = await exportBackup(instance);
    const before = await instanceItems(dynamodb, instance);

    const { details, failure, runId, metrics } = await drill(instance);
    expect(failure, messages(failure)).toBeUndefined();
    expect(details!.passed).toBe(true);
    expect(details!.backup.url).toBe(url);
    expect(details!.tables.map((t) => [t.tableName, t.expectedItems, t.restoredItems])).toEqual([
      [`users-${instance}`, 40, 40],
      [`matches-${instance}`, 15, 15],
      [`feedback-${instance}`, 45, 45],
    ]);
    for (const t of details!.tables) {
      expect(t.restoredDigest).toBe(t.expectedDigest);
      expect(t.scratchTable).toBe(scratchTableName(runId, t.tableName, 0));
    }
    const [record] = await drillRecords(url);
    expect(record).toMatchObject({ format: DRILL_FORMAT, passed: true, manifestSha256: details!.backup.manifestSha256, drilledBy: { runId } });
    expect(record!.tables).toEqual(details!.tables);

    // The metric, on the worker's Prometheus endpoint.
    expect(metrics).toMatch(new RegExp(`vcp_backup_drill_passed\\{[^}]*instance="${instance}"[^}]*\\} 1`));
    expect(metrics).toMatch(new RegExp(`vcp_backup_drills(_total)?\\{[^}]*instance="${instance}"[^}]*result="passed"[^}]*\\} 1`));

    expect(await scratchTablesLeft(runId)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a parent run (as the scheduled backup) starts a drill as its child without options: it runs as backup-schedule and passes', async () => {
    const instance = await seededInstance('drill-child');
    const url = await exportBackup(instance);
    const r = await withWorker(
      async ({ client, taskQueue }) =>
        (await client.workflow.execute('drillParent', { taskQueue, workflowId: `test/drill-parent/${instance}`, args: [{ instance, backup: url }] })) as RunbookResult<BackupDrillDetails>,
      { workflows: 'drills' },
    );
    expect(r.outcome).toBe('succeeded');
    expect(r.details!.passed).toBe(true);
    expect(r.audit.requester).toEqual({ user: 'backup-schedule', authenticated: false });
    expect((await scratchTablesLeft()).filter((t) => t.endsWith(instance))).toEqual([]);
  });

  it('a chunk whose bytes changed fails the drill loudly, naming the table and the chunk, with a failed record; nothing left, the instance untouched', async () => {
    const instance = await seededInstance('drill-tamper');
    const url = await exportBackup(instance);
    const manifest = await readManifest(url);
    const chunk = manifest.tables.find((t) => t.tableName === `matches-${instance}`)!.segments[0]!.chunks[1]!;
    await tamperChunk(chunk.key);
    const before = await instanceItems(dynamodb, instance);

    const { failure, runId, metrics } = await drill(instance, url);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(messages(failure)).toMatch(new RegExp(`restore drill of ${url} FAILED: verifyDrillBackupTable: chunk ${chunk.key}: (SHA-256|more than the \\d+ bytes the manifest says)`));
    const [record] = await drillRecords(url);
    expect(record).toMatchObject({ passed: false, drilledBy: { runId } });
    expect(record!.error).toContain(chunk.key);
    expect(record!.error).toContain(`matches-${instance}`);

    expect(metrics).toMatch(new RegExp(`vcp_backup_drill_passed\\{[^}]*instance="${instance}"[^}]*\\} 0`));
    expect(await scratchTablesLeft(runId)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a chunk altered while the drill runs (after its check, before the import) fails the import, with the scratch tables made and then deleted', async () => {
    const instance = await seededInstance('drill-race');
    const url = await exportBackup(instance);
    const manifest = await readManifest(url);
    const chunk = manifest.tables.find((t) => t.tableName === `users-${instance}`)!.segments[0]!.chunks[2]!;
    const before = await instanceItems(dynamodb, instance);
    const real = createDrillActivities(aws);
    let tampered = false;
    const result = await withWorker(
      async ({ client, taskQueue }) => {
        const handle = await startBackupDrill(client, taskQueue, { instance, backup: url, options: { requestedBy } });
        return handle.result().then(() => undefined, (failure: unknown) => ({ failure, runId: handle.firstExecutionRunId }));
      },
      {
        extraActivities: {
          // The real check, then the chunk is altered: only the import's own checks can catch it now.
          async verifyDrillBackupTable(input: Parameters<typeof real.verifyDrillBackupTable>[0]) {
            const checked = await real.verifyDrillBackupTable(input);
            if (input.tableName === `users-${instance}`) {
              await tamperChunk(chunk.key);
              tampered = true;
            }
            return checked;
          },
        },
      },
    );
    expect(tampered).toBe(true);
    expect(messages(result!.failure)).toMatch(new RegExp(`FAILED: importScratchSegment: chunk ${chunk.key}: (SHA-256|more than the \\d+ bytes the manifest says)`));
    const [record] = await drillRecords(url);
    expect(record).toMatchObject({ passed: false });
    expect(record!.error).toContain(chunk.key);
    expect(await scratchTablesLeft(result!.runId)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a chunk altered together with a manifest rewritten to match it (checksums, counts, digest) is caught: no verification record vouches for that manifest', async () => {
    const instance = await seededInstance('drill-forged');
    const url = await exportBackup(instance);
    const manifest = await readManifest(url);
    const table = manifest.tables.find((t) => t.tableName === `feedback-${instance}`)!;
    const chunk = table.segments[0]!.chunks[0]!;
    const changed = await tamperChunk(chunk.key);
    // What a tamperer with write access to the bucket can do: make the manifest agree with the altered chunk.
    const digest = new ItemDigest();
    for (const segment of table.segments) {
      for (const c of segment.chunks) {
        const body = c.key === chunk.key ? changed : Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: c.key }))).Body!.transformToByteArray());
        for (const line of gunzipSync(body).toString('utf8').split('\n').filter(Boolean)) digest.add(itemFromWire(JSON.parse(line)));
      }
    }
    chunk.sha256 = createHash('sha256').update(changed).digest('hex');
    chunk.bytes = changed.length;
    table.digest = digest.digest;
    table.segments[0]!.digest = digest.digest;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: parseS3Url(url).key, Body: JSON.stringify(manifest, null, 1) }));
    const before = await instanceItems(dynamodb, instance);

    const named = await drill(instance, url);
    expect(messages(named.failure)).toMatch(new RegExp(`FAILED: no verification record vouches for manifest SHA-256 [0-9a-f]{64} of users-${instance}, matches-${instance}, feedback-${instance}`));
    const [record] = await drillRecords(url);
    expect(record).toMatchObject({ passed: false, manifestSha256: createHash('sha256').update(JSON.stringify(manifest, null, 1)).digest('hex') });
    // Looking for the newest verified backup, the drill does not take the forged one.
    const newest = await drill(instance);
    expect(messages(newest.failure)).toMatch(/NoVerifiedBackup|has every table verified/);

    expect(await scratchTablesLeft(named.runId)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('a cancelled drill deletes its scratch tables too', async () => {
    const instance = await seededInstance('drill-cancel');
    await exportBackup(instance);
    const before = await instanceItems(dynamodb, instance);
    const { runId, outcome, createdWhileRunning } = await withWorker(
      async ({ client, taskQueue }) => {
        const handle = await startBackupDrill(client, taskQueue, { instance, options: { requestedBy } });
        await until('the drill imports', () => stepReached(handle, 'import'));
        await until('the scratch tables exist', async () => (await scratchTablesLeft(handle.firstExecutionRunId)).length === 3);
        const createdWhileRunning = await scratchTablesLeft(handle.firstExecutionRunId);
        await handle.cancel();
        const result = await handle.result();
        return { runId: handle.firstExecutionRunId, outcome: result.outcome, createdWhileRunning };
      },
      {
        extraActivities: {
          // An import that never finishes (until cancelled): the drill is mid-import when it is cancelled.
          async importScratchSegment() {
            for (;;) {
              heartbeat();
              await activitySleep(500);
            }
          },
        },
      },
    );
    expect(outcome).toBe('cancelled');
    expect(createdWhileRunning).toHaveLength(3);
    expect(await scratchTablesLeft(runId)).toEqual([]);
    expectSameItems(await instanceItems(dynamodb, instance), before);
  });

  it('the drill activities refuse any table but a scratch table of their own run: an instance table, another run\'s scratch table', async () => {
    const instance = await seededInstance('drill-guard');
    const url = await exportBackup(instance);
    const runId = '5f0c6a1e-8d2b-4c3a-9e7f-0123456789ab';
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'backup-drill/test', runId } });
    const activities = createDrillActivities(aws);
    const refusal = (call: () => Promise<unknown>) => env.run(call).then(() => '', (err: unknown) => `${(err as { type?: string }).type}: ${(err as Error).message}`);
    const manifest = await readManifest(url);
    const users = manifest.tables.find((t) => t.tableName === `users-${instance}`)!;
    const location = { bucket, prefix: manifest.prefix, manifestKey: parseS3Url(url).key, manifestSha256: createHash('sha256').update(JSON.stringify(manifest, null, 1)).digest('hex') };
    const before = await instanceItems(dynamodb, instance);
    const otherRun = scratchTableName('5f0c6a1e-8d2b-4c3a-9e7f-ffffffffffff', `users-${instance}`, 0);

    for (const table of [`users-${instance}`, `feedback-${instance}`, otherRun]) {
      expect(await refusal(() => activities.deleteScratchTable({ instance, scratchTable: table }))).toMatch(new RegExp(`^ScratchTableRefused: refusing to touch table ${table}`));
      expect(await refusal(() => activities.createScratchTable({ instance, scratchTable: table, definition: users.definition }))).toMatch(/^ScratchTableRefused/);
      expect(await refusal(() => activities.importScratchSegment({ instance, location, tableName: `users-${instance}`, scratchTable: table, segment: 0 }))).toMatch(/^ScratchTableRefused/);
    }
    expect(await tableItems(dynamodb, otherRun).catch((err: Error) => err.name)).toBe('ResourceNotFoundException');
    expectSameItems(await instanceItems(dynamodb, instance), before);
    // Its own scratch name is accepted (there is none to delete).
    expect(await env.run(() => activities.deleteScratchTable({ instance, scratchTable: scratchTableName(runId, `users-${instance}`, 0) }))).toEqual({ deleted: false });
  });
});
