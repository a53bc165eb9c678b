import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  ScanCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { WriteRequest } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startDynamoDbFaultProxy } from '../test-support/dynamodb-fault-proxy';
import type { DynamoDbFaultProxy, DynamoDbFaultProxyOptions } from '../test-support/dynamodb-fault-proxy';
import { awsClients, config, uniqueInstance } from '../test-support/stack';

const target = ((): string => {
  const url = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!url) throw new Error('AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with make test or make test-only');
  return url;
})();

describe('DynamoDB fault proxy (test-support/dynamodb-fault-proxy.ts) in front of the test stack dynalite', () => {
  const aws = awsClients();
  // Tables are created and checked directly on dynalite, never through the proxy.
  const direct = aws.dynamodb;
  const tables: string[] = [];
  const opened: { proxy: DynamoDbFaultProxy; client: DynamoDBClient }[] = [];
  afterEach(async () => {
    for (const { proxy, client } of opened.splice(0)) {
      client.destroy();
      await proxy.close();
    }
  });
  afterAll(async () => {
    await Promise.allSettled(tables.map((TableName) => direct.send(new DeleteTableCommand({ TableName }))));
    aws.close();
  });

  async function createTable(): Promise<string> {
    const TableName = uniqueInstance('fault-proxy');
    await direct.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    tables.push(TableName);
    // dynalite answers ResourceNotFound to writes while a table is CREATING, which lasts longer under load.
    await waitUntilTableExists({ client: direct, maxWaitTime: 60 }, { TableName });
    return TableName;
  }

  async function throughProxy(options: Omit<DynamoDbFaultProxyOptions, 'target'>, maxAttempts: number) {
    const proxy = await startDynamoDbFaultProxy({ target, ...options });
    const client = new DynamoDBClient({ region: config.aws.region, endpoint: proxy.url, maxAttempts });
    opened.push({ proxy, client });
    return { proxy, client };
  }

  async function idsInTable(TableName: string): Promise<string[]> {
    const ids: string[] = [];
    let ExclusiveStartKey: Record<string, { S: string }> | undefined;
    do {
      const page = await direct.send(new ScanCommand({ TableName, ExclusiveStartKey }));
      ids.push(...(page.Items ?? []).map((item) => item.id?.S ?? ''));
      ExclusiveStartKey = page.LastEvaluatedKey as typeof ExclusiveStartKey;
    } while (ExclusiveStartKey);
    return ids.sort();
  }

  const ids = (n: number) => Array.from({ length: n }, (_, i) => `item-${String(i).padStart(3, '0')}`);

  it('with every 3rd request throttled, an SDK client with maxAttempts 10 still completes every put and a paginated scan', async () => {
    const table = await createTable();
    const { proxy, client } = await throughProxy({ throttleEveryNth: 3 }, 10);

    for (const id of ids(12)) await client.send(new PutItemCommand({ TableName: table, Item: { id: { S: id } } }));
    const scanned: string[] = [];
    let ExclusiveStartKey: Record<string, { S: string }> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: table, Limit: 5, ExclusiveStartKey }));
      scanned.push(...(page.Items ?? []).map((item) => item.id?.S ?? ''));
      ExclusiveStartKey = page.LastEvaluatedKey as typeof ExclusiveStartKey;
    } while (ExclusiveStartKey);

    expect(scanned.sort()).toEqual(ids(12));
    expect(await idsInTable(table)).toEqual(ids(12));
    expect(proxy.stats.throttled).toBeGreaterThan(0);
    // 12 puts and 3 scan pages reached dynalite; the throttled attempts did not.
    expect(proxy.stats.forwarded).toBe(15);
  });

  it('a throttled request is answered without reaching dynalite, as ProvisionedThroughputExceededException or ThrottlingException', async () => {
    const table = await createTable();
    const put = (client: DynamoDBClient) => client.send(new PutItemCommand({ TableName: table, Item: { id: { S: 'never' } } }));

    const provisioned = await throughProxy({ throttleEveryNth: 1 }, 1);
    await expect(put(provisioned.client)).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    const throttling = await throughProxy({ throttleEveryNth: 1, throttleError: 'ThrottlingException' }, 1);
    await expect(put(throttling.client)).rejects.toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

    expect([provisioned.proxy.stats, throttling.proxy.stats]).toEqual([
      { forwarded: 0, throttled: 1, unprocessedItems: 0 },
      { forwarded: 0, throttled: 1, unprocessedItems: 0 },
    ]);
    expect((await direct.send(new GetItemCommand({ TableName: table, Key: { id: { S: 'never' } } }))).Item).toBeUndefined();
  });

  it('with unprocessedFraction 0.3, a BatchWriteItem of 25 returns 7 UnprocessedItems that are not in the table until resent', async () => {
    const table = await createTable();
    const { proxy, client } = await throughProxy({ unprocessedFraction: 0.3 }, 1);
    const requests: WriteRequest[] = ids(25).map((id) => ({ PutRequest: { Item: { id: { S: id } } } }));

    const first = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
    const unprocessed = (first.UnprocessedItems?.[table] ?? []).map((r) => r.PutRequest?.Item?.id?.S ?? '').sort();
    expect(unprocessed).toHaveLength(7);
    expect(await idsInTable(table)).toEqual(ids(25).filter((id) => !unprocessed.includes(id)));

    // Resend what came back until nothing does, as a correct caller must.
    let pending = first.UnprocessedItems;
    let rounds = 0;
    while (pending && Object.keys(pending).length > 0) {
      expect(++rounds).toBeLessThanOrEqual(10);
      pending = (await client.send(new BatchWriteItemCommand({ RequestItems: pending }))).UnprocessedItems;
    }
    expect(await idsInTable(table)).toEqual(ids(25));
    expect(proxy.stats.unprocessedItems).toBeGreaterThan(7);
    expect(proxy.stats.forwarded).toBe(rounds + 1);
  });

  it('merges withheld requests into the UnprocessedItems the target returned, with a matching Content-Length and x-amz-crc32', async () => {
    // A stub target, since dynalite never returns UnprocessedItems itself.
    const fromTarget = { PutRequest: { Item: { id: { S: 'from-target' } } } };
    const stub = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ UnprocessedItems: { t: [fromTarget] } })));
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const proxy = await startDynamoDbFaultProxy({ target: `http://127.0.0.1:${(stub.address() as AddressInfo).port}`, unprocessedFraction: 0.5 });
    try {
      const requests = ['a', 'b', 'c', 'd'].map((id) => ({ PutRequest: { Item: { id: { S: id } } } }));
      const response = await fetch(proxy.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.BatchWriteItem' },
        body: JSON.stringify({ RequestItems: { t: requests } }),
      });
      const body = Buffer.from(await response.arrayBuffer());
      expect(Number(response.headers.get('content-length'))).toBe(body.length);
      expect(Number(response.headers.get('x-amz-crc32'))).toBe(crc32(body));
      // Every other request is withheld (items 2 and 4), after the target's own.
      expect(JSON.parse(body.toString())).toEqual({ UnprocessedItems: { t: [fromTarget, requests[1], requests[3]] } });
    } finally {
      await proxy.close();
      await new Promise((resolve) => stub.close(resolve));
    }
  });
});
