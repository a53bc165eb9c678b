/**
 * A table's full definition as the recovery captures it, and the settings it re-applies because the
 * Crossplane claim does not own them (TTL, tags, point-in-time recovery).
 */
import {
  CreateBackupCommand,
  DeleteTableCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ListTagsOfResourceCommand,
  ResourceNotFoundException,
  TagResourceCommand,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, TableDescription } from '@aws-sdk/client-dynamodb';
import type { TableDefinition, TableSnapshot } from '../../common/dynamodb-backup';
import { countItemsByScan } from './dynamodb';

/** The endpoint does not implement this API (emulators): the setting is recorded as unsupported. */
export function isUnsupported(err: unknown): boolean {
  return err instanceof Error && (err.name === 'UnknownOperationException' || /not (yet )?(implemented|supported)/i.test(err.message));
}

async function orUnsupported<T>(read: () => Promise<T>): Promise<T | 'unsupported'> {
  try {
    return await read();
  } catch (err) {
    if (isUnsupported(err)) return 'unsupported';
    throw err;
  }
}

export async function describeDefinition(dynamodb: DynamoDBClient, table: TableDescription): Promise<TableDefinition> {
  const tableName = table.TableName!;
  const ttl = await orUnsupported(() => dynamodb.send(new DescribeTimeToLiveCommand({ TableName: tableName })));
  const pitr = await orUnsupported(() => dynamodb.send(new DescribeContinuousBackupsCommand({ TableName: tableName })));
  const tags: { Key: string; Value: string }[] = [];
  if (table.TableArn) {
    let nextToken: string | undefined;
    do {
      const page = await dynamodb.send(new ListTagsOfResourceCommand({ ResourceArn: table.TableArn, NextToken: nextToken }));
      for (const t of page.Tags ?? []) tags.push({ Key: t.Key!, Value: t.Value! });
      nextToken = page.NextToken;
    } while (nextToken);
  }
  const throughput = table.ProvisionedThroughput;
  return {
    tableName,
    tableArn: table.TableArn,
    keySchema: (table.KeySchema ?? []).map((k) => ({ AttributeName: k.AttributeName!, KeyType: k.KeyType! })),
    attributeDefinitions: (table.AttributeDefinitions ?? []).map((a) => ({ AttributeName: a.AttributeName!, AttributeType: a.AttributeType! })),
    billingMode: table.BillingModeSummary?.BillingMode ?? (throughput?.ReadCapacityUnits ? 'PROVISIONED' : 'PAY_PER_REQUEST'),
    provisionedThroughput: throughput?.ReadCapacityUnits
      ? { ReadCapacityUnits: throughput.ReadCapacityUnits, WriteCapacityUnits: throughput.WriteCapacityUnits }
      : undefined,
    globalSecondaryIndexes: (table.GlobalSecondaryIndexes ?? []).map((g) => ({
      IndexName: g.IndexName!,
      KeySchema: g.KeySchema ?? [],
      Projection: g.Projection ?? {},
      ProvisionedThroughput: g.ProvisionedThroughput?.ReadCapacityUnits
        ? { ReadCapacityUnits: g.ProvisionedThroughput.ReadCapacityUnits, WriteCapacityUnits: g.ProvisionedThroughput.WriteCapacityUnits }
        : undefined,
    })),
    localSecondaryIndexes: (table.LocalSecondaryIndexes ?? []).map((l) => ({ IndexName: l.IndexName!, KeySchema: l.KeySchema ?? [], Projection: l.Projection ?? {} })),
    stream: table.StreamSpecification ? { StreamEnabled: table.StreamSpecification.StreamEnabled, StreamViewType: table.StreamSpecification.StreamViewType } : undefined,
    sse: table.SSEDescription ? { Status: table.SSEDescription.Status, SSEType: table.SSEDescription.SSEType, KMSMasterKeyArn: table.SSEDescription.KMSMasterKeyArn } : undefined,
    timeToLive:
      ttl === 'unsupported'
        ? { status: 'unsupported' }
        : {
            status: ttl.TimeToLiveDescription?.TimeToLiveStatus ?? 'DISABLED',
            attributeName: ttl.TimeToLiveDescription?.AttributeName,
          },
    pointInTimeRecovery:
      pitr === 'unsupported'
        ? { status: 'unsupported' }
        : { status: pitr.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus === 'ENABLED' ? 'ENABLED' : 'DISABLED' },
    tags,
  };
}

/** Existence, status, full definition and a scanned item count; read-only. */
export async function snapshotTable(dynamodb: DynamoDBClient, tableName: string, onProgress: () => void): Promise<TableSnapshot> {
  let table: TableDescription | undefined;
  try {
    table = (await dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return { tableName, exists: false };
    throw err;
  }
  if (!table) return { tableName, exists: false };
  const definition = await describeDefinition(dynamodb, table);
  const itemCount = await countItemsByScan(dynamodb, tableName, onProgress);
  return { tableName, exists: true, status: table.TableStatus, definition, itemCount, sizeBytes: table.TableSizeBytes };
}

/**
 * Re-applies what the claim does not own, to match the captured definition. Idempotent: a setting
 * already in place is left alone. Returns what it changed and what the endpoint cannot do.
 */
export async function applyTableSettings(dynamodb: DynamoDBClient, tableName: string, captured: TableDefinition): Promise<string[]> {
  const applied: string[] = [];
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  const live = await describeDefinition(dynamodb, Table!);
  if (captured.timeToLive.status === 'ENABLED' || captured.timeToLive.status === 'ENABLING') {
    if (live.timeToLive.status === 'unsupported') applied.push('ttl: not supported by this endpoint');
    else if (live.timeToLive.status !== 'ENABLED' && live.timeToLive.status !== 'ENABLING') {
      await dynamodb.send(
        new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: captured.timeToLive.attributeName! } }),
      );
      applied.push(`ttl: enabled on ${captured.timeToLive.attributeName}`);
    }
  }
  if (captured.pointInTimeRecovery.status === 'ENABLED') {
    if (live.pointInTimeRecovery.status === 'unsupported') applied.push('pitr: not supported by this endpoint');
    else if (live.pointInTimeRecovery.status !== 'ENABLED') {
      await dynamodb.send(new UpdateContinuousBackupsCommand({ TableName: tableName, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }));
      applied.push('pitr: enabled');
    }
  }
  const liveTags = new Map(live.tags.map((t) => [t.Key, t.Value]));
  const missing = captured.tags.filter((t) => liveTags.get(t.Key) !== t.Value);
  if (missing.length > 0 && Table?.TableArn) {
    await dynamodb.send(new TagResourceCommand({ ResourceArn: Table.TableArn, Tags: missing }));
    applied.push(`tags: ${missing.map((t) => t.Key).join(', ')}`);
  }
  return applied;
}

/** A native on-demand backup as a second net; emulators without the API report it as unsupported. */
export async function createNativeBackup(dynamodb: DynamoDBClient, tableName: string, backupName: string): Promise<{ tableName: string; backupArn?: string; unsupported?: boolean }> {
  try {
    const { BackupDetails } = await dynamodb.send(new CreateBackupCommand({ TableName: tableName, BackupName: backupName.slice(0, 255) }));
    return { tableName, backupArn: BackupDetails?.BackupArn };
  } catch (err) {
    if (isUnsupported(err)) return { tableName, unsupported: true };
    throw err;
  }
}

export async function tableStatus(dynamodb: DynamoDBClient, tableName: string): Promise<string | undefined> {
  try {
    return (await dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.TableStatus;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

export async function deleteTableIfExists(dynamodb: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await dynamodb.send(new DeleteTableCommand({ TableName: tableName }));
    return true;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return false;
    throw err;
  }
}

/**
 * How a recreated table differs from the captured definition in what the claim owns (keys, indexes,
 * billing). Key differences make an import impossible; the others are reported.
 */
export function definitionDifferences(captured: TableDefinition, live: TableDefinition): { keys: string[]; other: string[] } {
  const text = (v: unknown) => JSON.stringify(v);
  const byName = <T extends { IndexName: string }>(list: T[]) => [...list].sort((a, b) => a.IndexName.localeCompare(b.IndexName));
  const keys: string[] = [];
  const other: string[] = [];
  if (text(captured.keySchema) !== text(live.keySchema)) keys.push(`key schema ${text(live.keySchema)}, captured ${text(captured.keySchema)}`);
  const keyTypes = (d: TableDefinition) => d.keySchema.map((k) => d.attributeDefinitions.find((a) => a.AttributeName === k.AttributeName)?.AttributeType);
  if (text(keyTypes(captured)) !== text(keyTypes(live))) keys.push(`key attribute types ${text(keyTypes(live))}, captured ${text(keyTypes(captured))}`);
  const indexes = (d: TableDefinition) => byName(d.globalSecondaryIndexes).map((g) => ({ name: g.IndexName, keys: g.KeySchema, projection: g.Projection }));
  if (text(indexes(captured)) !== text(indexes(live))) other.push(`global secondary indexes ${text(indexes(live))}, captured ${text(indexes(captured))}`);
  const locals = (d: TableDefinition) => byName(d.localSecondaryIndexes).map((l) => ({ name: l.IndexName, keys: l.KeySchema }));
  if (text(locals(captured)) !== text(locals(live))) other.push(`local secondary indexes ${text(locals(live))}, captured ${text(locals(captured))}`);
  if (captured.billingMode !== live.billingMode) other.push(`billing mode ${live.billingMode}, captured ${captured.billingMode}`);
  return { keys, other };
}

export async function compareWithCaptured(dynamodb: DynamoDBClient, tableName: string, captured: TableDefinition) {
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  return definitionDifferences(captured, await describeDefinition(dynamodb, Table!));
}
