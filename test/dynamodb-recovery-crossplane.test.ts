/**
 * The DynamoDB recovery against what real Crossplane (v1.20 core, provider-aws's Table controller on
 * crossplane-runtime's managed reconciler) does that the simulator never did: a managed Table outlives
 * its table and observes it again after a backoff; deletionPolicy combines with managementPolicies;
 * a paused claim or a Usage blocks deletion; an external name defaults to the object's generated name.
 * And an Application whose parent would undo the sync pause. Each passes only with the recovery's
 * handling of it. Real Temporal, dynalite, moto, API server, Crossplane and provider.
 */
import { DescribeTableCommand, ResourceNotFoundException, TagResourceCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOrUndefined, isNotFound, MERGE_PATCH } from '../activities/kubernetes/client';
import { startDynamoDbRecovery } from '../client/runbooks';
import type { DynamoDbRecoveryDetails, DynamoDbRecoveryInput, DynamoDbRecoveryPlan } from '../common/dynamodb-backup';
import { APPLICATION, ARGOCD_NAMESPACE, DYNAMODB_CLAIM, EXTERNAL_NAME_ANNOTATION, MANAGED_TABLE, PAUSED_ANNOTATION, USAGE } from '../common/platform';
import type { ManagedTable } from '../common/platform';
import { progressQuery } from '../common/runbook';
import { waitFor } from '../platform-sim/seed';
import { ensureBackupBucket, seedInstanceTables } from '../scripts/seed/aws';
import { approvals, approveAs, awaitApprovalGate } from '../test-support/approvers';
import { compositionWithoutExternalNames, managedTablesOf } from '../test-support/crossplane';
import { instanceItems, tableItems } from '../test-support/dynamodb';
import type { ItemsByCanonicalText } from '../test-support/dynamodb';
import { approveIfAsked, instanceState, messages } from '../test-support/recovery';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const aws = awsClients();
const { kube, dynamodb, s3 } = aws;
const sizes = { users: 14, matches: 6, feedback: 5 };

beforeAll(() => ensureBackupBucket(s3, config.aws.backupBucket));
afterAll(() => aws.close());

function input(instance: string, extra: Partial<DynamoDbRecoveryInput> = {}): DynamoDbRecoveryInput {
  return { instance, options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'restore' }, export: { chunkMaxItems: 5 }, claimTimeoutMs: 150_000, ...extra };
}

function expectSameItems(what: string, after: ItemsByCanonicalText | undefined, before: ItemsByCanonicalText) {
  expect(after?.size, `${what} item count`).toBe(before.size);
  for (const [key, item] of before) expect(after?.get(key), `${what} item ${key.slice(0, 60)}`).toEqual(item);
}

async function expectEveryTableUnchanged(instance: string, before: Record<string, ItemsByCanonicalText>) {
  const after = await instanceItems(dynamodb, instance);
  for (const base of Object.keys(before)) expectSameItems(`${base}-${instance}`, after[base], before[base]!);
}

/** Approves the plan and returns the run's result (the run is expected to get to its approval). */
async function recover(instance: string, extra: Partial<DynamoDbRecoveryInput> = {}, onPlan?: (plan: DynamoDbRecoveryPlan) => void) {
  return withWorker(async ({ client, taskQueue }) => {
    const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, extra));
    const plan = (await awaitApprovalGate(handle)).plan as DynamoDbRecoveryPlan;
    onPlan?.(plan);
    await approveAs(handle, 'alice');
    return { plan, result: (await handle.result()) };
  }, { overrides: { approvals } });
}

async function tableStatus(tableName: string): Promise<string | undefined> {
  return dynamodb.send(new DescribeTableCommand({ TableName: tableName })).then(
    (r) => r.Table?.TableStatus,
    (err: unknown) => {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    },
  );
}

/** Until every managed Table object named is gone and the tables are ACTIVE: what lasts after the run. */
async function settled(objects: string[], tableNames: string[]) {
  for (const name of objects) {
    await waitFor(`managed Table ${name} gone`, async () => !(await getOrUndefined(kube.custom.getClusterCustomObject({ ...MANAGED_TABLE, name }))), 180_000);
  }
  for (const tableName of tableNames) await waitFor(`${tableName} ACTIVE`, async () => (await tableStatus(tableName)) === 'ACTIVE', 180_000);
}

describe('DynamoDB recovery on real Crossplane', { timeout: 420_000 }, () => {
  it('a managed Table still being deleted is waited out before the claim is recreated, so it cannot delete the recreated table (issue 14, 1)', async () => {
    const instance = uniqueInstance('ddb-xp-stale');
    await seedForTest(instance, { sizes });
    const users = `users-${instance}`;
    // As on AWS, the table stays DELETING a while: the provider's next looks at it back off (1, 2, 4, 8, 16 s).
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: users }));
    await dynamodb.send(new TagResourceCommand({ ResourceArn: Table!.TableArn!, Tags: [{ Key: 'vcp-emulator/deleting-ms', Value: '20000' }] }));
    const before = await instanceItems(dynamodb, instance);

    const { plan, result } = await recover(instance);
    expect(result.outcome, result.reason).toBe('succeeded');
    // The old Table of users-… was gone (observed after the table vanished) before the new claim existed.
    expect(result.details!.durations.deleteSeconds).toBeGreaterThanOrEqual(20);
    const oldObjects = plan.tables.map((t) => t.managedBy!);
    await settled(oldObjects, plan.tables.map((t) => t.tableName));
    await expectEveryTableUnchanged(instance, before);
  });

  it('managementPolicies without Delete orphan the tables whatever deletionPolicy says: the runbook deletes them itself and restores them', async () => {
    const instance = uniqueInstance('ddb-xp-mp');
    await seedForTest(instance, { sizes, managementPolicies: ['Observe', 'Create', 'Update', 'LateInitialize'] });
    const before = await instanceItems(dynamodb, instance);
    const { result } = await recover(instance, {}, (plan) => {
      expect(plan.tables.map((t) => [t.tableName, t.deletionPolicy, t.managementPolicies, t.deletedBy])).toEqual(
        ['users', 'matches', 'feedback'].map((b) => [`${b}-${instance}`, 'Delete', ['Observe', 'Create', 'Update', 'LateInitialize'], 'runbook']),
      );
      expect(plan.orphanedTablesToDelete).toEqual(['users', 'matches', 'feedback'].map((b) => `${b}-${instance}`));
    });
    expect(result.outcome, result.reason).toBe('succeeded');
    await expectEveryTableUnchanged(instance, before);
  });

  it('managementPolicies with Delete delete the tables with the claim even under deletionPolicy Orphan: the plan says so', async () => {
    const instance = uniqueInstance('ddb-xp-mpd');
    await seedForTest(instance, { sizes, deletionPolicy: 'Orphan', managementPolicies: ['Observe', 'Create', 'Update', 'Delete', 'LateInitialize'] });
    const before = await instanceItems(dynamodb, instance);
    const { result } = await recover(instance, {}, (plan) => {
      expect(plan.tables.map((t) => [t.deletionPolicy, t.deletedBy])).toEqual([['Orphan', 'claim'], ['Orphan', 'claim'], ['Orphan', 'claim']]);
      expect(plan.orphanedTablesToDelete).toEqual([]);
    });
    expect(result.outcome, result.reason).toBe('succeeded');
    await expectEveryTableUnchanged(instance, before);
  });

  it('a paused claim is refused before anything changes, saying why; paused after the approval, the delete is refused and nothing is deleted', async () => {
    const instance = uniqueInstance('ddb-xp-paused');
    await seedForTest(instance, { sizes });
    const before = await instanceItems(dynamodb, instance);
    const stateBefore = await instanceState(kube, instance);
    const pause = (paused: boolean) =>
      kube.custom.patchNamespacedCustomObject(
        { ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb`, body: { metadata: { annotations: { [PAUSED_ANNOTATION]: paused ? 'true' : null } } } },
        MERGE_PATCH,
      );
    try {
      await pause(true);
      const refused = await withWorker(async ({ client, taskQueue }) => approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance))), { overrides: { approvals } });
      expect(refused.asked).toBe(false);
      expect(messages(refused.failure)).toMatch(new RegExp(`VirtualCoffeeDynamoDBClaim ${instance}-dynamodb is paused \\(annotation crossplane.io/paused: "true"\\)`));
      expect(await instanceState(kube, instance)).toEqual(stateBefore);
      await pause(false);

      // Paused between the approval and the delete (held at the confirmation after the backup).
      const failure = await withWorker(async ({ client, taskQueue }) => {
        const handle = await startDynamoDbRecovery(client, taskQueue, input(instance, { confirmAfterBackup: true }));
        const first = await awaitApprovalGate(handle);
        await approveAs(handle, 'alice');
        for (;;) {
          const p = await handle.query(progressQuery);
          if (p.status === 'AwaitingApproval' && p.approval?.planDigest !== first.approval?.planDigest) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        await pause(true);
        await approveAs(handle, 'carol');
        return handle.result().then(() => undefined, (err: unknown) => err);
      }, { overrides: { approvals } });
      expect(messages(failure)).toMatch(/not deleting claim .* is paused/);
      expect(messages(failure)).not.toMatch(/CLAIM WAS DELETED/);
      expect((await instanceState(kube, instance)).claimUid).toBe(stateBefore.claimUid);
    } finally {
      await pause(false);
    }
    await expectEveryTableUnchanged(instance, before);
  });

  it('a Table protected by a Usage is refused before anything changes, naming the Usage (Crossplane\'s webhook would refuse its deletion)', async () => {
    const instance = uniqueInstance('ddb-xp-usage');
    await seedForTest(instance, { sizes });
    const before = await instanceItems(dynamodb, instance);
    const stateBefore = await instanceState(kube, instance);
    const users = (await managedTablesOf(kube, instance)).find((t) => t.metadata.annotations?.[EXTERNAL_NAME_ANNOTATION] === `users-${instance}`)!;
    const usage = `protect-${instance}`;
    await kube.custom.createClusterCustomObject({
      ...USAGE,
      body: {
        apiVersion: `${USAGE.group}/${USAGE.version}`,
        kind: USAGE.kind,
        metadata: { name: usage },
        spec: { of: { apiVersion: `${MANAGED_TABLE.group}/${MANAGED_TABLE.version}`, kind: MANAGED_TABLE.kind, resourceRef: { name: users.metadata.name } }, reason: 'audit hold' },
      },
    });
    try {
      // The Usage controller marks what it protects; only then does the webhook refuse deletes.
      await waitFor('Table marked in use', async () => {
        const t = (await kube.custom.getClusterCustomObject({ ...MANAGED_TABLE, name: users.metadata.name })) as ManagedTable;
        return t.metadata.labels?.['crossplane.io/in-use'] === 'true';
      });
      const refused = await withWorker(async ({ client, taskQueue }) => approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance))), { overrides: { approvals } });
      expect(refused.asked).toBe(false);
      expect(messages(refused.failure)).toMatch(new RegExp(`Table ${users.metadata.name} is in use \\(Usage ${usage} \\(audit hold\\)\\): Crossplane's webhook refuses its deletion`));
      expect(await instanceState(kube, instance)).toEqual(stateBefore);
    } finally {
      await kube.custom.deleteClusterCustomObject({ ...USAGE, name: usage }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    await expectEveryTableUnchanged(instance, before);
  });

  it('a Composition that does not patch external names: refused before anything changes (a recreated claim would create tables under new names)', async () => {
    const instance = uniqueInstance('ddb-xp-unnamed');
    const compositionName = await compositionWithoutExternalNames(kube);
    await seedForTest(instance, { sizes, compositionName, fillTables: false });
    // The platform tables exist too (unmanaged), so nothing but the names stops a recovery.
    await seedInstanceTables(dynamodb, instance, sizes);
    const tables = await managedTablesOf(kube, instance);
    const generated = tables.map((t) => t.metadata.annotations?.[EXTERNAL_NAME_ANNOTATION] ?? t.metadata.name);
    expect(generated.every((name, i) => name === tables[i]!.metadata.name)).toBe(true);
    const before: Record<string, ItemsByCanonicalText> = { ...(await instanceItems(dynamodb, instance)), generated: await tableItems(dynamodb, generated[0]!) };
    const stateBefore = await instanceState(kube, instance);

    const refused = await withWorker(async ({ client, taskQueue }) => approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance))), { overrides: { approvals } });
    expect(refused.asked).toBe(false);
    expect(messages(refused.failure)).toMatch(/names its table after its own generated name .*: the Composition does not patch crossplane.io\/external-name/);
    expect(await instanceState(kube, instance)).toEqual(stateBefore);
    const after = await instanceItems(dynamodb, instance);
    for (const base of ['users', 'matches', 'feedback']) expectSameItems(base, after[base], before[base]!);
    expectSameItems(generated[0]!, await tableItems(dynamodb, generated[0]!), before.generated!);
  });

  it('an Application managed by a parent (app of apps) is refused before anything changes: the parent would undo the sync pause (issue 14, 5)', async () => {
    const instance = uniqueInstance('ddb-xp-owned');
    await seedForTest(instance, { sizes });
    const before = await instanceItems(dynamodb, instance);
    // Argo CD's annotation tracking marks an Application that a parent Application manages.
    await kube.custom.patchNamespacedCustomObject(
      {
        ...APPLICATION,
        namespace: ARGOCD_NAMESPACE,
        name: `virtual-coffee-${instance}`,
        body: { metadata: { annotations: { 'argocd.argoproj.io/tracking-id': `platform-apps:argoproj.io/Application:${ARGOCD_NAMESPACE}/virtual-coffee-${instance}` } } },
      },
      MERGE_PATCH,
    );
    const stateBefore = await instanceState(kube, instance);
    const refused = await withWorker(async ({ client, taskQueue }) => approveIfAsked<DynamoDbRecoveryDetails>(await startDynamoDbRecovery(client, taskQueue, input(instance))), { overrides: { approvals } });
    expect(refused.asked).toBe(false);
    expect(messages(refused.failure)).toMatch(new RegExp(`Application virtual-coffee-${instance} is managed by Application platform-apps, which rewrites its spec and would undo the pause`));
    expect(await instanceState(kube, instance)).toEqual(stateBefore);
    await expectEveryTableUnchanged(instance, before);
  });
});
