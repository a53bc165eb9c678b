/**
 * What a DynamoDB recovery covers and what its plan says. Pure code (the workflow imports it).
 *
 * Deleting the claim deletes every table its composite's managed Tables name, so the recovery works
 * on exactly that set, together with the instance's platform tables: all of them are backed up,
 * deleted, restored and verified. Nothing the caller passes can shrink it.
 */
import { createsItsTable, deletesItsTable, describePolicies } from './crossplane';
import { segmentsFor } from './dynamodb-backup';
import type { ClaimInfo, DynamoDbRecoveryPlan, PlannedSource, TableSnapshot, WriterState } from './dynamodb-backup';
import { InvalidInputError, instanceTableNames } from './instance';

/** Rough emulator-measured rates for the plan's downtime estimate (items per second). */
const EXPORT_RATE = 15_000;
const IMPORT_RATE = 5_000;

/**
 * The platform tables first, in their usual order, then any other table the composite manages (or,
 * for a resume, the backup says the claim owned), sorted.
 */
export function ownedTables(instance: string, managedTables: ClaimInfo['managedTables'], alsoOwned: string[] = []): string[] {
  const platform = instanceTableNames(instance);
  const extra = [...new Set([...managedTables.map((t) => t.tableName), ...alsoOwned])].filter((t) => !platform.includes(t)).sort();
  return [...platform, ...extra];
}

/**
 * `tables` no longer selects a subset (that is how two tables were once lost): when given, it must
 * name every table the claim owns.
 */
export function requireTablesCoverOwned(claimName: string, requested: string[] | undefined, owned: string[]): void {
  if (!requested) return;
  const left = owned.filter((t) => !requested.includes(t));
  if (left.length === 0) return;
  throw new InvalidInputError(
    `deleting claim ${claimName} deletes every table it owns (${owned.join(', ')}), so a recovery backs up, restores and verifies all of them; ` +
      `tables=${requested.join(',')} leaves out ${left.join(', ')}: omit tables to recover every owned table`,
  );
}

/**
 * Tables that survive the claim's deletion: their Table orphans them (deletionPolicy with
 * managementPolicies, as crossplane-runtime decides), or the composite does not manage them.
 * The runbook deletes them itself once the backup is verified, so the import never lands in stale data.
 */
export function tablesLeftByClaimDeletion(owned: string[], snapshots: TableSnapshot[], managedTables: ClaimInfo['managedTables']): string[] {
  return owned.filter((tableName) => {
    if (!snapshots.find((s) => s.tableName === tableName)?.exists) return false;
    const managed = managedTables.find((t) => t.tableName === tableName);
    return !managed || !deletesItsTable(managed.deletionPolicy, managed.managementPolicies);
  });
}

/**
 * Why deleting and recreating this claim cannot give back every table, or undefined: its deletion
 * would not finish (paused, or protected by a Usage), or a recreated claim would not create a table
 * under the same name (the Composition does not patch its external name; its Table may not create).
 * A recovery refuses these before anything changes, instead of timing out after the delete.
 */
export function recreateRefusal(claim: Pick<ClaimInfo, 'name' | 'managedTables' | 'deletionBlockers'>): string | undefined {
  const reasons = [...(claim.deletionBlockers ?? [])];
  for (const t of claim.managedTables) {
    if (t.nameGenerated) {
      reasons.push(
        `Table ${t.name} names its table after its own generated name (${t.tableName}): the Composition does not patch crossplane.io/external-name, ` +
          'so the recreated claim would create a table under a new name and the backup could not go back into it; patch the external name in the Composition first',
      );
    }
    if (!createsItsTable(t.managementPolicies)) {
      reasons.push(`Table ${t.name} (${t.tableName}) may not create its table (${describePolicies(t.deletionPolicy, t.managementPolicies)}): the recreated claim would leave it missing`);
    }
  }
  return reasons.length > 0 ? `claim ${claim.name} cannot be deleted and recreated safely: ${reasons.join('; ')}` : undefined;
}

/**
 * A backup's table in this instance: the same name, or for another instance's backup (only when
 * allowed) the same base name (`users-a` → `users-b`).
 */
export function backupTableMapping(manifestInstance: string | undefined, instance: string, allowOtherInstance: boolean, source: string): (backupTable: string) => string {
  if (manifestInstance === instance) return (t) => t;
  if (!allowOtherInstance) {
    throw new InvalidInputError(
      manifestInstance
        ? `${source} is a backup of instance ${manifestInstance}, not ${instance}: pass allowOtherInstance (CLI: --from-other-instance) to restore it into ${instance}`
        : `${source} does not say which instance it is a backup of: pass allowOtherInstance (CLI: --from-other-instance) to restore it into ${instance}`,
    );
  }
  if (!manifestInstance) return (t) => t;
  return (t) => {
    const suffix = `-${manifestInstance}`;
    if (!t.endsWith(suffix)) throw new InvalidInputError(`backup table ${t} is not named <base>-${manifestInstance}: no table of ${instance} corresponds to it`);
    return `${t.slice(0, -suffix.length)}-${instance}`;
  };
}

/** The claim spec to recreate from another instance's backup names this instance. */
export function specForInstance(spec: Record<string, unknown>, instance: string): Record<string, unknown> {
  const parameters = spec.parameters as Record<string, unknown> | undefined;
  return parameters && parameters.instance !== instance ? { ...spec, parameters: { ...parameters, instance } } : spec;
}

export interface ResumeFacts {
  instance: string;
  source: PlannedSource;
  /** The tables the recreated claim will own: the platform tables, the backup's owned tables, a live claim's. */
  expectedTables: string[];
  /** The claim as it is now, if it exists. */
  liveClaim?: Pick<ClaimInfo, 'name' | 'uid' | 'restoredFrom'>;
  /** A restore from this backup into the live claim already finished (its record exists). */
  restoreFinished: boolean;
  /** The target tables now. */
  snapshots: TableSnapshot[];
}

/**
 * Why a resume must not run, or undefined. A resume imports over whatever the tables hold, so it
 * runs only where they hold nothing but part of this very backup: the claim is gone, or it is the
 * claim a recovery from this backup (same URL and SHA-256) recreated and whose restore never finished.
 */
export function resumeRefusal(facts: ResumeFacts): string | undefined {
  const { source, liveClaim } = facts;
  const inBackup = new Set(source.tables.map((t) => t.targetTable));
  const lacking = facts.expectedTables.filter((t) => !inBackup.has(t));
  if (lacking.length > 0) {
    return `${source.url} has no backup of ${lacking.join(', ')}, which the recreated claim owns: they would be left empty`;
  }
  if (liveClaim) {
    const from = liveClaim.restoredFrom;
    if (!from || from.manifest !== source.url || from.sha256 !== source.manifestSha256) {
      return (
        `claim ${liveClaim.name} (uid ${liveClaim.uid}) exists and was not recreated by a recovery from ${source.url} (SHA-256 ${source.manifestSha256}): ` +
        'resuming would import old items over live data; to restore it, start a recovery without resumeFrom'
      );
    }
    if (facts.restoreFinished) {
      return `the restore from ${source.url} into claim ${liveClaim.name} (uid ${liveClaim.uid}) already finished and its tables have been live since; start a new recovery`;
    }
  }
  for (const snapshot of facts.snapshots) {
    const backup = source.tables.find((t) => t.targetTable === snapshot.tableName);
    if (snapshot.exists && backup && (snapshot.itemCount ?? 0) > backup.items) {
      return `${snapshot.tableName} holds ${snapshot.itemCount} items, more than the ${backup.items} of its backup: it holds data not from ${source.url}`;
    }
  }
  return undefined;
}

export interface PlanFacts {
  instance: string;
  claim: ClaimInfo;
  /** Every owned table, in order. */
  owned: string[];
  snapshots: TableSnapshot[];
  writers: WriterState;
  app: { name: string; automatedSync: boolean; selfHeal: boolean };
  quiesce: boolean;
  confirmAfterBackup: boolean;
  backup: { bucket: string; prefix: string };
  requestedSegments?: number;
  resume?: { url: string; source: PlannedSource; claimAction: 'recreate' | 'keep'; spec: Record<string, unknown> };
}

export function buildRecoveryPlan(facts: PlanFacts): DynamoDbRecoveryPlan {
  const { claim, resume } = facts;
  const policies = new Set(claim.managedTables.map((t) => t.deletionPolicy));
  const leftBehind = resume ? [] : tablesLeftByClaimDeletion(facts.owned, facts.snapshots, claim.managedTables);
  const tables = facts.owned.map((tableName): DynamoDbRecoveryPlan['tables'][number] => {
    const s = facts.snapshots.find((x) => x.tableName === tableName) ?? { tableName, exists: false };
    const managed = claim.managedTables.find((t) => t.tableName === tableName);
    const backupItems = resume?.source.tables.find((t) => t.targetTable === tableName)?.items;
    const items = s.itemCount ?? 0;
    const d = s.definition;
    return {
      tableName,
      items,
      exists: s.exists,
      managedBy: managed?.name,
      deletionPolicy: managed?.deletionPolicy ?? 'unmanaged',
      ...(managed?.managementPolicies ? { managementPolicies: managed.managementPolicies } : {}),
      deletedBy: resume || !s.exists ? 'none' : leftBehind.includes(tableName) ? 'runbook' : 'claim',
      restored: true,
      ...(resume ? { backupItems: backupItems ?? 0 } : {}),
      segments: segmentsFor(backupItems ?? items, facts.requestedSegments),
      gsis: d?.globalSecondaryIndexes.map((g) => g.IndexName) ?? [],
      lsis: d?.localSecondaryIndexes.map((l) => l.IndexName) ?? [],
      ttl: d ? `${d.timeToLive.status}${d.timeToLive.attributeName ? ` (${d.timeToLive.attributeName})` : ''}` : 'unknown',
      pitr: d?.pointInTimeRecovery.status ?? 'unknown',
      tags: d?.tags.length ?? 0,
    };
  });
  const totalItems = tables.reduce((n, t) => n + t.items, 0);
  const moved = resume ? tables.reduce((n, t) => n + (t.backupItems ?? 0), 0) : totalItems;
  return {
    instance: facts.instance,
    claim: {
      name: claim.name,
      namespace: claim.namespace,
      uid: claim.uid,
      deletionPolicy: policies.size > 1 ? 'mixed' : (policies.values().next().value ?? 'Delete'),
      composite: claim.composite?.name,
      spec: resume?.spec ?? claim.spec,
      labels: claim.labels,
      action: resume?.claimAction ?? 'delete-and-recreate',
    },
    tables,
    totalItems,
    orphanedTablesToDelete: leftBehind,
    writers: { quiesce: facts.quiesce, apiDeployment: facts.writers.apiDeployment, cronJob: facts.writers.cronJob },
    autoSync: { application: facts.app.name, automated: facts.app.automatedSync, selfHeal: facts.app.selfHeal, pausedDuringRun: facts.app.automatedSync },
    backup: facts.backup,
    confirmAfterBackup: facts.confirmAfterBackup,
    expectedWriteDowntimeSeconds: Math.ceil((resume ? 0 : 2 * moved / EXPORT_RATE) + 60 + moved / IMPORT_RATE + moved / EXPORT_RATE),
    resumeFrom: resume?.url,
    source: resume?.source,
  };
}

/** The plan in one line, for the run's UI details. */
export function describeRecoveryPlan(plan: DynamoDbRecoveryPlan): string {
  const owned = plan.tables.map((t) => t.tableName);
  if (plan.source) {
    return `Resume from ${plan.source.url} (SHA-256 ${plan.source.manifestSha256}): ${plan.claim.action} the claim, import ${owned.length} tables, verify`;
  }
  return `Back up ${plan.totalItems} items in ${owned.length} tables (${owned.join(', ')}), delete and recreate ${plan.claim.name}, restore all of them; expected write downtime ~${plan.expectedWriteDowntimeSeconds}s`;
}

/**
 * The backup's tables the recovery restores, each with the table it goes back into (its own name, or
 * for a resume from another instance's backup, the name the plan mapped it to), and the owned tables
 * the backup lacks (`absent`: the recovery must not delete what it cannot restore).
 */
export function tablesToRestore<T extends { tableName: string }>(
  backupTables: T[],
  owned: string[],
  mapped: { tableName: string; targetTable: string }[] = [],
): { tables: (T & { targetTable: string })[]; absent: string[] } {
  const targetOf = (name: string) => mapped.find((t) => t.tableName === name)?.targetTable ?? name;
  const tables = backupTables.map((t) => ({ ...t, targetTable: targetOf(t.tableName) })).filter((t) => owned.includes(t.targetTable));
  return { tables, absent: owned.filter((t) => !tables.some((b) => b.targetTable === t)) };
}
