import { DescribeTableCommand, ResourceNotFoundException, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { heartbeat } from '@temporalio/activity';
import type { TableStatus } from '../../common/instance-status';
import { instanceTableNames } from '../../common/instance';
import { untilNotThrottled } from './dynamodb-retry';

/** Counts items with a paginated, consistent COUNT scan; DescribeTable's ItemCount is hours stale on AWS. */
export async function countItemsByScan(
  dynamodb: DynamoDBClient,
  tableName: string,
  onProgress: (counted: number) => void = (counted) => heartbeat({ tableName, counted }),
): Promise<number> {
  let count = 0;
  let exclusiveStartKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await untilNotThrottled(
      () => dynamodb.send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ConsistentRead: true, ExclusiveStartKey: exclusiveStartKey })),
      () => onProgress(count),
    );
    count += page.Count ?? 0;
    exclusiveStartKey = page.LastEvaluatedKey;
    onProgress(count);
  } while (exclusiveStartKey);
  return count;
}

/** What a table holds, by one consistent Scan of Limit 1: whether it exists and holds any item (without counting them all). */
export async function tableEmptiness(dynamodb: DynamoDBClient, tableName: string): Promise<TableEmptiness> {
  try {
    const page = await untilNotThrottled(() => dynamodb.send(new ScanCommand({ TableName: tableName, Limit: 1, ConsistentRead: true })));
    return { tableName, exists: true, holdsItems: (page.Items?.length ?? 0) > 0 || page.LastEvaluatedKey !== undefined };
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return { tableName, exists: false, holdsItems: false };
    throw err;
  }
}

export interface TableEmptiness {
  tableName: string;
  exists: boolean;
  holdsItems: boolean;
}

export function createDynamoDbActivities({ dynamodb }: { dynamodb: DynamoDBClient }) {
  return {
    /** Whether each table exists and holds any item (a Scan of Limit 1 each); read-only. */
    async checkTablesEmpty(tableNames: string[]): Promise<TableEmptiness[]> {
      return Promise.all(tableNames.map((tableName) => tableEmptiness(dynamodb, tableName)));
    },

    /** Status and item count of each of the instance's platform tables; read-only. */
    async describeInstanceTables(instance: string): Promise<TableStatus[]> {
      return Promise.all(
        instanceTableNames(instance).map(async (tableName): Promise<TableStatus> => {
          try {
            const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
            const itemCount = await countItemsByScan(dynamodb, tableName);
            return { tableName, exists: true, status: Table?.TableStatus, itemCount };
          } catch (err) {
            if (err instanceof ResourceNotFoundException) return { tableName, exists: false };
            throw err;
          }
        }),
      );
    },

    /**
     * Each of the instance's platform tables' status by DescribeTable alone, no item count: a fleet
     * read of 50 instances cannot afford a Scan of every table. Read-only.
     */
    async describeTableStatuses(instance: string): Promise<TableStatus[]> {
      return Promise.all(
        instanceTableNames(instance).map(async (tableName): Promise<TableStatus> => {
          try {
            const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
            return { tableName, exists: true, status: Table?.TableStatus };
          } catch (err) {
            if (err instanceof ResourceNotFoundException) return { tableName, exists: false };
            throw err;
          }
        }),
      );
    },
  };
}
