/**
 * What the claim's polls wait for in DynamoDB itself: its tables gone after the claim's deletion, and
 * ACTIVE after its recreation, before anything is written to them.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { tableStatus } from './dynamodb-tables';

/** Each of these tables that still exists, in words ("table t still exists (DELETING)"). */
export async function tablesStillThere(dynamodb: DynamoDBClient, tableNames: string[]): Promise<string[]> {
  const waiting: string[] = [];
  for (const tableName of tableNames) {
    const status = await tableStatus(dynamodb, tableName);
    if (status !== undefined) waiting.push(`table ${tableName} still exists (${status})`);
  }
  return waiting;
}

/** The first of these tables that is not ACTIVE, in words, or undefined when all are. */
export async function firstTableNotActive(dynamodb: DynamoDBClient, tableNames: string[]): Promise<string | undefined> {
  for (const tableName of tableNames) {
    const status = await tableStatus(dynamodb, tableName);
    if (status !== 'ACTIVE') return `table ${tableName} is ${status ?? 'missing'}`;
  }
  return undefined;
}
