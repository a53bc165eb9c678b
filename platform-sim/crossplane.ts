/**
 * A simulated Crossplane for the platform's DynamoDB claim, as far as the runbooks observe it. Not
 * product code.
 *
 * - A claim gets a composite (spec.resourceRef); the composite gets one managed Table per platform
 *   table (owned by the composite, external-name = the DynamoDB table name); each Table creates its
 *   table in the DynamoDB endpoint (or adopts an existing one) and reports Synced/Ready, and the
 *   claim mirrors the composite's conditions.
 * - Deleting the claim deletes the composite; the garbage collector deletes its Tables; each Table
 *   deletes its DynamoDB table asynchronously, unless its deletionPolicy is Orphan.
 * - Fault modes (claim annotations): table creation fails; deletion is slowed.
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KubeClients } from '../activities/kubernetes/client';
import { getOrUndefined, isConflict, isNotFound, MERGE_PATCH } from '../activities/kubernetes/client';
import { PLATFORM_TABLE_BASES } from '../common/instance';
import { conditionStatus, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, EXTERNAL_NAME_ANNOTATION, MANAGED_TABLE } from '../common/platform';
import type { Condition, DynamoDbClaim, DynamoDbComposite, ManagedTable } from '../common/platform';
import { platformTableDefinitions } from '../scripts/seed/aws';

export const CROSSPLANE_SIM = {
  /** Claim annotation: table creation fails with this message. */
  failCreate: 'sim.virtualcoffee.io/fail-create',
  /** Claim annotation: ms a Table waits before deleting its DynamoDB table (default 1000). */
  deleteDelayMs: 'sim.virtualcoffee.io/delete-delay-ms',
} as const;

const CLAIM_FINALIZER = 'finalizer.apiextensions.crossplane.io';
const MANAGED_FINALIZER = 'finalizer.managedresource.crossplane.io';
const apiVersion = (r: { group: string; version: string }) => `${r.group}/${r.version}`;

function condition(type: string, ok: boolean, reason: string, message?: string): Condition {
  return { type, status: ok ? 'True' : 'False', reason, message, lastTransitionTime: new Date().toISOString() };
}

/** A stable 5-letter suffix, as Crossplane gives generated composites. */
function suffix(uid: string): string {
  return uid.replace(/[^a-z0-9]/g, '').slice(0, 5);
}

export class CrossplaneSimulator {
  private readonly deletionSeenAt = new Map<string, number>();

  constructor(
    private readonly kube: KubeClients,
    private readonly dynamodb: DynamoDBClient,
  ) {}

  async reconcileAll(): Promise<void> {
    const claims = (await this.kube.custom.listClusterCustomObject({ ...DYNAMODB_CLAIM })) as { items: DynamoDbClaim[] };
    for (const claim of claims.items) await this.guard(`claim ${claim.metadata.namespace}/${claim.metadata.name}`, () => this.reconcileClaim(claim));
    const composites = (await this.kube.custom.listClusterCustomObject({ ...DYNAMODB_COMPOSITE })) as { items: DynamoDbComposite[] };
    for (const composite of composites.items) await this.guard(`composite ${composite.metadata.name}`, () => this.reconcileComposite(composite));
    const tables = (await this.kube.custom.listClusterCustomObject({ ...MANAGED_TABLE })) as { items: ManagedTable[] };
    for (const table of tables.items) await this.guard(`table ${table.metadata.name}`, () => this.reconcileTable(table));
  }

  private async guard(what: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      if (!isNotFound(err)) console.error(`crossplane-sim: ${what}:`, err);
    }
  }

  private async reconcileClaim(claim: DynamoDbClaim): Promise<void> {
    const { name, namespace } = claim.metadata as { name: string; namespace: string };
    const ref = claim.spec.resourceRef;
    if (claim.metadata.deletionTimestamp) {
      if (ref) {
        await getOrUndefined(this.kube.custom
          .deleteClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: ref.name, propagationPolicy: claim.spec.compositeDeletePolicy ?? 'Background' }));
        if (claim.spec.compositeDeletePolicy === 'Foreground') {
          const stillThere: unknown = await getOrUndefined(this.kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: ref.name }));
          if (stillThere) return;
        }
      }
      await this.setFinalizers(DYNAMODB_CLAIM, claim, (claim.metadata.finalizers ?? []).filter((f) => f !== CLAIM_FINALIZER), namespace);
      return;
    }
    if (!claim.metadata.finalizers?.includes(CLAIM_FINALIZER)) {
      await this.setFinalizers(DYNAMODB_CLAIM, claim, [...(claim.metadata.finalizers ?? []), CLAIM_FINALIZER], namespace);
    }
    if (!ref) {
      const compositeName = `${name}-${suffix(claim.metadata.uid ?? name)}`;
      const composite: DynamoDbComposite = {
        apiVersion: apiVersion(DYNAMODB_COMPOSITE),
        kind: DYNAMODB_COMPOSITE.kind,
        metadata: {
          name: compositeName,
          labels: { 'crossplane.io/claim-name': name, 'crossplane.io/claim-namespace': namespace },
          annotations: { ...pick(claim.metadata.annotations, Object.values(CROSSPLANE_SIM)) },
        },
        spec: {
          parameters: claim.spec.parameters,
          claimRef: { apiVersion: apiVersion(DYNAMODB_CLAIM), kind: DYNAMODB_CLAIM.kind, name, namespace },
        },
      };
      try {
        await this.kube.custom.createClusterCustomObject({ ...DYNAMODB_COMPOSITE, body: composite });
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      await this.kube.custom.patchNamespacedCustomObject(
        { ...DYNAMODB_CLAIM, namespace, name, body: { spec: { resourceRef: { apiVersion: apiVersion(DYNAMODB_COMPOSITE), kind: DYNAMODB_COMPOSITE.kind, name: compositeName } } } },
        MERGE_PATCH,
      );
      return;
    }
    const composite = (await getOrUndefined(this.kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: ref.name }))) as
      | DynamoDbComposite
      | undefined;
    const conditions = composite?.status?.conditions ?? [
      condition('Synced', false, 'ReconcileError', `composite ${ref.name} not found`),
      condition('Ready', false, 'Unavailable'),
    ];
    await this.setConditions(DYNAMODB_CLAIM, claim, conditions, namespace);
  }

  private async reconcileComposite(composite: DynamoDbComposite): Promise<void> {
    if (composite.metadata.deletionTimestamp) return;
    const instance = composite.spec.parameters.instance;
    const definitions = platformTableDefinitions(instance);
    const refs = [];
    let ready = true;
    let synced = true;
    let message: string | undefined;
    for (const base of PLATFORM_TABLE_BASES) {
      const tableName = `${base}-${instance}`;
      const name = `${composite.metadata.name}-${base}`;
      refs.push({ apiVersion: apiVersion(MANAGED_TABLE), kind: MANAGED_TABLE.kind, name });
      let table = (await getOrUndefined(this.kube.custom.getClusterCustomObject({ ...MANAGED_TABLE, name }))) as ManagedTable | undefined;
      if (!table) {
        const definition = definitions.find((d) => d.TableName === tableName)!;
        table = {
          apiVersion: apiVersion(MANAGED_TABLE),
          kind: MANAGED_TABLE.kind,
          metadata: {
            name,
            annotations: { [EXTERNAL_NAME_ANNOTATION]: tableName, ...pick(composite.metadata.annotations, Object.values(CROSSPLANE_SIM)) },
            labels: { 'crossplane.io/composite': composite.metadata.name },
            ownerReferences: [
              { apiVersion: apiVersion(DYNAMODB_COMPOSITE), kind: DYNAMODB_COMPOSITE.kind, name: composite.metadata.name, uid: composite.metadata.uid!, controller: true, blockOwnerDeletion: true },
            ],
          },
          spec: {
            deletionPolicy: composite.spec.parameters.deletionPolicy ?? 'Delete',
            forProvider: { region: composite.spec.parameters.region ?? 'us-west-2', ...toForProvider(definition) },
          },
        };
        await this.kube.custom.createClusterCustomObject({ ...MANAGED_TABLE, body: table });
      }
      ready &&= conditionStatus(table.status?.conditions, 'Ready') === 'True';
      if (conditionStatus(table.status?.conditions, 'Synced') === 'False') {
        synced = false;
        message = table.status?.conditions?.find((c) => c.type === 'Synced')?.message;
      }
    }
    const conditions = [
      condition('Synced', synced, synced ? 'ReconcileSuccess' : 'ReconcileError', message),
      condition('Ready', ready, ready ? 'Available' : 'Creating'),
    ];
    if (!sameConditions(composite.status?.conditions, conditions) || (composite.spec.resourceRefs ?? []).length !== refs.length) {
      await this.kube.custom.patchClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: composite.metadata.name, body: { spec: { resourceRefs: refs } } }, MERGE_PATCH);
      await this.setConditions(DYNAMODB_COMPOSITE, composite, conditions);
    }
  }

  private async reconcileTable(table: ManagedTable): Promise<void> {
    const tableName = table.metadata.annotations?.[EXTERNAL_NAME_ANNOTATION] ?? table.metadata.name;
    if (table.metadata.deletionTimestamp) {
      if (table.spec.deletionPolicy !== 'Orphan') {
        // Deletion is asynchronous, as with the real provider: the table lingers for a while.
        const delay = Number(table.metadata.annotations?.[CROSSPLANE_SIM.deleteDelayMs] ?? 1000);
        const seen = this.deletionSeenAt.get(table.metadata.uid!) ?? Date.now();
        this.deletionSeenAt.set(table.metadata.uid!, seen);
        if (Date.now() - seen < delay) return;
        try {
          await this.dynamodb.send(new DeleteTableCommand({ TableName: tableName }));
        } catch (err) {
          if (!(err instanceof ResourceNotFoundException)) throw err;
        }
      }
      this.deletionSeenAt.delete(table.metadata.uid!);
      await this.setFinalizers(MANAGED_TABLE, table, (table.metadata.finalizers ?? []).filter((f) => f !== MANAGED_FINALIZER));
      return;
    }
    if (!table.metadata.finalizers?.includes(MANAGED_FINALIZER)) {
      await this.setFinalizers(MANAGED_TABLE, table, [...(table.metadata.finalizers ?? []), MANAGED_FINALIZER]);
    }
    const failure = table.metadata.annotations?.[CROSSPLANE_SIM.failCreate];
    if (failure) {
      const conditions = [condition('Synced', false, 'ReconcileError', `create failed: ${failure}`), condition('Ready', false, 'Creating')];
      if (!sameConditions(table.status?.conditions, conditions)) await this.setConditions(MANAGED_TABLE, table, conditions);
      return;
    }
    let status: string | undefined;
    let arn: string | undefined;
    try {
      const { Table } = await this.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      status = Table?.TableStatus;
      arn = Table?.TableArn;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
      // Not there: create it (an existing table with the external name is adopted instead).
      try {
        await this.dynamodb.send(new CreateTableCommand(fromForProvider(tableName, table.spec.forProvider)));
      } catch (createErr) {
        if (!(createErr instanceof ResourceInUseException)) throw createErr;
      }
      status = 'CREATING';
    }
    const conditions = [condition('Synced', true, 'ReconcileSuccess'), condition('Ready', status === 'ACTIVE', status === 'ACTIVE' ? 'Available' : 'Creating')];
    if (!sameConditions(table.status?.conditions, conditions)) {
      await this.setConditions(MANAGED_TABLE, table, conditions, undefined, { arn, id: tableName });
    }
  }

  private async setFinalizers(
    resource: { group: string; version: string; plural: string },
    object: { metadata: { name: string; resourceVersion?: string } },
    finalizers: string[],
    namespace?: string,
  ): Promise<void> {
    // resourceVersion makes this a compare-and-swap: a concurrent change is retried next tick.
    const body = { metadata: { finalizers, resourceVersion: object.metadata.resourceVersion } };
    if (namespace) await this.kube.custom.patchNamespacedCustomObject({ ...resource, namespace, name: object.metadata.name, body }, MERGE_PATCH);
    else await this.kube.custom.patchClusterCustomObject({ ...resource, name: object.metadata.name, body }, MERGE_PATCH);
  }

  private async setConditions(
    resource: { group: string; version: string; plural: string },
    object: { metadata: { name: string } },
    conditions: Condition[],
    namespace?: string,
    atProvider?: Record<string, unknown>,
  ): Promise<void> {
    const body = { status: { conditions, ...(atProvider ? { atProvider } : {}) } };
    if (namespace) await this.kube.custom.patchNamespacedCustomObjectStatus({ ...resource, namespace, name: object.metadata.name, body }, MERGE_PATCH);
    else await this.kube.custom.patchClusterCustomObjectStatus({ ...resource, name: object.metadata.name, body }, MERGE_PATCH);
  }
}

function sameConditions(a: Condition[] | undefined, b: Condition[]): boolean {
  const key = (c: Condition) => `${c.type}=${c.status}:${c.reason ?? ''}:${c.message ?? ''}`;
  return (a ?? []).map(key).sort().join('|') === b.map(key).sort().join('|');
}

function pick(annotations: Record<string, string> | undefined, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations ?? {}).filter(([k]) => keys.includes(k)));
}

/** The DynamoDB table definition in the Upbound provider's forProvider shape. */
function toForProvider(definition: CreateTableCommandInput): Record<string, unknown> {
  const keyOf = (type: 'HASH' | 'RANGE', schema = definition.KeySchema ?? []) => schema.find((k) => k.KeyType === type)?.AttributeName;
  return {
    billingMode: definition.BillingMode,
    hashKey: keyOf('HASH'),
    rangeKey: keyOf('RANGE'),
    attribute: (definition.AttributeDefinitions ?? []).map((a) => ({ name: a.AttributeName, type: a.AttributeType })),
    globalSecondaryIndex: (definition.GlobalSecondaryIndexes ?? []).map((g) => ({
      name: g.IndexName,
      hashKey: keyOf('HASH', g.KeySchema),
      rangeKey: keyOf('RANGE', g.KeySchema),
      projectionType: g.Projection?.ProjectionType,
    })),
  };
}

interface ForProvider {
  billingMode?: 'PAY_PER_REQUEST' | 'PROVISIONED';
  hashKey: string;
  rangeKey?: string;
  attribute: { name: string; type: 'S' | 'N' | 'B' }[];
  globalSecondaryIndex?: { name: string; hashKey: string; rangeKey?: string; projectionType?: 'ALL' | 'KEYS_ONLY' | 'INCLUDE' }[];
}

function fromForProvider(tableName: string, raw: Record<string, unknown>): CreateTableCommandInput {
  const p = raw as unknown as ForProvider;
  const keys = (hash: string, range?: string) => [
    { AttributeName: hash, KeyType: 'HASH' as const },
    ...(range ? [{ AttributeName: range, KeyType: 'RANGE' as const }] : []),
  ];
  const gsis = (p.globalSecondaryIndex ?? []).map((g) => ({
    IndexName: g.name,
    KeySchema: keys(g.hashKey, g.rangeKey),
    Projection: { ProjectionType: g.projectionType ?? 'ALL' },
  }));
  return {
    TableName: tableName,
    BillingMode: p.billingMode ?? 'PAY_PER_REQUEST',
    AttributeDefinitions: p.attribute.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    KeySchema: keys(p.hashKey, p.rangeKey),
    GlobalSecondaryIndexes: gsis.length > 0 ? gsis : undefined,
  };
}
