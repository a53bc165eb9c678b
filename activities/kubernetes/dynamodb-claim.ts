/**
 * The DynamoDB recovery's Crossplane steps: read the claim and what it composes, delete it (only with
 * this run's verified backup of every table it owns at that moment), wait for its tables to go,
 * recreate it from the captured spec, and wait for it to be ready.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { KubeClients } from './client';
import { getOrUndefined, isConflict } from './client';
import { tableStatus } from '../aws/dynamodb-tables';
import type { EvidenceDeps } from '../aws/backup-evidence';
import { requireVerifiedBackup } from '../aws/backup-evidence';
import type { BackupRef, ClaimInfo } from '../../common/dynamodb-backup';
import { ownedTables } from '../../common/dynamodb-recovery-plan';
import { dynamodbClaimName } from '../../common/instance';
import { conditionStatus, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, EXTERNAL_NAME_ANNOTATION, MANAGED_TABLE } from '../../common/platform';
import type { DynamoDbClaim, DynamoDbComposite, ManagedTable } from '../../common/platform';

export const CLAIM_ANNOTATIONS = {
  /** On a recreated claim: the run that recreated it. */
  recreatedBy: 'vcp-runbooks.io/recreated-by',
  /** On a recreated claim: the s3:// URL of the backup manifest it is restored from. */
  restoredFrom: 'vcp-runbooks.io/restored-from',
  /** On a recreated claim: that manifest's SHA-256. */
  restoredFromSha256: 'vcp-runbooks.io/restored-from-sha256',
} as const;

/** The label Crossplane puts on every resource a composite composes. */
export const COMPOSITE_LABEL = 'crossplane.io/composite';

export class ClaimNotFoundError extends Error {
  override readonly name = 'ClaimNotFoundError';
}

/**
 * "Not yet": a failure the workflow's retry policy polls on. BENIGN, so the worker logs each poll at
 * debug level and counts no failure metric; retried exactly like any other retryable failure.
 */
export function notYet(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: NOT_READY_YET, message, category: ApplicationFailureCategory.BENIGN });
}

export const NOT_READY_YET = 'NotReadyYet';

export function createDynamoDbClaimActivities(deps: { kube: KubeClients; dynamodb: DynamoDBClient } & EvidenceDeps) {
  const { kube, dynamodb } = deps;
  const claimName = dynamodbClaimName;
  const readClaim = (instance: string) =>
    getOrUndefined(kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: claimName(instance) })) as Promise<
      DynamoDbClaim | undefined
    >;

  async function describeClaim(instance: string, claim: DynamoDbClaim): Promise<ClaimInfo> {
    const ref = claim.spec.resourceRef;
    const composite = ref
      ? ((await getOrUndefined(kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: ref.name }))) as DynamoDbComposite | undefined)
      : undefined;
    // What the composite owns: its resourceRefs, and every Table labelled as composed by it (Crossplane
    // labels composed resources; a Table missing from resourceRefs is deleted with the composite all the same).
    const tables = new Map<string, ManagedTable>();
    for (const tableRef of composite?.spec.resourceRefs ?? []) {
      const table = (await getOrUndefined(kube.custom.getClusterCustomObject({ ...MANAGED_TABLE, name: tableRef.name }))) as ManagedTable | undefined;
      if (table) tables.set(table.metadata.name, table);
    }
    if (composite) {
      const labelSelector = `${COMPOSITE_LABEL}=${composite.metadata.name}`;
      const labelled = (await kube.custom.listClusterCustomObject({ ...MANAGED_TABLE, labelSelector })) as { items: ManagedTable[] };
      for (const table of labelled.items) tables.set(table.metadata.name, table);
    }
    const managedTables: ClaimInfo['managedTables'] = [];
    for (const table of [...tables.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      managedTables.push({
        name: table.metadata.name,
        tableName: table.metadata.annotations?.[EXTERNAL_NAME_ANNOTATION] ?? table.metadata.name,
        deletionPolicy: table.spec.deletionPolicy ?? 'Delete',
      });
    }
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
      conditions: (claim.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason })),
      composite: composite ? { name: composite.metadata.name, uid: composite.metadata.uid } : ref ? { name: ref.name } : undefined,
      managedTables,
      ...(restoredFrom ? { restoredFrom: { manifest: restoredFrom, sha256: annotations[CLAIM_ANNOTATIONS.restoredFromSha256] ?? '' } } : {}),
    };
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
      const claim = await readClaim(input.instance);
      if (!claim || claim.metadata.uid !== input.uid) return { deleted: false };
      const owned = ownedTables(input.instance, (await describeClaim(input.instance, claim)).managedTables);
      const what = `delete claim ${claim.metadata.name}, which owns ${owned.join(', ')}`;
      const manifest = await requireVerifiedBackup(deps, input.backup, owned, what);
      if (manifest.instance !== input.instance) {
        throw ApplicationFailure.create({ type: 'BackupNotVerified', message: `refusing to ${what}: the backup is of instance ${String(manifest.instance)}`, nonRetryable: true });
      }
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
    },

    /** Polled: the claim and its composite are gone and every table answers ResourceNotFound (or is orphaned). */
    async checkClaimDeleted(input: { instance: string; uid: string; composite?: string; tableNames: string[]; orphanedTables: string[] }): Promise<{ gone: true }> {
      const claim = await readClaim(input.instance);
      if (claim && claim.metadata.uid === input.uid) throw notYet(`claim ${claim.metadata.name} is still being deleted`);
      if (input.composite) {
        const composite: unknown = await getOrUndefined(kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: input.composite }));
        if (composite) throw notYet(`composite ${input.composite} still exists`);
      }
      for (const tableName of input.tableNames) {
        if (input.orphanedTables.includes(tableName)) continue;
        const status = await tableStatus(dynamodb, tableName);
        if (status !== undefined) throw notYet(`table ${tableName} still exists (${status})`);
      }
      return { gone: true };
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

    /** Polled: the claim is Synced and Ready, and every table is ACTIVE. */
    async checkClaimReady(input: { instance: string; tableNames: string[] }): Promise<{ ready: true }> {
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
      for (const tableName of input.tableNames) {
        const status = await tableStatus(dynamodb, tableName);
        if (status !== 'ACTIVE') throw notYet(`table ${tableName} is ${status ?? 'missing'}`);
      }
      return { ready: true };
    },
  };
}
