/**
 * The DynamoDB recovery runbook on the real Temporal server, dynalite, moto, the real API server and
 * the simulated Argo CD and Crossplane.
 */
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ListTagsOfResourceCommand,
  PutItemCommand,
  TagResourceCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import type { BackupLocation, BackupManifest, DynamoDbRecoveryInput, DynamoDbRecoveryPlan } from '../common/dynamodb-backup';
import { APPLICATION, ARGOCD_NAMESPACE, API_DEPLOYMENT, DYNAMODB_CLAIM, MATCHING_CRONJOB } from '../common/platform';
import type { Application, DynamoDbClaim } from '../common/platform';
import { progressQuery } from '../common/runbook';
import { startDynamoDbRecovery } from '../client/runbooks';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { awsClients, config, directStagingArea, uniqueInstance, withWorker } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';
import { instanceItems } from '../test-support/dynamodb';

const aws = awsClients();
const { kube, dynamodb, s3 } = aws;
const small = { users: 30, matches: 12, feedback: 9 };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, extra: Partial<DynamoDbRecoveryInput> = {}): DynamoDbRecoveryInput {
  return {
    instance,
    options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'tables corrupted by a bad migration' },
    export: { chunkMaxItems: 7, segments: 2 },
    claimTimeoutMs: 120_000,
    ...extra,
  };
}

function expectSameItems(after: Map<string, Record<string, AttributeValue>>, before: Map<string, Record<string, AttributeValue>>) {
  expect(after.size).toBe(before.size);
  for (const [key, item] of before) expect(after.get(key), `item ${key.slice(0, 80)} missing or different`).toEqual(item);
}

/** Items holding every attribute type and edge values: 38-digit numbers, binary, sets, NULL, empty strings, deep nesting. */
function edgeItems(): Record<string, AttributeValue>[] {
  let deep: AttributeValue = { S: 'bottom' };
  for (let i = 0; i < 30; i++) deep = i % 2 === 0 ? { M: { [`level${i}`]: deep, n: { N: String(i) } } } : { L: [deep, { NULL: true }] };
  return [
    {
      user_id: { S: 'edge-numbers' },
      email: { S: 'numbers@example.com' },
      big: { N: '12345678901234567890123456789012345678' },
      negative: { N: '-99999999999999999999999999999999999999' },
      small: { N: '0.00000000000000000000000000000000000001' },
      exponent: { N: '1.5E+100' },
      numbers: { NS: ['1', '12345678901234567890123456789012345678', '-3.25'] },
    },
    {
      user_id: { S: 'edge-binary' },
      email: { S: 'binary@example.com' },
      bytes: { B: Uint8Array.from([0, 1, 2, 255, 254, 0, 10, 13]) },
      byteSet: { BS: [Uint8Array.from([0]), Uint8Array.from([255, 0, 1]), Buffer.from('zürich', 'utf8')] },
    },
    {
      user_id: { S: 'edge-strings ünïcödé 🚀 "quoted" \\ back\nslash' },
      email: { S: 'strings@example.com' },
      empty: { S: '' },
      strings: { SS: ['', ' ', '🚀', 'z', 'A'] },
      nothing: { NULL: true },
      yes: { BOOL: true },
      no: { BOOL: false },
      emptyList: { L: [] },
      emptyMap: { M: {} },
      deep,
      expires_at: { N: '4102444800' },
    },
  ];
}

async function readApp(instance: string): Promise<Application> {
  return (await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` })) as Application;
}

async function readClaim(instance: string): Promise<DynamoDbClaim | undefined> {
  try {
    return (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
  } catch {
    return undefined;
  }
}

async function writersOf(instance: string) {
  const api = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  const cron = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
  return { apiReplicas: api.spec?.replicas, cronSuspended: Boolean(cron.spec?.suspend) };
}

async function listBackupObjects(prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

/** While the run goes on, records whether self-heal was ever on while the claim was missing. */
function watchSelfHeal(instance: string, handle: WorkflowHandle) {
  const seen = { claimMissing: 0, selfHealOnWhileMissing: 0 };
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const [claim, app] = await Promise.all([readClaim(instance), readApp(instance)]);
      if (!claim) {
        seen.claimMissing++;
        if (app.spec.syncPolicy?.automated) seen.selfHealOnWhileMissing++;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  void handle;
  return { seen, stop: async () => { stop = true; await done; } };
}

describe('DynamoDB recovery runbook', { timeout: 240_000 }, () => {
  it('round-trips every attribute type: tables equal item by item, GSI, TTL and tags restored, writers and sync restored', async () => {
    const instance = uniqueInstance('ddb-rt');
    await seedForTest(instance, { sizes: small });
    const users = `users-${instance}`;
    for (const item of edgeItems()) await dynamodb.send(new PutItemCommand({ TableName: users, Item: item }));
    await dynamodb.send(new UpdateTimeToLiveCommand({ TableName: users, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires_at' } }));
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: users }));
    await dynamodb.send(new TagResourceCommand({ ResourceArn: Table!.TableArn!, Tags: [{ Key: 'team', Value: 'coffee' }] }));
    const before = await instanceItems(dynamodb, instance);
    const claimBefore = await readClaim(instance);
    const writersBefore = await writersOf(instance);

    const { result, selfHeal } = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance));
      const gate = await awaitApprovalGate(handle);
      const plan = gate.plan as DynamoDbRecoveryPlan;
      expect(plan.tables.map((t) => [t.tableName, t.items])).toEqual([
        [users, small.users + 3],
        [`matches-${instance}`, small.matches],
        [`feedback-${instance}`, small.feedback],
      ]);
      expect(plan.tables[0]).toMatchObject({ gsis: ['email-index'], ttl: 'ENABLED (expires_at)', tags: 1 });
      expect(plan.claim).toMatchObject({ name: `${instance}-dynamodb`, deletionPolicy: 'Delete' });
      expect(plan.writers).toMatchObject({ quiesce: true, apiDeployment: { replicas: 2 }, cronJob: { suspended: false } });
      const watcher = watchSelfHeal(instance, handle);
      await approveAs(handle, 'alice', 'approve', 'restore from backup');
      const result = (await handle.result());
      await watcher.stop();
      return { result, selfHeal: watcher.seen };
    }, { overrides: { approvals } });

    expect(result.outcome, result.reason).toBe('succeeded');
    // The claim really was deleted and recreated, and self-heal never ran meanwhile.
    const claimAfter = await readClaim(instance);
    expect(claimAfter?.metadata.uid).not.toBe(claimBefore?.metadata.uid);
    expect(selfHeal.claimMissing).toBeGreaterThan(0);
    expect(selfHeal.selfHealOnWhileMissing).toBe(0);

    const after = await instanceItems(dynamodb, instance);
    for (const base of Object.keys(before)) expectSameItems(after[base]!, before[base]!);
    const described = await dynamodb.send(new DescribeTableCommand({ TableName: users }));
    expect(described.Table?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['email-index']);
    const ttl = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: users }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });
    const tags = await dynamodb.send(new ListTagsOfResourceCommand({ ResourceArn: described.Table!.TableArn! }));
    expect(tags.Tags).toEqual([{ Key: 'team', Value: 'coffee' }]);

    expect(await writersOf(instance)).toEqual(writersBefore);
    const app = await readApp(instance);
    expect(app.spec.syncPolicy?.automated).toMatchObject({ selfHeal: true });
    expect(app.metadata.annotations?.['vcp-runbooks.io/paused-automated-sync']).toBeUndefined();

    const details = result.details!;
    expect(details.tables.every((t) => t.backupItems === t.restoredItems && t.backupDigest === t.restoredDigest)).toBe(true);
    expect(details.tables.find((t) => t.tableName === users)?.settingsApplied).toEqual(expect.arrayContaining(['ttl: enabled on expires_at', 'tags: team']));
    expect(details.backup.items).toBe(small.users + 3 + small.matches + small.feedback);
    expect(details.backup.chunks).toBeGreaterThan(6);
    // The backup stays, encrypted, under its own prefix, with a manifest and every chunk.
    const objects = await listBackupObjects(details.backup.prefix);
    expect(objects).toContain(details.backup.manifestKey);
    expect(objects.filter((k) => k.endsWith('.ndjson.gz'))).toHaveLength(details.backup.chunks);
    const manifestObject = await s3.send(new GetObjectCommand({ Bucket: details.backup.bucket, Key: details.backup.manifestKey }));
    expect(manifestObject.ServerSideEncryption).toBe('AES256');
    expect(result.audit.changes.map((c) => c.action)).toEqual(
      expect.arrayContaining(['pause spec.syncPolicy.automated', 'delete claim', 'create claim from the captured spec', 'restore spec.syncPolicy.automated']),
    );
  });

  it('a claim that orphans its tables: the plan says so, the runbook deletes the old tables itself and never imports into stale data', async () => {
    const instance = uniqueInstance('ddb-orphan');
    await seedForTest(instance, { sizes: small, deletionPolicy: 'Orphan' });
    const before = await instanceItems(dynamodb, instance);
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance));
      const plan = (await awaitApprovalGate(handle)).plan as DynamoDbRecoveryPlan;
      expect(plan.claim.deletionPolicy).toBe('Orphan');
      expect([...plan.orphanedTablesToDelete].sort()).toEqual([`feedback-${instance}`, `matches-${instance}`, `users-${instance}`]);
      await approveAs(handle, 'alice');
      return (await handle.result());
    }, { overrides: { approvals } });
    expect(result.outcome, result.reason).toBe('succeeded');
    expect(result.audit.changes.filter((c) => c.action.startsWith('delete orphaned table'))).toHaveLength(3);
    const after = await instanceItems(dynamodb, instance);
    for (const base of Object.keys(before)) expectSameItems(after[base]!, before[base]!);
  });

  it('a failure after the delete keeps writers stopped and sync paused, names the backup; a resumed run finishes the import', async () => {
    const instance = uniqueInstance('ddb-resume');
    await seedForTest(instance, { sizes: small });
    const before = await instanceItems(dynamodb, instance);
    const real = createActivities({ ...aws, approvals, staging: directStagingArea(aws) });
    let sabotaged = 0;
    // The first import of users fails for good, as if the table kept refusing writes.
    const importBackupSegment = async (args: Parameters<typeof real.importBackupSegment>[0]) => {
      if (args.tableName === `users-${instance}` && sabotaged++ === 0) {
        throw ApplicationFailure.create({ type: 'ImportRefused', message: 'injected: writes refused', nonRetryable: true });
      }
      return real.importBackupSegment(args);
    };
    const failure = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { export: { chunkMaxItems: 7, segments: 1 } }));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'alice');
      return handle.result().then(() => undefined, (err: unknown) => err);
    }, { overrides: { approvals }, extraActivities: { importBackupSegment } });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const message = String((failure as WorkflowFailedError).cause?.message);
    const resumeFrom = /--resume-from (s3:\/\/\S+manifest\.json)/.exec(message)?.[1];
    expect(message).toMatch(/THE CLAIM WAS DELETED/);
    expect(resumeFrom).toBeDefined();
    expect(await writersOf(instance)).toEqual({ apiReplicas: 0, cronSuspended: true });
    expect((await readApp(instance)).spec.syncPolicy?.automated).toBeUndefined();

    const resumed = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { resumeFrom }));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'alice');
      return (await handle.result());
    }, { overrides: { approvals } });
    expect(resumed.outcome, resumed.reason).toBe('succeeded');
    const after = await instanceItems(dynamodb, instance);
    for (const base of Object.keys(before)) expectSameItems(after[base]!, before[base]!);
    expect(await writersOf(instance)).toEqual({ apiReplicas: 2, cronSuspended: false });
    expect((await readApp(instance)).spec.syncPolicy?.automated).toMatchObject({ selfHeal: true });
  });

  it('dry run: returns the plan and changes nothing', async () => {
    const instance = uniqueInstance('ddb-dry');
    await seedForTest(instance, { sizes: small });
    const before = await instanceItems(dynamodb, instance);
    const claimBefore = await readClaim(instance);
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { options: { requestedBy: { user: 'bob', via: 'test' }, dryRun: true } }));
      return (await handle.result());
    });
    expect(result.outcome).toBe('planned');
    expect((result.plan as DynamoDbRecoveryPlan).totalItems).toBe(small.users + small.matches + small.feedback);
    expect(result.audit.changes).toEqual([]);
    expect((await readClaim(instance))?.metadata.uid).toBe(claimBefore?.metadata.uid);
    expect((await readApp(instance)).spec.syncPolicy?.automated).toBeDefined();
    expect(await writersOf(instance)).toEqual({ apiReplicas: 2, cronSuspended: false });
    const after = await instanceItems(dynamodb, instance);
    for (const base of Object.keys(before)) expectSameItems(after[base]!, before[base]!);
  });

  it('rejected at the confirmation after the verified backup: nothing deleted, writers and sync restored, backup kept', async () => {
    const instance = uniqueInstance('ddb-rej');
    await seedForTest(instance, { sizes: small });
    const claimBefore = await readClaim(instance);
    const result = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { confirmAfterBackup: true }));
      const first = await awaitApprovalGate(handle);
      await approveAs(handle, 'alice', 'approve', 'go ahead');
      // The second gate has its own digest: wait until it opens, with the writers stopped meanwhile.
      for (;;) {
        const p = await handle.query(progressQuery);
        if (p.status === 'AwaitingApproval' && p.approval?.planDigest !== first.approval?.planDigest) break;
        if (p.status !== 'Running' && p.status !== 'AwaitingApproval') throw new Error(`run ended: ${p.status}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await writersOf(instance)).toEqual({ apiReplicas: 0, cronSuspended: true });
      expect((await readApp(instance)).spec.syncPolicy?.automated).toBeUndefined();
      await approveAs(handle, 'carol', 'reject', 'the backup is from the wrong hour');
      return (await handle.result());
    }, { overrides: { approvals } });
    expect(result.outcome).toBe('rejected');
    expect((await readClaim(instance))?.metadata.uid).toBe(claimBefore?.metadata.uid);
    expect(await writersOf(instance)).toEqual({ apiReplicas: 2, cronSuspended: false });
    expect((await readApp(instance)).spec.syncPolicy?.automated).toMatchObject({ selfHeal: true });
    expect(result.audit.approvals.map((a) => [a.approver, a.decision])).toEqual([['alice', 'approve'], ['carol', 'reject']]);
    expect((await listBackupObjects(`dynamodb-backups/${instance}/`)).some((k) => k.endsWith('manifest.json'))).toBe(true);
  });

  it('a backup chunk altered after export fails verification: nothing deleted, writers and sync restored', async () => {
    const instance = uniqueInstance('ddb-bad');
    await seedForTest(instance, { sizes: small });
    const claimBefore = await readClaim(instance);
    const real = createActivities({ ...aws, approvals, staging: directStagingArea(aws) });
    // Corruption at rest between the export and the verification: one chunk is rewritten.
    const writeBackupManifest = async (manifest: BackupManifest): Promise<BackupLocation> => {
      const location = await real.writeBackupManifest(manifest);
      const victim = manifest.tables[0]!.segments.flatMap((s) => s.chunks)[0]!;
      await s3.send(new PutObjectCommand({ Bucket: manifest.bucket, Key: victim.key, Body: 'tampered' }));
      return location;
    };
    const failure = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDynamoDbRecovery(client, taskQueue, input(instance));
      await awaitApprovalGate(handle);
      await approveAs(handle, 'alice');
      return handle.result().then(() => undefined, (err: unknown) => err);
    }, { overrides: { approvals }, extraActivities: { writeBackupManifest } });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const messages: string[] = [];
    for (let e: unknown = failure; e instanceof Error; e = e.cause) messages.push(e.message);
    expect(messages.join('\n')).toMatch(/chunk .* SHA-256/);
    expect(messages.join('\n')).not.toMatch(/CLAIM WAS DELETED/);
    expect((await readClaim(instance))?.metadata.uid).toBe(claimBefore?.metadata.uid);
    expect(await writersOf(instance)).toEqual({ apiReplicas: 2, cronSuspended: false });
    expect((await readApp(instance)).spec.syncPolicy?.automated).toMatchObject({ selfHeal: true });
  });
});
