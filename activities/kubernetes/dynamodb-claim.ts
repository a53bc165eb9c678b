/**
 * The DynamoDB recovery's Crossplane steps: read the claim and what it composes, delete it (only with
 * this run's verified backup of every table it owns at that moment), wait until its composite, every
 * managed Table object and every table are gone, recreate it from the captured spec, and wait for it
 * to be ready with Tables naming the same tables.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from './client';
import { getOrUndefined, isConflict } from './client';
import { firstTableNotActive, tablesStillThere } from '../aws/dynamodb-table-waits';
import { tableEmptiness } from '../aws/dynamodb';
import { notYet } from '../not-ready';
import type { EvidenceDeps } from '../aws/backup-evidence';
import { requireVerifiedBackup } from '../aws/backup-evidence';
import type { BackupRef, ClaimInfo, ManagedTableInfo } from '../../common/dynamodb-backup';
import { ownedTables } from '../../common/dynamodb-recovery-plan';
import { dynamodbClaimName } from '../../common/instance';
import { conditionStatus, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, EXTERNAL_NAME_ANNOTATION, IN_USE_LABEL, MANAGED_TABLE, PAUSED_ANNOTATION, USAGE } from '../../common/platform';
import type { DynamoDbClaim, DynamoDbComposite, ManagedTable, ObjectMeta, Usage } from '../../common/platform';

const CLAIM_ANNOTATIONS = {
  /** On a recreated claim: the run that recreated it. */
  recreatedBy: 'vcp-runbooks.io/recreated-by',
  /** On a recreated claim: the s3:// URL of the backup manifest it is restored from. */
  restoredFrom: 'vcp-runbooks.io/restored-from',
  /** On a recreated claim: that manifest's SHA-256. */
  restoredFromSha256: 'vcp-runbooks.io/restored-from-sha256',
} as const;

/** The label Crossplane puts on every resource a composite composes. */
export const COMPOSITE_LABEL = 'crossplane.io/composite';

class ClaimNotFoundError extends Error {
  override readonly name = 'ClaimNotFoundError';
}

/** What stops a deletion for good until someone acts: final, so the run says so instead of timing out. */
function deletionBlocked(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'DeletionBlocked', message, nonRetryable: true });
}

type Described = { kind: string; metadata: ObjectMeta };

const isPaused = (o: Described) => o.metadata.annotations?.[PAUSED_ANNOTATION] === 'true';
const isInUse = (o: Described) => o.metadata.labels?.[IN_USE_LABEL] === 'true';

/** The table a managed Table names: its external name, which the provider defaults to the object's name. */
function managedTableInfo(table: ManagedTable): ManagedTableInfo {
  const tableName = table.metadata.annotations?.[EXTERNAL_NAME_ANNOTATION] ?? table.metadata.name;
  const policies = table.spec.managementPolicies;
  const generated = table.metadata.generateName;
  return {
    name: table.metadata.name,
    uid: table.metadata.uid,
    tableName,
    deletionPolicy: table.spec.deletionPolicy ?? 'Delete',
    ...(policies && !(policies.length === 1 && policies[0] === '*') ? { managementPolicies: policies } : {}),
    ...(generated && tableName === table.metadata.name && tableName.startsWith(generated) ? { nameGenerated: true } : {}),
  };
}
export function createDynamoDbClaimActivities(deps: { kube: KubeClients; dynamodb: DynamoDBClient } & EvidenceDeps) {
  const { kube, dynamodb } = deps;
  const claimName = dynamodbClaimName;
  const readClaim = (instance: string) =>
    getOrUndefined(kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: claimName(instance) })) as Promise<
      DynamoDbClaim | undefined
    >;
  const readComposite = (name: string) => getOrUndefined(kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name })) as Promise<DynamoDbComposite | undefined>;
  const readTable = (name: string) => getOrUndefined(kube.custom.getClusterCustomObject({ ...MANAGED_TABLE, name })) as Promise<ManagedTable | undefined>;

  /** The Usages that protect an object, named for the operator (best effort: without access to Usages, just "a Usage"). */
  async function usagesOf(object: Described): Promise<string> {
    try {
      const usages = (await kube.custom.listClusterCustomObject({ ...USAGE })) as { items: Usage[] };
      const of = usages.items.filter((u) => u.spec.of.kind === object.kind && u.spec.of.resourceRef?.name === object.metadata.name);
      if (of.length > 0) return of.map((u) => `Usage ${u.metadata.name}${u.spec.reason ? ` (${u.spec.reason})` : u.spec.by?.resourceRef ? ` (used by ${u.spec.by.kind} ${u.spec.by.resourceRef.name})` : ''}`).join(', ');
    } catch {
      // Listing Usages is only for the message.
    }
    return 'a Usage';
  }

  /** Why deleting these objects would never finish: paused, or protected by a Usage (Crossplane's webhook refuses the delete). */
  async function blockersOf(objects: Described[], deleting: boolean): Promise<string[]> {
    const blockers: string[] = [];
    for (const o of objects) {
      const what = `${o.kind} ${o.metadata.name}`;
      if (isPaused(o)) {
        blockers.push(`${what} is paused (annotation ${PAUSED_ANNOTATION}: "true"): Crossplane does not reconcile it, so its deletion ${deleting ? 'does' : 'would'} not finish; remove the annotation`);
      }
      // Once deleting, a Usage added later changes nothing: the webhook only refuses the delete request itself.
      if (isInUse(o) && !o.metadata.deletionTimestamp) {
        blockers.push(`${what} is in use (${await usagesOf(o)}): Crossplane's webhook refuses its deletion; delete the Usage`);
      }
    }
    return blockers;
  }

  async function describeClaim(instance: string, claim: DynamoDbClaim): Promise<ClaimInfo> {
    const ref = claim.spec.resourceRef;
    const composite = ref ? await readComposite(ref.name) : undefined;
    // What the composite owns: its resourceRefs, and every Table labelled as composed by it (Crossplane
    // labels composed resources; a Table missing from resourceRefs is deleted with the composite all the same).
    const tables = new Map<string, ManagedTable>();
    for (const tableRef of composite?.spec.resourceRefs ?? []) {
      if (tableRef.kind !== MANAGED_TABLE.kind || tableRef.apiVersion !== `${MANAGED_TABLE.group}/${MANAGED_TABLE.version}`) continue;
      const table = await readTable(tableRef.name);
      if (table) tables.set(table.metadata.name, table);
    }
    if (composite) {
      const labelSelector = `${COMPOSITE_LABEL}=${composite.metadata.name}`;
      const labelled = (await kube.custom.listClusterCustomObject({ ...MANAGED_TABLE, labelSelector })) as { items: ManagedTable[] };
      for (const table of labelled.items) tables.set(table.metadata.name, table);
    }
    const sorted = [...tables.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const managedTables = sorted.map(managedTableInfo);
    const objects: Described[] = [
      { kind: DYNAMODB_CLAIM.kind, metadata: claim.metadata },
      ...(composite ? [{ kind: DYNAMODB_COMPOSITE.kind, metadata: composite.metadata }] : []),
      ...sorted.map((t) => ({ kind: MANAGED_TABLE.kind, metadata: t.metadata })),
    ];
    const deletionBlockers = await blockersOf(objects, false);
    const { resourceRef: _ref, ...spec } = claim.spec;
    const annotations = claim.metadata.annotations ?? {};
    const restoredFrom = annotations[CLAIM_ANNOTATIONS.restoredFrom];
    return {
      name: claim.metadata.name,
      namespace: instance,
      uid: claim.metadata.uid!,
      resourceVersion: claim.metadata.resourceVersion!,
      spec,
      labels: claim.metadata.labels ?? {},
      conditions: (claim.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, ...(c.message ? { message: c.message } : {}) })),
      managedTableStatus: sorted.map((t) => ({
        name: t.metadata.name,
        tableName: managedTableInfo(t).tableName,
        conditions: (t.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, ...(c.message ? { message: c.message } : {}) })),
        ...(Array.isArray(t.spec.forProvider.keySchema) ? { keySchema: t.spec.forProvider.keySchema as { attributeName: string; keyType: string }[] } : {}),
      })),
      composite: composite ? { name: composite.metadata.name, uid: composite.metadata.uid } : ref ? { name: ref.name } : undefined,
      managedTables,
      ...(deletionBlockers.length > 0 ? { deletionBlockers } : {}),
      ...(restoredFrom ? { restoredFrom: { manifest: restoredFrom, sha256: annotations[CLAIM_ANNOTATIONS.restoredFromSha256] ?? '' } } : {}),
    };
  }

  /**
   * Deletes the claim, only the planned incarnation (UID precondition), only when nothing blocks its
   * deletion and `precondition` (given every table it owns now) does not refuse. Idempotent.
   */
  async function deleteClaimIf(input: { instance: string; uid: string }, precondition: (owned: string[], what: string) => Promise<void>): Promise<{ deleted: boolean }> {
    const claim = await readClaim(input.instance);
    if (!claim || claim.metadata.uid !== input.uid) return { deleted: false };
    const described = await describeClaim(input.instance, claim);
    const owned = ownedTables(input.instance, described.managedTables);
    const what = `delete claim ${claim.metadata.name}, which owns ${owned.join(', ')}`;
    if (described.deletionBlockers) throw deletionBlocked(`refusing to ${what}: ${described.deletionBlockers.join('; ')}`);
    await precondition(owned, what);
    try {
      await kube.custom.deleteNamespacedCustomObject({
        ...DYNAMODB_CLAIM,
        namespace: input.instance,
        name: claimName(input.instance),
        body: { preconditions: { uid: input.uid } },
      });
    } catch (err) {
      if (isConflict(err)) return { deleted: false };
      throw err;
    }
    return { deleted: true };
  }

  return {
    /** The claim, its composite and managed Tables (deletion policy, external name); read-only. */
    async inspectDynamoDbClaim(instance: string): Promise<ClaimInfo> {
      const claim = await readClaim(instance);
      if (!claim) {
        throw new ClaimNotFoundError(`claim ${DYNAMODB_CLAIM.plural}.${DYNAMODB_CLAIM.group}/${claimName(instance)} not found in namespace ${instance}`);
      }
      return describeClaim(instance, claim);
    },

    /**
     * Deletes the claim, only the incarnation that was planned (UID precondition), and only when
     * `backup` is this run's verified backup of every table the claim owns now: deleting the claim
     * deletes them all. Idempotent.
     */
    async deleteDynamoDbClaim(input: { instance: string; uid: string; backup: BackupRef }): Promise<{ deleted: boolean }> {
      return deleteClaimIf(input, async (owned, what) => {
        const manifest = await requireVerifiedBackup(deps, input.backup, owned, what);
        if (manifest.instance !== input.instance) {
          throw ApplicationFailure.create({ type: 'BackupNotVerified', message: `refusing to ${what}: the backup is of instance ${String(manifest.instance)}`, nonRetryable: true });
        }
      });
    },

    /**
     * recreate-claim's delete: the planned claim (UID precondition), without a backup, so only while
     * every table it owns is empty or missing, checked here right before the delete (a Scan of Limit
     * 1 each), whoever scheduled it. Idempotent.
     */
    async deleteEmptyDynamoDbClaim(input: { instance: string; uid: string }): Promise<{ deleted: boolean }> {
      return deleteClaimIf(input, async (owned, what) => {
        const holding = (await Promise.all(owned.map((t) => tableEmptiness(dynamodb, t)))).filter((t) => t.holdsItems).map((t) => t.tableName);
        if (holding.length > 0) {
          throw ApplicationFailure.create({
            type: 'TablesNotEmpty',
            message: `refusing to ${what} without a backup: ${holding.join(', ')} ${holding.length > 1 ? 'hold' : 'holds'} items; use runbook recover-dynamodb ${input.instance}`,
            nonRetryable: true,
          });
        }
      });
    },


    /**
     * Polled: the claim, its composite and every managed Table object it had are gone, and every
     * table answers ResourceNotFound (except those the runbook deletes itself). The Table objects
     * matter as much as the tables: a Table still being deleted observes its table again after a
     * backoff (up to a minute), and would delete a recreated table of the same name as its own.
     * A deletion that cannot finish (paused, protected by a Usage) fails at once, saying why.
     */
    async checkClaimDeleted(input: {
      instance: string;
      uid: string;
      composite?: string;
      managedTables?: Pick<ManagedTableInfo, 'name' | 'uid' | 'tableName'>[];
      tableNames: string[];
      orphanedTables: string[];
    }): Promise<{ gone: true }> {
      const waiting: string[] = [];
      const remaining: Described[] = [];
      const claim = await readClaim(input.instance);
      if (claim && claim.metadata.uid === input.uid) {
        waiting.push(`claim ${claim.metadata.name} is still being deleted`);
        remaining.push({ kind: DYNAMODB_CLAIM.kind, metadata: claim.metadata });
      }
      const composite = input.composite ? await readComposite(input.composite) : undefined;
      if (composite) {
        waiting.push(`composite ${input.composite} still exists`);
        remaining.push({ kind: DYNAMODB_COMPOSITE.kind, metadata: composite.metadata });
      }
      for (const planned of input.managedTables ?? []) {
        const table = await readTable(planned.name);
        if (!table || (planned.uid && table.metadata.uid !== planned.uid)) continue;
        const error = table.status?.conditions?.find((c) => c.type === 'Synced' && c.status === 'False');
        waiting.push(`managed Table ${planned.name} (${planned.tableName}) still exists${error?.message ? `: ${error.message}` : ''}`);
        remaining.push({ kind: MANAGED_TABLE.kind, metadata: table.metadata });
      }
      const blockers = await blockersOf(remaining, true);
      if (blockers.length > 0) throw deletionBlocked(`the deletion of claim ${claimName(input.instance)} cannot finish: ${blockers.join('; ')}`);
      waiting.push(...(await tablesStillThere(dynamodb, input.tableNames.filter((t) => !input.orphanedTables.includes(t)))));
      if (waiting.length > 0) throw notYet(waiting.join('; '));
      return { gone: true };
    },

    /**
     * Polled before a claim is recreated when no live claim owns these tables (a resume): no managed
     * Table may still name one of them. One being deleted is waited out (it would delete the
     * recreated table of its name); one that is not belongs to something else and is refused.
     */
    async checkTablesReleased(input: { tableNames: string[] }): Promise<{ released: true }> {
      const tables = (await kube.custom.listClusterCustomObject({ ...MANAGED_TABLE })) as { items: ManagedTable[] };
      const naming = tables.items.map((t) => ({ table: t, info: managedTableInfo(t) })).filter(({ info }) => input.tableNames.includes(info.tableName));
      const blockers = await blockersOf(naming.map(({ table }) => ({ kind: MANAGED_TABLE.kind, metadata: table.metadata })), true);
      if (blockers.length > 0) throw deletionBlocked(`not recreating the claim: managed Tables that name its tables cannot be deleted: ${blockers.join('; ')}`);
      const live = naming.filter(({ table }) => !table.metadata.deletionTimestamp);
      if (live.length > 0) {
        const owners = live.map(({ info }) => `Table ${info.name} manages ${info.tableName}`).join('; ');
        throw ApplicationFailure.create({ type: 'TablesManagedElsewhere', message: `not recreating the claim: ${owners}, and the claim's Tables would manage the same tables`, nonRetryable: true });
      }
      if (naming.length > 0) throw notYet(naming.map(({ info }) => `managed Table ${info.name} (${info.tableName}) is still being deleted`).join('; '));
      return { released: true };
    },

    /**
     * Recreates the claim from the captured spec (no resourceRef, no status), annotated with the
     * backup it is restored from, so a resume can tell it from a claim that holds live data. Idempotent.
     */
    async createDynamoDbClaim(input: {
      instance: string;
      spec: Record<string, unknown>;
      labels: Record<string, string>;
      recreatedBy: string;
      restoredFrom?: { manifest: string; sha256: string };
    }): Promise<{ uid: string; created: boolean }> {
      const existing = await readClaim(input.instance);
      if (existing) return { uid: existing.metadata.uid!, created: false };
      const annotations: Record<string, string> = { [CLAIM_ANNOTATIONS.recreatedBy]: input.recreatedBy };
      if (input.restoredFrom) {
        annotations[CLAIM_ANNOTATIONS.restoredFrom] = input.restoredFrom.manifest;
        annotations[CLAIM_ANNOTATIONS.restoredFromSha256] = input.restoredFrom.sha256;
      }
      const body = {
        apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`,
        kind: DYNAMODB_CLAIM.kind,
        metadata: { name: claimName(input.instance), namespace: input.instance, labels: input.labels, annotations },
        spec: input.spec,
      };
      try {
        const created = (await kube.custom.createNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: input.instance, body })) as DynamoDbClaim;
        return { uid: created.metadata.uid!, created: true };
      } catch (err) {
        if (!isConflict(err)) throw err;
        const now = await readClaim(input.instance);
        return { uid: now!.metadata.uid!, created: false };
      }
    },

    /**
     * Polled: the claim is Synced and Ready, its Tables name every table in `managedTableNames` (else
     * the Composition names tables differently now, and waiting would never end), and every table
     * is ACTIVE.
     */
    async checkClaimReady(input: { instance: string; tableNames: string[]; managedTableNames?: string[] }): Promise<{ ready: true }> {
      const claim = await readClaim(input.instance);
      if (!claim) throw notYet(`claim ${claimName(input.instance)} does not exist yet`);
      const synced = claim.status?.conditions?.find((c) => c.type === 'Synced');
      if (synced?.status === 'False' && synced.reason === 'ReconcileError') {
        // Crossplane keeps retrying, but the runbook reports it rather than waiting silently.
        throw notYet(`claim is not Synced: ${synced.message ?? synced.reason}`);
      }
      if (conditionStatus(claim.status?.conditions, 'Synced') !== 'True' || conditionStatus(claim.status?.conditions, 'Ready') !== 'True') {
        throw notYet(`claim not Synced/Ready yet (Synced=${conditionStatus(claim.status?.conditions, 'Synced')}, Ready=${conditionStatus(claim.status?.conditions, 'Ready')})`);
      }
      if (input.managedTableNames) {
        const named = (await describeClaim(input.instance, claim)).managedTables.map((t) => t.tableName);
        const missing = input.managedTableNames.filter((t) => !named.includes(t));
        if (missing.length > 0) {
          throw ApplicationFailure.create({
            type: 'ClaimTablesChanged',
            message: `the recreated claim's Tables name ${named.join(', ') || 'no table'}, not ${missing.join(', ')}: the Composition names its tables differently from when the backup was taken`,
            nonRetryable: true,
          });
        }
      }
      const notActive = await firstTableNotActive(dynamodb, input.tableNames);
      if (notActive) throw notYet(notActive);
      return { ready: true };
    },
  };
}
