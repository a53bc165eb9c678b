/**
 * The guide's "Recreate DynamoDB Tables": back up every table, delete and recreate the Crossplane
 * claim `<instance>-dynamodb`, then import the data back (the "custom script" the guide leaves to the
 * reader) and prove nothing was lost. Nothing is deleted without a verified backup and an approval.
 *
 * "Every table" is every table the claim owns (its composite's managed Tables and the instance's
 * platform tables): deleting the claim deletes all of them, so all of them are backed up, restored
 * and verified item by item, whatever the caller asked for.
 */
import { ApplicationFailure, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { backupPrefix, parseS3Url, s3Url, segmentsFor, validateRecoveryTables } from '../common/dynamodb-backup';
import type { BackupLocation, ClaimInfo, DynamoDbRecoveryDetails, DynamoDbRecoveryInput, TableRestoreResult } from '../common/dynamodb-backup';
import { buildRecoveryPlan } from '../common/dynamodb-recovery-plan';
import { RUNBOOKS } from '../common/definitions';
import { argoApplicationName, instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { OUTAGE_RETRY } from './runbook/retry';
import { digestTable, exportTables, importTables, requireEqual, verifyBackup } from './dynamodb/steps';
import { discoverRecovery, inspectClaim, recheckResumedClaim } from './dynamodb/recovery-discovery';

const DEFAULT_CLAIM_TIMEOUT_MS = 10 * 60 * 1000;

/** A resume that recreates the claim first waits out managed Tables still deleting its tables; runs before replay without. */
export const RESUME_WAITS_FOR_OLD_TABLES_PATCH = 'recovery-resume-waits-for-old-tables';

/** Polling is the retry policy: each attempt checks once; "not yet" is retried every second until the deadline. */
function poll<K extends 'checkWritersStopped' | 'checkClaimDeleted' | 'checkTablesReleased' | 'checkClaimReady'>(name: K, summary: string, timeoutMs: number): Activities[K] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumInterval: '1 second' },
  })[name];
}

/** A refusal by the delete activities (no verified backup of every owned table) is final. */
const destructive = { startToCloseTimeout: '1 minute', retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: ['BackupNotVerified'] } };

/** What must not have changed between the plan and the delete: the claim, its composite, every Table it owns. */
function claimIdentity(claim: ClaimInfo) {
  return { uid: claim.uid, spec: claim.spec, composite: claim.composite?.name, managedTables: claim.managedTables };
}

/** A table as the backup holds it and where it goes back (the same name, unless restoring another instance's backup). */
interface RestoredTable {
  tableName: string;
  targetTable: string;
  items: number;
  digest: string;
  segments: number[];
  definition: Parameters<Activities['compareTableDefinition']>[0]['definition'];
}

export async function dynamodbRecovery(input: DynamoDbRecoveryInput): Promise<RunbookResult<DynamoDbRecoveryDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const requested = validateInput(() => validateRecoveryTables(instance, input.tables, instanceTableNames(instance)));
  const resumeFrom = input.resumeFrom ? validateInput(() => parseS3Url(input.resumeFrom!)) : undefined;
  const quiesce = input.quiesceWriters ?? true;
  const claimTimeoutMs = input.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;
  const info = workflowInfo();
  const changedBy = `${info.workflowId}/${info.runId}`;

  const runbook = new Runbook({
    name: RUNBOOKS.dynamodbRecovery,
    title: 'DynamoDB recovery',
    instance,
    options: input.options,
    destructive: true,
    startInput: input,
    steps: [
      { name: 'discover', title: 'Discover the claim, every table it owns, definitions and item counts' },
      { name: 'approve', title: 'Approval' },
      { name: 'pause-sync', title: 'Pause Argo CD automated sync and self-heal' },
      { name: 'quiesce', title: 'Stop the writers (API to 0 replicas, CronJob suspended)' },
      { name: 'export', title: 'Export every owned table to S3' },
      { name: 'verify-backup', title: 'Verify the backup (checksums, counts, keys) and take native backups' },
      { name: 'confirm', title: 'Confirm the delete now that the backup is verified' },
      { name: 'delete-claim', title: 'Delete the claim and wait until its managed Tables and tables are gone' },
      { name: 'recreate-claim', title: 'Recreate the claim and wait for Synced/Ready and ACTIVE tables' },
      { name: 'import', title: 'Import the data and re-apply TTL, tags and PITR' },
      { name: 'verify-restore', title: 'Verify: every owned table equals its backup, item by item' },
    ],
  });

  // After the claim is deleted, a failure keeps writers stopped and sync paused: restoring them
  // would let the API write into half-restored tables, and self-heal would scale it back up. The
  // run's report says how to finish (re-run with resumeFrom), which restores both at its end.
  let holdForResume = false;
  let backupUrl: string | undefined = input.resumeFrom;

  return runbook.run(async () => {
    // 1. Discover (read-only)
    const found = await runbook.step('discover', () => discoverRecovery(instance, input, requested, resumeFrom));
    const { claim, owned, resumed } = found;
    const prefix = backupPrefix(instance, info.runId, new Date(info.startTime));
    const plan = buildRecoveryPlan({
      instance,
      claim,
      owned,
      snapshots: found.snapshots,
      writers: found.writers,
      app: found.app,
      quiesce,
      confirmAfterBackup: Boolean(input.confirmAfterBackup),
      backup: { bucket: found.bucket, prefix },
      requestedSegments: input.export?.segments,
      resume: resumed && { url: resumed.source.url, source: resumed.source, claimAction: found.claimExists ? 'keep' : 'recreate', spec: claim.spec },
    });
    runbook.note(
      resumed
        ? `Resume from ${resumed.source.url} (SHA-256 ${resumed.source.manifestSha256}): ${found.claimExists ? 'keep' : 'recreate'} the claim, import ${owned.length} tables, verify`
        : `Back up ${plan.totalItems} items in ${owned.length} tables (${owned.join(', ')}), delete and recreate ${claim.name}, restore all of them; expected write downtime ~${plan.expectedWriteDowntimeSeconds}s`,
    );

    // 2. Approval; a resume then re-reads the manifest pinned by the SHA-256 the plan showed.
    await runbook.step('approve', async () => {
      await runbook.approve(plan);
      if (resumed) await activity('readBackupSummary', 'Re-check the approved manifest (SHA-256)', destructive)(resumed.location);
    });

    // 3. Pause what would undo the recovery
    await runbook.step('pause-sync', async () => {
      runbook.onCleanup('restore Argo CD automated sync', async () => {
        if (holdForResume) return runbook.note(`Automated sync of ${plan.autoSync.application} stays paused until the recovery is finished`);
        const restored = await activity('restoreAutomatedSync', 'Restore automated sync and self-heal')(instance);
        if (restored.changed) runbook.recordChange({ object: appObject(instance), action: 'restore spec.syncPolicy.automated', after: restored.restored });
      });
      const paused = await activity('pauseAutomatedSync', 'Pause automated sync and self-heal')({ instance, changedBy, approval: runbook.approvalEvidence() });
      if (paused.changed) runbook.recordChange({ object: appObject(instance), action: 'pause spec.syncPolicy.automated', before: paused.previous, after: null });
    });

    // 4. Quiesce writers
    if (quiesce) {
      await runbook.step('quiesce', async () => {
        runbook.onCleanup('restore the writers', async () => {
          if (holdForResume) return runbook.note('The writers stay stopped until the recovery is finished');
          const restored = await activity('restoreWriters', 'Restore the API replicas and the CronJob')(instance);
          if (restored.apiDeployment || restored.cronJob) runbook.recordChange({ object: `namespace/${instance}`, action: 'restore writers', after: restored });
        });
        const before = await activity('quiesceWriters', 'Scale the API to 0 and suspend the CronJob')({ instance, changedBy, approval: runbook.approvalEvidence() });
        runbook.recordChange({ object: `namespace/${instance}`, action: 'quiesce writers (API replicas 0, CronJob suspended)', before });
        await poll('checkWritersStopped', 'Wait for API pods and running Jobs to finish', 5 * 60 * 1000)(instance);
      });
    } else {
      runbook.skip('quiesce', 'opted out: writes may land during the recovery');
    }

    // 5-6. Export and verify (or locate the backup being resumed)
    const exportStarted = Date.now();
    let location: BackupLocation;
    let exportedItems = 0;
    let chunks = 0;
    let nativeBackups: DynamoDbRecoveryDetails['backup']['nativeBackups'] = [];
    if (resumed) {
      runbook.skip('export', `resuming from ${resumed.source.url}`);
      location = resumed.location;
    } else {
      const captured = { name: claim.name, spec: claim.spec, labels: claim.labels };
      const exported = await runbook.step('export', () => exportTables(runbook, found.snapshots, prefix, found.bucket, input.export, instance, captured, owned));
      location = exported.location;
      exportedItems = exported.items;
    }
    const backup = { bucket: location.bucket, manifestKey: location.manifestKey, manifestSha256: location.manifestSha256 };
    backupUrl = s3Url(location.bucket, location.manifestKey);
    runbook.note(`Backup: ${backupUrl}`);
    const exportSeconds = (Date.now() - exportStarted) / 1000;

    const verifyStarted = Date.now();
    const tables = await runbook.step('verify-backup', async () => {
      const summary = await activity('readBackupSummary', 'Read the backup manifest', destructive)(location);
      const targetOf = (name: string) => resumed?.source.tables.find((t) => t.tableName === name)?.targetTable ?? name;
      const tables: RestoredTable[] = summary.tables.map((t) => ({ ...t, targetTable: targetOf(t.tableName) })).filter((t) => owned.includes(t.targetTable));
      const absent = owned.filter((t) => !tables.some((b) => b.targetTable === t));
      if (absent.length > 0) throw ApplicationFailure.create({ type: 'BackupIncomplete', message: `the backup has no ${absent.join(', ')}`, nonRetryable: true });
      // Compared with the live tables only for a fresh export taken with the writers stopped.
      await verifyBackup(location, tables.map((t) => t.tableName), !resumed && quiesce);
      if (!resumed) {
        nativeBackups = await activity('createNativeBackups', 'Take native on-demand backups (second net)')({ tableNames: owned, backupName: `vcp-${info.runId}` });
        chunks = summary.tables.reduce((n, t) => n + t.chunks, 0);
      }
      return tables;
    });
    const verifySeconds = (Date.now() - verifyStarted) / 1000;

    // Second confirmation (policy option), now that the backup is known good.
    if (input.confirmAfterBackup) {
      await runbook.step('confirm', () => runbook.confirm('backup-verified', { backup: location, tables: tables.map((t) => ({ tableName: t.tableName, items: t.items, digest: t.digest })) }));
    } else {
      runbook.skip('confirm', 'not requested');
    }

    // 7. Delete the claim (the activities check the verified backup themselves)
    const deleteStarted = Date.now();
    if (!resumed) {
      const live = await inspectClaim(instance);
      await runbook.step('delete-claim', async () => {
        runbook.confirmUnchanged(`claim ${claim.name} and the tables it owns`, claimIdentity(claim), claimIdentity(live));
        // Paused or protected by a Usage since the plan: the deletion would never finish (the delete activity refuses too).
        if (live.deletionBlockers) throw ApplicationFailure.create({ type: 'DeletionBlocked', message: `not deleting claim ${claim.name}: ${live.deletionBlockers.join('; ')}`, nonRetryable: true });
        holdForResume = true;
        await activity('deleteDynamoDbClaim', `Delete claim ${claim.name}`, destructive)({ instance, uid: claim.uid, backup, approval: runbook.approvalEvidence() });
        runbook.recordChange({ object: claimObject(instance), action: 'delete claim', before: { uid: claim.uid, spec: claim.spec, tables: owned } });
        // The old Table objects too: one still being deleted would delete the recreated table of its name.
        await poll('checkClaimDeleted', 'Wait until the composite, every managed Table and every table are gone', claimTimeoutMs)({
          instance,
          uid: claim.uid,
          composite: claim.composite?.name,
          managedTables: claim.managedTables.map(({ name, uid, tableName }) => ({ name, uid, tableName })),
          tableNames: owned,
          orphanedTables: plan.orphanedTablesToDelete,
        });
        // Tables the claim leaves behind: never import into stale data.
        for (const tableName of plan.orphanedTablesToDelete) {
          await activity('deleteOrphanedTable', `Delete orphaned table ${tableName}`, destructive)({ tableName, backup, approval: runbook.approvalEvidence() });
          runbook.recordChange({ object: `dynamodb/${tableName}`, action: 'delete orphaned table (backed up and verified)' });
        }
        if (plan.orphanedTablesToDelete.length > 0) {
          await poll('checkClaimDeleted', 'Wait until the orphaned tables are gone', claimTimeoutMs)({ instance, uid: claim.uid, tableNames: plan.orphanedTablesToDelete, orphanedTables: [] });
        }
      });
    } else {
      const now = await recheckResumedClaim(instance, resumed);
      holdForResume = true;
      runbook.skip('delete-claim', now ? 'resuming: the claim recreated from this backup is kept' : 'resuming: the claim is already gone');
      // A Table of the deleted claim may still be deleting: it would delete the recreated table of its name.
      if (!now && patched(RESUME_WAITS_FOR_OLD_TABLES_PATCH)) {
        await poll('checkTablesReleased', 'Wait until no managed Table still being deleted names these tables', claimTimeoutMs)({ tableNames: owned });
      }
    }
    const deleteSeconds = (Date.now() - deleteStarted) / 1000;

    // 8. Recreate the claim, annotated with the backup it is restored from
    const recreateStarted = Date.now();
    const recreated = await runbook.step('recreate-claim', async () => {
      const restoredFrom = { manifest: backupUrl!, sha256: location.manifestSha256 };
      const created = await activity('createDynamoDbClaim', `Recreate claim ${claim.name}`)({ instance, spec: plan.claim.spec, labels: claim.labels, recreatedBy: changedBy, restoredFrom, approval: runbook.approvalEvidence() });
      if (created.created) runbook.recordChange({ object: claimObject(instance), action: 'create claim from the captured spec', after: { uid: created.uid, spec: plan.claim.spec, restoredFrom } });
      const managedTableNames = resumed ? undefined : claim.managedTables.map((t) => t.tableName);
      await poll('checkClaimReady', 'Wait for the claim to be Synced/Ready and every owned table ACTIVE', claimTimeoutMs)({ instance, tableNames: owned, managedTableNames });
      // The composition may have changed since the backup: keys must match or the items cannot go back.
      for (const t of tables) {
        const differences = await activity('compareTableDefinition', `Compare ${t.targetTable} with its captured definition`)({ tableName: t.targetTable, definition: t.definition });
        if (differences.keys.length > 0) {
          throw ApplicationFailure.create({ type: 'DefinitionMismatch', message: `recreated ${t.targetTable} differs in its keys: ${differences.keys.join('; ')}`, nonRetryable: true });
        }
        for (const d of differences.other) runbook.note(`${t.targetTable}: ${d}`);
      }
      return created;
    });
    const recreateSeconds = (Date.now() - recreateStarted) / 1000;

    // 9. Import
    const importStarted = Date.now();
    const imported = await runbook.step('import', async () => {
      const imported = await importTables(runbook, location, tables, input.import);
      const settings: Record<string, string[]> = {};
      for (const t of tables) {
        settings[t.targetTable] = await activity('applyTableSettings', `Re-apply TTL, tags and PITR on ${t.targetTable}`)({ tableName: t.targetTable, definition: t.definition });
      }
      return { imported, settings };
    });
    const importSeconds = (Date.now() - importStarted) / 1000;

    // 10. Verify every owned table, then mark the restore finished (a resume into this claim is then refused)
    const results = await runbook.step('verify-restore', async () => {
      const results: TableRestoreResult[] = [];
      for (const t of tables) {
        const restored = await digestTable(t.targetTable, segmentsFor(t.items));
        results.push({ tableName: t.targetTable, backupItems: t.items, restoredItems: restored.items, backupDigest: t.digest, restoredDigest: restored.digest, settingsApplied: imported.settings[t.targetTable] ?? [] });
      }
      requireEqual(results, `the restored tables differ from the backup ${backupUrl}`);
      await activity('recordRestore', 'Record the finished restore beside the backup')({ backup, claimUid: recreated.uid });
      return results;
    });
    holdForResume = false;

    const totalImported = imported.imported.reduce((n, t) => n + t.items, 0);
    return {
      backup: { ...location, url: backupUrl, items: resumed ? tables.reduce((n, t) => n + t.items, 0) : exportedItems, chunks, nativeBackups },
      tables: results,
      imported: imported.imported,
      durations: { exportSeconds, verifySeconds, deleteSeconds, recreateSeconds, importSeconds, writeDowntimeSeconds: (Date.now() - exportStarted) / 1000 },
      throughput: {
        exportItemsPerSecond: exportSeconds > 0 ? Math.round(exportedItems / exportSeconds) : 0,
        importItemsPerSecond: importSeconds > 0 ? Math.round(totalImported / importSeconds) : 0,
      },
    };
  }).catch((err: unknown) => {
    // After the delete, say exactly how to finish; the backup is never deleted.
    if (holdForResume && backupUrl && err instanceof ApplicationFailure) {
      throw ApplicationFailure.create({
        type: err.type ?? 'RunbookFailed',
        message: `${err.message} | THE CLAIM WAS DELETED; the verified backup stays at ${backupUrl}; writers stay stopped and automated sync paused. Finish with: runbook recover-dynamodb ${instance} --resume-from ${backupUrl}${input.allowOtherInstance ? ' --from-other-instance' : ''}`,
        nonRetryable: true,
        cause: err,
        details: err.details as unknown[],
      });
    }
    throw err;
  });
}

function appObject(instance: string): string {
  return `applications.argoproj.io/argocd/${argoApplicationName(instance)}`;
}

function claimObject(instance: string): string {
  return `virtualcoffeedynamodbclaims.virtualcoffee.io/${instance}/${instance}-dynamodb`;
}
