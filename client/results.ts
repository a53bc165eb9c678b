/**
 * What a finished run returned, as lines a person reads (`show`, `watch`, the DynamoDB commands):
 * for the DynamoDB runbooks the backup URL, each table's counts and whether its item digest matches;
 * for a diagnostic bundle where it is and the download link the CLI signed.
 * Runbooks without a rendering here show only their outcome; `-o json` always has the full result.
 */
import type { DynamoDbRecoveryDetails, DynamoDbRecoveryPlan, TableRestoreResult } from '../common/dynamodb-backup';
import { RUNBOOKS } from '../common/definitions';
import type { DiagnosticBundleDetails, DownloadLink } from '../common/diagnostics';
import type { RunbookResult } from '../common/runbook';
import type { DynamoDbExportDetails } from '../common/dynamodb-backup';
import type { DynamoDbImportDetails, DynamoDbImportPlan } from '../common/dynamodb-backup';
import type { RecreateClaimDetails, RecreateClaimPlan } from '../common/recreate-claim-plan';
import type { SyncDetails, SyncPlan } from '../common/sync-plan';

/** A result that came back as JSON: a RunbookResult when it has an outcome and an audit record. */
export function asRunbookResult(result: unknown): RunbookResult<unknown> | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const r = result as Partial<RunbookResult<unknown>>;
  return typeof r.outcome === 'string' && typeof r.audit?.runbook === 'string' ? (r as RunbookResult<unknown>) : undefined;
}

const seconds = (s: number) => `${s.toFixed(1)}s`;

function restoredLine(t: TableRestoreResult, verb: string): string {
  const equal = t.backupItems === t.restoredItems && t.backupDigest === t.restoredDigest;
  return `  ${t.tableName}: ${t.backupItems} in the backup, ${t.restoredItems} ${verb}, ${equal ? 'item digest matches' : 'ITEM DIGEST DIFFERS'}${t.settingsApplied.length ? ` (re-applied: ${t.settingsApplied.join(', ')})` : ''}`;
}

function recoveryLines(d: DynamoDbRecoveryDetails): string[] {
  const native = d.backup.nativeBackups.filter((b) => b.backupArn).length;
  const t = d.durations;
  return [
    `  backup: ${d.backup.url} (${d.backup.items} items, ${d.backup.chunks} chunks${native ? `, ${native} native backups` : ''})`,
    ...d.tables.map((table) => restoredLine(table, 'restored')),
    `  durations: export ${seconds(t.exportSeconds)}, verify ${seconds(t.verifySeconds)}, delete ${seconds(t.deleteSeconds)}, recreate ${seconds(t.recreateSeconds)}, import ${seconds(t.importSeconds)}; writes stopped ${seconds(t.writeDowntimeSeconds)}`,
    `  throughput: export ${d.throughput.exportItemsPerSecond} items/s, import ${d.throughput.importItemsPerSecond} items/s`,
  ];
}

function methodText(d: DynamoDbExportDetails): string {
  const m = d.method!;
  const how = m.method === 'native' ? `native export, point-in-time at ${d.pointInTime?.exportTime ?? '?'}` : 'scan, not point-in-time';
  return `${how}${m.requested === 'auto' ? ' (auto' + (m.reason ? `: ${m.reason}` : '') + ')' : ''}`;
}

export function exportLines(d: DynamoDbExportDetails): string[] {
  return [
    `  backup: ${d.backup.url} (${d.backup.items} items, ${d.backup.chunks} chunks, ${seconds(d.exportSeconds)}, ${d.itemsPerSecond} items/s)`,
    ...(d.method ? [`  method: ${methodText(d)}`] : []),
    ...d.tables.map((t) => `  ${t.tableName}: ${t.items} items, digest ${t.digest.slice(0, 16)}`),
  ];
}

function importLines(d: DynamoDbImportDetails): string[] {
  return [
    `  source: ${d.backup.url}`,
    ...d.verified.map((t) => restoredLine(t, 'imported')),
    // A table that held items: every backup item checked by key, and its count against the plan's.
    ...(d.merged ?? []).map(
      (m) =>
        `  ${m.targetTable}: ${m.backupItems} in the backup, all present and equal${m.missing || m.differing ? ` EXCEPT ${m.missing} missing, ${m.differing} differing` : ''}; ${m.itemsBefore} items before, ${m.itemsAfter} after`,
    ),
    `  import: ${seconds(d.importSeconds)}, ${d.itemsPerSecond} items/s`,
  ];
}

/** Where a bundle is, the link to download it (signed by the CLI, when it was), and failed collectors. */
export function bundleLines(d: DiagnosticBundleDetails, download?: DownloadLink): string[] {
  const a = d.archive;
  return [
    `  bundle: s3://${a.bucket}/${a.key} (${a.files} files, ${a.size} bytes, sha256 ${a.sha256})`,
    ...(download ? [`  download until ${download.expiresAt}: ${download.url}`] : []),
    ...d.collectors.filter((c) => c.status === 'failed').map((c) => `  collector ${c.collector} failed: ${c.error}`),
  ];
}

/** The details of a finished run, for the runbooks that have a rendering; [] otherwise. */
function syncLines(d: SyncDetails): string[] {
  const op = d.operation;
  return [
    `  ${d.application}: ${d.final.syncStatus}, ${d.final.health} at ${d.final.resolvedRevision ?? '?'} (runs ${d.final.syncedRevision ?? '?'})`,
    `  hard refresh consumed (reconciled at ${d.refresh.reconciledAt ?? '?'})`,
    `  sync ${op.phase ?? '?'} at ${op.revision ?? '?'}${op.prune ? ' with prune' : ''}: ${op.message ?? ''}`,
    ...(d.final.leftToPrune ? [`  left to prune (the policy does not prune): ${d.final.leftToPrune.join(', ')}`] : []),
    `  automated sync: ${d.automatedSync.changed ? `${JSON.stringify(d.automatedSync.before)} -> ${JSON.stringify(d.automatedSync.after)}` : `unchanged (${JSON.stringify(d.automatedSync.after)})`}`,
  ];
}

function recreateClaimLines(d: RecreateClaimDetails): string[] {
  return [
    `  claim ${d.claim.name}: ${d.claim.deletedUid} deleted, ${d.claim.uid} created (${seconds(d.durations.deleteSeconds)} delete, ${seconds(d.durations.recreateSeconds)} recreate)`,
    ...d.tables.map((t) => `  ${t.tableName}: ${t.status}, ${t.itemsAfter} items (before ${t.itemsBefore}${t.existedBefore ? '' : ', missing'}), ${t.digestAfter === t.digestBefore ? 'item digest matches' : 'ITEM DIGEST DIFFERS'}`),
  ];
}

export function resultLines(result: unknown, download?: DownloadLink): string[] {
  const r = asRunbookResult(result);
  if (!r?.details) return [];
  switch (r.audit.runbook) {
    case RUNBOOKS.diagnosticBundle:
      return bundleLines(r.details as DiagnosticBundleDetails, download);
    case RUNBOOKS.dynamodbRecovery:
      return recoveryLines(r.details as DynamoDbRecoveryDetails);
    case RUNBOOKS.dynamodbExport:
      return exportLines(r.details as DynamoDbExportDetails);
    case RUNBOOKS.dynamodbImport:
      return importLines(r.details as DynamoDbImportDetails);
    case RUNBOOKS.sync:
      return syncLines(r.details as SyncDetails);
    case RUNBOOKS.recreateClaim:
      return recreateClaimLines(r.details as RecreateClaimDetails);
    default:
      return [];
  }
}

const CLAIM_ACTION: Record<DynamoDbRecoveryPlan['claim']['action'], string> = {
  'delete-and-recreate': 'deleted (with every table it owns) and recreated',
  recreate: 'gone: recreated from the backup',
  keep: 'kept (recreated from this backup by the recovery being resumed)',
};

const DELETED_BY: Record<DynamoDbRecoveryPlan['tables'][number]['deletedBy'], string> = {
  claim: 'deleted with the claim',
  runbook: 'deleted by the runbook (the claim would leave it)',
  none: 'not deleted',
};

/** A recovery's plan as the approver weighs it: every table deleted, with its items, what is restored, what stops. */
export function recoveryPlanLines(plan: DynamoDbRecoveryPlan): string[] {
  const { claim, writers, autoSync, source } = plan;
  return [
    `  claim ${claim.namespace}/${claim.name} (uid ${claim.uid || 'gone'}, deletion policy ${claim.deletionPolicy}${claim.composite ? `, composite ${claim.composite}` : ''}): ${CLAIM_ACTION[claim.action ?? 'delete-and-recreate']}`,
    ...(claim.action === 'keep' ? [] : [`  claim spec to recreate: ${JSON.stringify(claim.spec)}`]),
    ...plan.tables.map(
      (t) =>
        `  ${t.tableName}: ${t.items} items, ${t.segments} segment${t.segments === 1 ? '' : 's'}${t.gsis.length ? `, GSIs ${t.gsis.join(', ')}` : ''}${t.lsis.length ? `, LSIs ${t.lsis.join(', ')}` : ''}, TTL ${t.ttl}, PITR ${t.pitr}, ${t.tags} tags; ` +
        `${t.managementPolicies ? `managementPolicies ${t.managementPolicies.join(',')} with deletionPolicy ${t.deletionPolicy}: ` : ''}${DELETED_BY[t.deletedBy ?? 'claim']}, restored${t.backupItems !== undefined ? ` (${t.backupItems} items in the backup)` : ''} and verified item by item`,
    ),
    ...(source ? [`  source: ${source.url} (bucket ${source.bucket}, SHA-256 ${source.manifestSha256}, instance ${source.instance ?? 'unknown'}, taken ${source.createdAt})`] : []),
    `  total: ${plan.totalItems} items${plan.orphanedTablesToDelete.length ? `; orphaned tables deleted after the backup: ${plan.orphanedTablesToDelete.join(', ')}` : ''}`,
    writers.quiesce
      ? `  writers stopped during the run: ${writers.apiDeployment ? `${writers.apiDeployment.name} ${writers.apiDeployment.replicas} -> 0 replicas` : 'no API Deployment'}, ${writers.cronJob ? `CronJob ${writers.cronJob.name} suspended` : 'no CronJob'}`
      : '  writers keep running (--no-quiesce): their writes during the recovery are lost',
    `  Argo CD ${autoSync.application}: ${autoSync.pausedDuringRun ? `automated sync${autoSync.selfHeal ? ' and self-heal' : ''} paused during the run` : 'automated sync is off'}`,
    plan.resumeFrom ? `  resume from ${plan.resumeFrom}` : `  backup to s3://${plan.backup.bucket}/${plan.backup.prefix}/`,
    ...(plan.confirmAfterBackup ? ['  a second approval is asked once the backup is verified'] : []),
    `  expected write downtime ~${plan.expectedWriteDowntimeSeconds}s`,
  ];
}

const IMPORT_KINDS: Record<DynamoDbImportPlan['kind'], string> = {
  manifest: 'backup manifest',
  'scan-file': '`aws dynamodb scan` output',
  'native-export': 'DynamoDB native export, full, DYNAMODB_JSON',
};

export function importPlanLines(plan: DynamoDbImportPlan): string[] {
  return [
    `  source: ${plan.source} (${IMPORT_KINDS[plan.kind]}, bucket ${plan.sourceBucket})`,
    ...(plan.nativeExport
      ? [
          `  native export: ${plan.nativeExport.exportArn} of ${plan.nativeExport.tableName} at ${plan.nativeExport.exportTime}, ${plan.nativeExport.itemCount} items in ${plan.nativeExport.files} files (checked: checksums, MD5 and count of every file)`,
        ]
      : []),
    `  manifest: ${plan.manifest.url} (SHA-256 ${plan.manifest.sha256}${plan.manifest.instance ? `, instance ${plan.manifest.instance}` : ''}${plan.kind === 'manifest' ? '' : ', staged from the source'})`,
    ...plan.tables.map(
      (t) =>
        `  ${t.targetTable}: ${t.backupItems} items to import${t.targetTable !== t.tableName ? ` from ${t.tableName}` : ''}; holds ${t.targetItemsBefore} now${t.overwritesSameKeyItems ? ' (items with a key in the backup are overwritten, the others kept)' : ''}`,
    ),
    ...(plan.allowNonEmptyTargets ? ['  non-empty tables allowed: afterwards every backup item must be there and equal, and no table smaller than now'] : []),
  ];
}

export function syncPlanLines(plan: SyncPlan): string[] {
  const { current, sync, automatedSync } = plan;
  return [
    `  ${plan.application}: ${current.syncStatus}, ${current.health}${current.healthMessage ? ` (${current.healthMessage})` : ''}; runs ${current.syncedRevision ?? 'unknown'}, target resolved to ${current.resolvedRevision ?? 'unknown'}`,
    ...current.errors.map((e) => `  Argo CD reports ${e}`),
    `  1. hard refresh (${plan.hardRefresh.annotation}=${plan.hardRefresh.value}), waited for until Argo CD has refreshed`,
    `  2. sync of the target revision ${sync.revision}${sync.prune ? ' with prune' : ' without prune'} (${sync.pruneBecause})${sync.syncOptions.length ? `, sync options ${sync.syncOptions.join(', ')}` : ''}; waited for until Synced and Healthy`,
    `  3. ${automatedSync.note}${automatedSync.patch ? `: ${JSON.stringify(automatedSync.patch)}` : ''}`,
    ...plan.risks.map((r) => `  risk: ${r}`),
    ...plan.refusals.map((r) => `  REFUSED: ${r}`),
  ];
}

export function recreateClaimPlanLines(plan: RecreateClaimPlan): string[] {
  const { claim, writers, autoSync } = plan;
  return [
    `  claim ${claim.namespace}/${claim.name} (uid ${claim.uid}${claim.composite ? `, composite ${claim.composite}` : ''}): delete and recreate from ${JSON.stringify(claim.spec)}`,
    ...plan.stuck.map((s) => `  why: ${s}`),
    ...plan.tables.map((t) => `  ${t.tableName}: ${t.exists ? `${t.status ?? 'exists'}, ${t.items} items` : 'missing'}; ${t.onDelete}`),
    `  writers stopped during the run: ${writers.apiDeployment ? `${writers.apiDeployment.name} ${writers.apiDeployment.replicas} -> 0 replicas` : 'no API Deployment'}, ${writers.cronJob ? `CronJob ${writers.cronJob.name} suspended` : 'no CronJob'}`,
    `  Argo CD ${autoSync.application}: ${autoSync.pausedDuringRun ? `automated sync${autoSync.selfHeal ? ' and self-heal' : ''} paused during the run` : 'automated sync is off'}`,
    ...plan.refusals.map((r) => `  REFUSED: ${r}`),
  ];
}
