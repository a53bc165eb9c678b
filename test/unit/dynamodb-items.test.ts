/** Pure code of the DynamoDB backup format: exact values, canonical digests, definition comparison. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { canonicalItem, fromWire, itemFromWire, ItemDigest, itemToWire, MalformedItemError, primaryKeyOf } from '../../activities/aws/dynamodb-items';
import { definitionDifferences } from '../../activities/aws/dynamodb-tables';
import { addDigests, EMPTY_DIGEST, parseS3Url, segmentsFor } from '../../common/dynamodb-backup';
import type { TableDefinition } from '../../common/dynamodb-backup';

const item: Record<string, AttributeValue> = {
  id: { S: 'a' },
  n: { N: '12345678901234567890123456789012345678' },
  b: { B: Uint8Array.from([0, 255, 7]) },
  set: { SS: ['z', 'a', ''] },
  nested: { M: { y: { L: [{ NULL: true }, { BS: [Uint8Array.from([2]), Uint8Array.from([1])] }] }, x: { BOOL: false } } },
};

describe('DynamoDB items', () => {
  it('round-trips through the wire form (JSON) with every value exact', () => {
    const line = JSON.stringify(itemToWire(item));
    expect(line).toContain('"N":"12345678901234567890123456789012345678"');
    expect(itemFromWire(JSON.parse(line))).toEqual({ ...item, b: { B: Buffer.from([0, 255, 7]) }, nested: { M: { y: { L: [{ NULL: true }, { BS: [Buffer.from([2]), Buffer.from([1])] }] }, x: { BOOL: false } } } });
  });

  it('canonical text ignores map-key and set-member order but not list order', () => {
    const reordered: Record<string, AttributeValue> = {
      nested: { M: { x: { BOOL: false }, y: { L: [{ NULL: true }, { BS: [Uint8Array.from([1]), Uint8Array.from([2])] }] } } },
      set: { SS: ['', 'a', 'z'] },
      b: { B: Uint8Array.from([0, 255, 7]) },
      n: { N: '12345678901234567890123456789012345678' },
      id: { S: 'a' },
    };
    expect(canonicalItem(reordered)).toBe(canonicalItem(item));
    const listSwapped = { ...item, nested: { M: { y: { L: [{ BS: [Uint8Array.from([2])] }, { NULL: true }] }, x: { BOOL: false } } } };
    expect(canonicalItem(listSwapped)).not.toBe(canonicalItem(item));
  });

  it('the table digest is independent of item order and changes when one value changes', () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ id: { S: `k${i}` }, v: { N: String(i) } }));
    const forward = new ItemDigest();
    const backward = new ItemDigest();
    items.forEach((i) => forward.add(i));
    [...items].reverse().forEach((i) => backward.add(i));
    expect(forward.digest).toBe(backward.digest);
    const halves = [new ItemDigest(), new ItemDigest()];
    items.forEach((i, n) => halves[n % 2]!.add(i));
    expect(addDigests(halves[0]!.digest, halves[1]!.digest)).toBe(forward.digest);
    const altered = new ItemDigest();
    items.forEach((i, n) => altered.add(n === 7 ? { ...i, v: { N: '700' } } : i));
    expect(altered.digest).not.toBe(forward.digest);
    expect(addDigests(EMPTY_DIGEST, forward.digest)).toBe(forward.digest);
  });

  it('refuses what is not DynamoDB JSON, and items without their key', () => {
    expect(() => fromWire({ X: 'nope' })).toThrow(MalformedItemError);
    expect(() => fromWire({ S: 'a', N: '1' })).toThrow(/exactly one type key/);
    expect(() => primaryKeyOf({ other: { S: 'x' } }, ['id'])).toThrow(/lacks key attribute id/);
  });

  it('segments grow with the table, and bad settings are refused', () => {
    expect(segmentsFor(0)).toBe(1);
    expect(segmentsFor(100_000)).toBe(4);
    expect(segmentsFor(10_000_000)).toBe(16);
    expect(() => segmentsFor(10, 0)).toThrow(/segments/);
    expect(parseS3Url('s3://bucket-1/a/b.json')).toEqual({ bucket: 'bucket-1', key: 'a/b.json' });
    expect(() => parseS3Url('https://example.com/x')).toThrow(/s3:\/\/bucket\/key/);
  });

  it('a recreated table with other keys is a key difference; other index changes are reported apart', () => {
    const captured: TableDefinition = {
      tableName: 't',
      keySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      attributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }, { AttributeName: 'email', AttributeType: 'S' }],
      billingMode: 'PAY_PER_REQUEST',
      globalSecondaryIndexes: [{ IndexName: 'email-index', KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } }],
      localSecondaryIndexes: [],
      timeToLive: { status: 'DISABLED' },
      pointInTimeRecovery: { status: 'DISABLED' },
      tags: [],
    };
    expect(definitionDifferences(captured, captured)).toEqual({ keys: [], other: [] });
    const numericKey = { ...captured, attributeDefinitions: [{ AttributeName: 'id', AttributeType: 'N' }] };
    expect(definitionDifferences(captured, numericKey).keys).toHaveLength(1);
    const noIndex = { ...captured, globalSecondaryIndexes: [] };
    expect(definitionDifferences(captured, noIndex)).toEqual({ keys: [], other: [expect.stringMatching(/global secondary indexes/)] });
  });
});
