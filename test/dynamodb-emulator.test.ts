import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateBackupCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ListTagsOfResourceCommand,
  TagResourceCommand,
  UntagResourceCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  TableNotFoundException,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { awsClients, config, uniqueInstance } from '../test-support/stack';

const EMULATOR = path.join(__dirname, '..', 'scripts', 'stack', 'dynamodb-emulator.js');

describe('DynamoDB emulator: TTL and point-in-time recovery on dynalite (scripts/stack/dynamodb-emulator.js)', () => {
  const aws = awsClients();
  const ddb = aws.dynamodb;
  const tables: string[] = [];
  afterAll(async () => {
    await Promise.allSettled(tables.map((TableName) => ddb.send(new DeleteTableCommand({ TableName }))));
    aws.close();
  });

  async function createTable(client: DynamoDBClient = ddb, TableName = uniqueInstance('emulator')): Promise<string> {
    await client.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    if (client === ddb) tables.push(TableName);
    return TableName;
  }

  const enableTtl = (TableName: string, client: DynamoDBClient = ddb) =>
    client.send(new UpdateTimeToLiveCommand({ TableName, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }));
  const describeTtl = async (TableName: string, client: DynamoDBClient = ddb) =>
    (await client.send(new DescribeTimeToLiveCommand({ TableName }))).TimeToLiveDescription;
  const describePitr = async (TableName: string) =>
    (await ddb.send(new DescribeContinuousBackupsCommand({ TableName }))).ContinuousBackupsDescription;

  it('tags: tag, untag and list belong to the table incarnation; a missing table is ResourceNotFound', async () => {
    const table = await createTable();
    const arnOf = async (TableName: string) => (await ddb.send(new DescribeTableCommand({ TableName }))).Table!.TableArn!;
    const listTags = async (ResourceArn: string) => (await ddb.send(new ListTagsOfResourceCommand({ ResourceArn }))).Tags;
    const arn = await arnOf(table);
    expect(await listTags(arn)).toEqual([]);
    await ddb.send(new TagResourceCommand({ ResourceArn: arn, Tags: [{ Key: 'team', Value: 'coffee' }, { Key: 'tier', Value: '1' }] }));
    await ddb.send(new UntagResourceCommand({ ResourceArn: arn, TagKeys: ['tier'] }));
    expect(await listTags(arn)).toEqual([{ Key: 'team', Value: 'coffee' }]);
    await ddb.send(new DeleteTableCommand({ TableName: table }));
    await expect(listTags(arn)).rejects.toBeInstanceOf(ResourceNotFoundException);
    await createTable(ddb, table);
    expect(await listTags(await arnOf(table))).toEqual([]);
  });

  it('enabling TTL shows ENABLED with its attribute; a second enable or a disable of a disabled TTL is refused as on AWS', async () => {
    const table = await createTable();
    expect(await describeTtl(table)).toEqual({ TimeToLiveStatus: 'DISABLED' });

    const updated = await enableTtl(table);
    expect(updated.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(await describeTtl(table)).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    await expect(enableTtl(table)).rejects.toMatchObject({ name: 'ValidationException', message: 'TimeToLive is already enabled' });

    await ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: false } }));
    expect(await describeTtl(table)).toEqual({ TimeToLiveStatus: 'DISABLED' });
    await expect(
      ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: false } })),
    ).rejects.toMatchObject({ name: 'ValidationException', message: 'TimeToLive is already disabled' });
  });

  it('a deleted and recreated table starts with TTL and point-in-time recovery DISABLED', async () => {
    const table = await createTable();
    await enableTtl(table);
    await ddb.send(new UpdateContinuousBackupsCommand({ TableName: table, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }));

    await ddb.send(new DeleteTableCommand({ TableName: table }));
    await createTable(ddb, table);

    expect(await describeTtl(table)).toEqual({ TimeToLiveStatus: 'DISABLED' });
    expect((await describePitr(table))?.PointInTimeRecoveryDescription).toEqual({ PointInTimeRecoveryStatus: 'DISABLED' });
  });

  it('point-in-time recovery: enabling reports ENABLED with its recovery period and restorable window; disabling reports DISABLED', async () => {
    const table = await createTable();
    expect(await describePitr(table)).toEqual({
      ContinuousBackupsStatus: 'ENABLED',
      PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'DISABLED' },
    });

    const before = Date.now();
    const updated = await ddb.send(
      new UpdateContinuousBackupsCommand({
        TableName: table,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 7 },
      }),
    );
    expect(updated.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe('ENABLED');
    const described = (await describePitr(table))?.PointInTimeRecoveryDescription;
    expect(described).toMatchObject({ PointInTimeRecoveryStatus: 'ENABLED', RecoveryPeriodInDays: 7 });
    // Restorable from the moment it was enabled (the SDK parses the epoch seconds into Dates).
    expect(described?.EarliestRestorableDateTime?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(described?.LatestRestorableDateTime?.getTime()).toBeGreaterThanOrEqual(described?.EarliestRestorableDateTime?.getTime() ?? Infinity);

    await ddb.send(new UpdateContinuousBackupsCommand({ TableName: table, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } }));
    expect((await describePitr(table))?.PointInTimeRecoveryDescription).toEqual({ PointInTimeRecoveryStatus: 'DISABLED' });
  });

  it('a table tagged vcp-emulator/deleting-ms stays DELETING that long, refuses a second DeleteTable as AWS does, then is gone; others go at once', async () => {
    const slow = await createTable();
    const quick = await createTable();
    const arn = (await ddb.send(new DescribeTableCommand({ TableName: slow }))).Table!.TableArn!;
    await ddb.send(new TagResourceCommand({ ResourceArn: arn, Tags: [{ Key: 'vcp-emulator/deleting-ms', Value: '1500' }] }));
    const started = Date.now();
    const deleted = await ddb.send(new DeleteTableCommand({ TableName: slow }));
    expect(deleted.TableDescription).toMatchObject({ TableName: slow, TableStatus: 'DELETING' });
    expect((await ddb.send(new DescribeTableCommand({ TableName: slow }))).Table?.TableStatus).toBe('DELETING');
    await expect(ddb.send(new DeleteTableCommand({ TableName: slow }))).rejects.toMatchObject({ name: 'ResourceInUseException' });
    const gone = (table: string) => ddb.send(new DescribeTableCommand({ TableName: table })).then(() => false, (err: unknown) => err instanceof ResourceNotFoundException);
    await ddb.send(new DeleteTableCommand({ TableName: quick }));
    // dynalite finishes a delete a moment after answering; "at once" is well before the slow one's 1.5 s.
    while (!(await gone(quick))) await new Promise((resolve) => setTimeout(resolve, 20));
    while (!(await gone(slow))) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  it('a missing table is ResourceNotFoundException for the TTL calls and TableNotFoundException for the continuous-backups calls', async () => {
    const missing = uniqueInstance('missing');
    await expect(describeTtl(missing)).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(enableTtl(missing)).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(describePitr(missing)).rejects.toBeInstanceOf(TableNotFoundException);
    await expect(
      ddb.send(new UpdateContinuousBackupsCommand({ TableName: missing, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })),
    ).rejects.toMatchObject({ name: 'TableNotFoundException', message: `Table not found: ${missing}` });
  });

  it('bad input is a ValidationException naming the field', async () => {
    const table = await createTable();
    await expect(
      ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: '', Enabled: true } })),
    ).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining("'timeToLiveSpecification.attributeName'") as unknown });
    await expect(
      ddb.send(
        new UpdateContinuousBackupsCommand({
          TableName: table,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 36 },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('recoveryPeriodInDays') as unknown });
    expect(await describeTtl(table)).toEqual({ TimeToLiveStatus: 'DISABLED' });
  });

  it('operations the emulator does not add still reach dynalite: CreateBackup is its UnknownOperationException', async () => {
    const table = await createTable();
    await expect(ddb.send(new CreateBackupCommand({ TableName: table, BackupName: 'b' }))).rejects.toMatchObject({
      name: 'UnknownOperationException',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('keeps the settings in its --path directory across a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vcp-emulator-'));
    try {
      let emulator = await startEmulator(dir);
      const client = new DynamoDBClient({ region: config.aws.region, endpoint: emulator.url });
      try {
        const table = await createTable(client, 'restarted');
        await enableTtl(table, client);
        await emulator.stop();
        emulator = await startEmulator(dir);
        const restarted = new DynamoDBClient({ region: config.aws.region, endpoint: emulator.url });
        try {
          expect(await describeTtl(table, restarted)).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
        } finally {
          restarted.destroy();
        }
      } finally {
        client.destroy();
        await emulator.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Starts a private emulator on a free port (the test stack's one is shared by other tests). */
async function startEmulator(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [EMULATOR, '--host', '127.0.0.1', '--port', '0', '--path', dir, '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening at: (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code}) before listening: ${output}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
