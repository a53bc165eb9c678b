/**
 * Items in their exact DynamoDB form. The SDK's low-level client already keeps numbers as strings
 * (38 digits survive) and binary as bytes, so no value ever passes through a JS number: lines are
 * DynamoDB JSON (binary base64-encoded, as the wire protocol and `aws dynamodb scan` print them).
 */
import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { addToDigestSum, digestOfSum, EMPTY_DIGEST } from '../../common/dynamodb-backup';

export type Item = Record<string, AttributeValue>;

/** JSON-ready wire form: binary values become base64 strings. */
function toWire(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.M !== undefined) return { M: itemToWire(value.M) };
  if (value.L !== undefined) return { L: value.L.map(toWire) };
  return value;
}

export function itemToWire(item: Item): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) out[name] = toWire(value);
  return out;
}

export class MalformedItemError extends Error {
  override readonly name = 'MalformedItemError';
}

const SCALAR_TYPES = new Set(['S', 'N', 'BOOL', 'NULL', 'SS', 'NS']);

/** Wire form → SDK AttributeValue (binary decoded); anything that is not DynamoDB JSON is refused. */
export function fromWire(raw: unknown, where = 'value'): AttributeValue {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MalformedItemError(`${where}: not an AttributeValue`);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length !== 1) throw new MalformedItemError(`${where}: an AttributeValue has exactly one type key`);
  const [type, v] = entries[0]!;
  switch (type) {
    case 'B':
      if (typeof v !== 'string') throw new MalformedItemError(`${where}: B must be base64`);
      return { B: Buffer.from(v, 'base64') };
    case 'BS':
      if (!Array.isArray(v)) throw new MalformedItemError(`${where}: BS must be a list`);
      return { BS: v.map((b) => Buffer.from(String(b), 'base64')) };
    case 'M':
      return { M: itemFromWire(v, where) };
    case 'L':
      if (!Array.isArray(v)) throw new MalformedItemError(`${where}: L must be a list`);
      return { L: v.map((e, i) => fromWire(e, `${where}[${i}]`)) };
    default:
      if (!SCALAR_TYPES.has(type)) throw new MalformedItemError(`${where}: unknown AttributeValue type ${JSON.stringify(type)}`);
      return raw as AttributeValue;
  }
}

export function itemFromWire(raw: unknown, where = 'item'): Item {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MalformedItemError(`${where}: not an item`);
  const item: Item = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) item[name] = fromWire(value, `${where}.${name}`);
  return item;
}

/**
 * A canonical text of a value: map keys and set members sorted, so two equal items give the same
 * text whatever order DynamoDB returns them in. Lists keep their order (it is part of the value).
 */
function canonical(value: AttributeValue): string {
  if (value.S !== undefined) return `S${JSON.stringify(value.S)}`;
  if (value.N !== undefined) return `N${value.N}`;
  if (value.B !== undefined) return `B${Buffer.from(value.B).toString('base64')}`;
  if (value.BOOL !== undefined) return `BOOL${value.BOOL}`;
  if (value.NULL !== undefined) return 'NULL';
  if (value.SS !== undefined) return `SS[${[...value.SS].sort().map((s) => JSON.stringify(s)).join(',')}]`;
  if (value.NS !== undefined) return `NS[${[...value.NS].sort().join(',')}]`;
  if (value.BS !== undefined) return `BS[${value.BS.map((b) => Buffer.from(b).toString('base64')).sort().join(',')}]`;
  if (value.L !== undefined) return `L[${value.L.map(canonical).join(',')}]`;
  if (value.M !== undefined) return `M${canonicalItem(value.M)}`;
  throw new MalformedItemError('unknown AttributeValue type');
}

export function canonicalItem(item: Item): string {
  return `{${Object.keys(item)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(item[k]!)}`)
    .join(',')}}`;
}

function itemHash(item: Item): string {
  return createHash('sha256').update(canonicalItem(item)).digest('hex');
}

/** Accumulates the order-independent digest of a multiset of items. */
export class ItemDigest {
  private sum = 0n;
  count = 0;
  constructor(start: { digest: string; count: number } = { digest: EMPTY_DIGEST, count: 0 }) {
    this.sum = addToDigestSum(0n, start.digest);
    this.count = start.count;
  }
  add(item: Item): void {
    this.sum = addToDigestSum(this.sum, itemHash(item));
    this.count++;
  }
  get digest(): string {
    return digestOfSum(this.sum);
  }
}

/** The item's primary key as a canonical string (for duplicate detection). */
export function primaryKeyOf(item: Item, keyAttributes: string[]): string {
  return keyAttributes
    .map((name) => {
      const value = item[name];
      if (!value) throw new MalformedItemError(`item lacks key attribute ${name}`);
      return canonical(value);
    })
    .join('\u0000');
}

/**
 * What DynamoDB would reject mid-import, found before the first write: an item without one of the
 * table's key attributes, or with a key or index key attribute of another type than the table
 * defines (`S`, `N` or `B`).
 */
export function checkKeyAttributes(
  item: Item,
  table: { keySchema: { AttributeName: string }[]; attributeDefinitions: { AttributeName: string; AttributeType: string }[] },
  where: string,
): void {
  for (const { AttributeName } of table.keySchema) {
    if (!item[AttributeName]) throw new MalformedItemError(`${where}: lacks the table's key attribute ${AttributeName}`);
  }
  for (const { AttributeName, AttributeType } of table.attributeDefinitions) {
    const value = item[AttributeName];
    if (!value) continue;
    const type = Object.entries(value).find(([, v]) => v !== undefined)?.[0];
    if (type !== AttributeType) {
      throw new MalformedItemError(`${where}: ${AttributeName} is of type ${type}, the table defines it as ${AttributeType} (a key or index key)`);
    }
  }
}
