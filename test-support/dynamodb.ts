/** Reading tables back in tests, so two scans compare item by item. */
import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { canonicalItem } from '../activities/aws/dynamodb-items';
import { PLATFORM_TABLE_BASES } from '../common/instance';

export type ItemsByCanonicalText = Map<string, Record<string, AttributeValue>>;

/** Every item of a table (consistent scan), keyed by its canonical text. */
export async function tableItems(dynamodb: DynamoDBClient, tableName: string): Promise<ItemsByCanonicalText> {
  const items: ItemsByCanonicalText = new Map();
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) items.set(canonicalItem(item), item);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Every item of each of an instance's platform tables, by table base name. */
export async function instanceItems(dynamodb: DynamoDBClient, instance: string): Promise<Record<string, ItemsByCanonicalText>> {
  const out: Record<string, ItemsByCanonicalText> = {};
  for (const base of PLATFORM_TABLE_BASES) out[base] = await tableItems(dynamodb, `${base}-${instance}`);
  return out;
}

/** Every table's name on the endpoint: what a test checks no scratch table is left among. */
export async function allTableNames(dynamodb: DynamoDBClient): Promise<string[]> {
  const names: string[] = [];
  let start: string | undefined;
  do {
    const page = await dynamodb.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
    names.push(...(page.TableNames ?? []));
    start = page.LastEvaluatedTableName;
  } while (start);
  return names;
}
