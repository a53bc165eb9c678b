/**
 * Demo and test data on the AWS side: the instance's platform tables with realistic rows, and the
 * backup bucket. Deterministic (a seeded generator), so tests can assert against what was created.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutBucketVersioningCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { BucketLocationConstraint, S3Client } from '@aws-sdk/client-s3';

export interface SeedSizes {
  users: number;
  matches: number;
  feedback: number;
}

export const DEFAULT_SEED_SIZES: SeedSizes = { users: 40, matches: 25, feedback: 15 };

type Item = Record<string, AttributeValue>;

/** The platform's table definitions, as the Crossplane composition provisions them. */
export function platformTableDefinitions(instance: string): CreateTableCommandInput[] {
  return [
    {
      TableName: `users-${instance}`,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'user_id', AttributeType: 'S' },
        { AttributeName: 'email', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'user_id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        { IndexName: 'email-index', KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } },
      ],
    },
    {
      TableName: `matches-${instance}`,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'match_id', AttributeType: 'S' },
        { AttributeName: 'match_date', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'match_id', KeyType: 'HASH' },
        { AttributeName: 'match_date', KeyType: 'RANGE' },
      ],
    },
    {
      TableName: `feedback-${instance}`,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'feedback_id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'feedback_id', KeyType: 'HASH' }],
    },
  ];
}

/** A small deterministic generator (mulberry32): the same seed gives the same rows. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST_NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Radia', 'Guido', 'Frances'];
const TOPICS = ['kubernetes', 'rust', 'gardening', 'coffee', 'climbing', 'jazz', 'chess', 'typescript'];

export function seedItems(instance: string, sizes: SeedSizes = DEFAULT_SEED_SIZES): Record<string, Item[]> {
  const random = generator(instance.split('').reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const users: Item[] = Array.from({ length: sizes.users }, (_, i) => {
    const name = pick(FIRST_NAMES);
    return {
      user_id: { S: `u-${String(i).padStart(5, '0')}` },
      email: { S: `${name.toLowerCase()}.${i}@example.org` },
      name: { S: `${name} ${String.fromCharCode(65 + (i % 26))}.` },
      active: { BOOL: random() > 0.2 },
      interests: { SS: [...new Set([pick(TOPICS), pick(TOPICS)])] },
      timezone_offset_minutes: { N: String(Math.floor(random() * 24 - 12) * 60) },
      created_at: { S: new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString() },
    };
  });
  const matches: Item[] = Array.from({ length: sizes.matches }, (_, i) => ({
    match_id: { S: `m-${String(i).padStart(5, '0')}` },
    match_date: { S: new Date(Date.UTC(2026, 0, 5) + (i % 10) * 7 * 86_400_000).toISOString().slice(0, 10) },
    participants: { L: [{ S: `u-${String(i % sizes.users).padStart(5, '0')}` }, { S: `u-${String((i * 7 + 3) % sizes.users).padStart(5, '0')}` }] },
    status: { S: pick(['scheduled', 'completed', 'cancelled']) },
  }));
  const feedback: Item[] = Array.from({ length: sizes.feedback }, (_, i) => ({
    feedback_id: { S: `f-${String(i).padStart(5, '0')}` },
    match_id: { S: `m-${String(i % Math.max(sizes.matches, 1)).padStart(5, '0')}` },
    rating: { N: String(1 + Math.floor(random() * 5)) },
    comment: { S: pick(['Great chat!', 'Lovely person', 'We ran out of time', 'Would meet again', '']) },
  }));
  return { [`users-${instance}`]: users, [`matches-${instance}`]: matches, [`feedback-${instance}`]: feedback };
}

export async function createPlatformTables(dynamodb: DynamoDBClient, instance: string): Promise<void> {
  for (const definition of platformTableDefinitions(instance)) {
    try {
      await dynamodb.send(new CreateTableCommand(definition));
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err;
    }
    await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60 }, { TableName: definition.TableName });
    await dynamodb.send(new DescribeTableCommand({ TableName: definition.TableName }));
  }
}

export async function writeItems(dynamodb: DynamoDBClient, tableName: string, items: Item[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    let pending: Record<string, { PutRequest: { Item: Item } }[]> = {
      [tableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
    };
    while (Object.keys(pending).length > 0) {
      const result = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: pending }));
      pending = (result.UnprocessedItems ?? {}) as typeof pending;
    }
  }
}

/** Creates the instance's tables and fills them; returns what was written, per table. */
export async function seedInstanceTables(
  dynamodb: DynamoDBClient,
  instance: string,
  sizes: SeedSizes = DEFAULT_SEED_SIZES,
): Promise<Record<string, Item[]>> {
  await createPlatformTables(dynamodb, instance);
  const items = seedItems(instance, sizes);
  for (const [tableName, rows] of Object.entries(items)) await writeItems(dynamodb, tableName, rows);
  return items;
}

export async function ensureBackupBucket(s3: S3Client, bucket: string): Promise<void> {
  const region = await s3.config.region();
  // Outside us-east-1, S3 requires the location constraint to match the endpoint's region.
  const location = region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint };
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: location }));
  } catch (err) {
    const alreadyOurs = err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou';
    if (!alreadyOurs) throw err;
  }
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
}
