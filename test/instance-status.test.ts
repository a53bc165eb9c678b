import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstanceStatus } from '../client/runbooks';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME } from '../common/definitions';
import { InvalidInputError } from '../common/instance';
import { seededRevisions } from '../platform-sim/seed';
import { ensureBackupBucket, seedInstanceTables } from '../scripts/seed/aws';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import { seedForTest } from '../test-support/seed';

describe('instance status workflow (real Temporal, dynalite, moto)', () => {
  const aws = awsClients();
  beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
  afterAll(() => aws.close());

  it('reports the seeded Application, Deployments, tables with scanned item counts, and the backup bucket', async () => {
    const instance = uniqueInstance('status');
    const seeded = await seedForTest(instance, { sizes: { users: 37, matches: 12, feedback: 0 }, replicas: { api: 3, frontend: 1 } });

    const { report, description } = await withWorker(async ({ client, taskQueue }) => {
      const handle = await startInstanceStatus(client, taskQueue, instance);
      return { report: await handle.result(), description: await handle.describe() };
    });

    expect(report.instance).toBe(instance);
    expect(report.application).toMatchObject({
      name: `virtual-coffee-${instance}`,
      exists: true,
      targetRevision: 'main',
      syncedRevision: seededRevisions()[2],
      syncStatus: 'Synced',
      health: 'Healthy',
      automatedSync: true,
      selfHeal: true,
    });
    expect(report.deployments.map((d) => [d.name, d.replicas, d.availableReplicas, d.available])).toEqual([
      ['virtual-coffee-api', 3, 3, true],
      ['virtual-coffee-frontend', 1, 1, true],
    ]);
    expect(report.deployments[0]?.images).toEqual(['ghcr.io/virtual-coffee/api:1.2.0']);
    expect(report.tables.map((t) => [t.tableName, t.exists, t.status, t.itemCount])).toEqual([
      [`users-${instance}`, true, 'ACTIVE', 37],
      [`matches-${instance}`, true, 'ACTIVE', 12],
      [`feedback-${instance}`, true, 'ACTIVE', 0],
    ]);
    expect(Object.keys(seeded.items)).toEqual(report.tables.map((t) => t.tableName));
    expect(report.backupBucket).toEqual({ bucket: config.aws.backupBucket, exists: true, versioning: 'Enabled', region: config.aws.region });
    expect(report.problems).toEqual([]);
    expect(report.healthy).toBe(true);
    expect(description.typedSearchAttributes.get(RUNBOOK_NAME)).toBe('instance-status');
    expect(description.typedSearchAttributes.get(RUNBOOK_INSTANCE)).toBe(instance);
  });

  it('names a missing Application, Deployments, table and backup bucket as problems', async () => {
    const instance = uniqueInstance('status');
    await seedInstanceTables(aws.dynamodb, instance, { users: 3, matches: 1, feedback: 1 });
    await aws.dynamodb.send(new DeleteTableCommand({ TableName: `matches-${instance}` }));

    const report = await withWorker(
      async ({ client, taskQueue }) => (await startInstanceStatus(client, taskQueue, instance)).result(),
      { overrides: { backupBucket: `missing-${instance}` } },
    );

    expect(report.tables.find((t) => t.tableName === `matches-${instance}`)).toEqual({ tableName: `matches-${instance}`, exists: false });
    expect(report.backupBucket).toEqual({ bucket: `missing-${instance}`, exists: false });
    expect(report.application).toEqual({ name: `virtual-coffee-${instance}`, exists: false });
    expect(report.problems).toEqual([
      `Argo CD Application virtual-coffee-${instance} does not exist`,
      'Deployment virtual-coffee-api does not exist',
      'Deployment virtual-coffee-frontend does not exist',
      `table matches-${instance} does not exist`,
      `backup bucket missing-${instance} does not exist`,
    ]);
    expect(report.healthy).toBe(false);
  });

  it('refuses an instance name that is not a DNS-1123 label, at the edge and in the workflow', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      await expect(startInstanceStatus(client, taskQueue, 'Bad_Name')).rejects.toThrow(InvalidInputError);

      // Bypass the edge check: the workflow itself must fail fast, not retry its task forever.
      const handle = await client.workflow.start('instanceStatus', {
        taskQueue,
        workflowId: uniqueInstance('bad-input'),
        args: [{ instance: 'Bad_Name' }],
      });
      const failure = await handle.result().then(
        () => expect.unreachable('the workflow accepted a bad instance name'),
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type).toBe('InvalidInputError');
      expect((cause as ApplicationFailure).nonRetryable).toBe(true);
      expect((cause as ApplicationFailure).message).toMatch(/not a DNS-1123 label/);
    });
  });
});
