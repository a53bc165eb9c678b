/**
 * The guide's "Recreate DynamoDB Tables": back up every table, delete and recreate the Crossplane
 * claim `<instance>-dynamodb`, then import the data back (the "custom script" the guide leaves to the
 * reader) and prove nothing was lost. Nothing is deleted without a verified backup and an approval.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BackupSummary } from '../activities/aws/dynamodb-backup';
import { backupPrefix, parseS3Url, s3Url, segmentsFor, validateRecoveryTables } from '../common/dynamodb-backup';
import type { BackupLocation, ClaimInfo, DynamoDbRecoveryDetails, DynamoDbRecoveryInput, DynamoDbRecoveryPlan, TableRestoreResult, TableSnapshot } from '../common/dynamodb-backup';
import { RUNBOOKS } from '../common/definitions';
import { argoApplicationName, instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { digestTable, exportTables, importTables, requireEqual, snapshotTables, verifyBackup } from './dynamodb/steps';

const DEFAULT_CLAIM_TIMEOUT_MS = 10 * 60 * 1000;
/** Rough emulator-measured rates for the plan's downtime estimate (items per second). */
const EXPORT_RATE = 15_000;
const IMPORT_RATE = 5_000;

/** Polling is the retry policy: each attempt checks once; "not yet" is retried every second until the deadline. */
function poll<K extends 'checkWritersStopped' | 'checkClaimDeleted' | 'checkClaimReady'>(name: K, summary: string, timeoutMs: number): Activities[K] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumInterval: '1 second' },
  })[name];
}

const inspectClaim = activity('inspectDynamoDbClaim', 'Read the claim, its composite and managed Tables', {
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['ClaimNotFoundError'] },
});

/** What must not have changed between the plan and the delete. */
function claimIdentity(claim: ClaimInfo) {
  return { uid: claim.uid, spec: claim.spec, composite: claim.composite?.name, managedTables: claim.managedTables };
}

export async function dynamodbRecovery(input: DynamoDbRecoveryInput): Promise<RunbookResult<DynamoDbRecoveryDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const allTables = instanceTableNames(instance);
  const tables = validateInput(() => validateRecoveryTables(instance, input.tables, allTables)) ?? allTables;
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
      { name: 'discover', title: 'Discover the claim, tables, definitions and item counts' },
      { name: 'approve', title: 'Approval' },
      { name: 'pause-sync', title: 'Pause Argo CD automated sync and self-heal' },
      { name: 'quiesce', title: 'Stop the writers (API to 0 replicas, CronJob suspended)' },
      { name: 'export', title: 'Export every table to S3' },
      { name: 'verify-backup', title: 'Verify the backup (checksums, counts, keys) and take native backups' },
      { name: 'confirm', title: 'Confirm the delete now that the backup is verified' },
      { name: 'delete-claim', title: 'Delete the claim and wait until the tables are gone' },
      { name: 'recreate-claim', title: 'Recreate the claim and wait for Synced/Ready and ACTIVE tables' },
      { name: 'import', title: 'Import the data and re-apply TTL, tags and PITR' },
      { name: 'verify-restore', title: 'Verify: every table equals its backup, item by item' },
    ],
  });

  // After the claim is deleted, a failure keeps writers stopped and sync paused: restoring them
  // would let the API write into half-restored tables, and self-heal would scale it back up. The
  // run's report says how to finish (re-run with resumeFrom), which restores both at its end.
  let holdForResume = false;
  let backupUrl: string | undefined = input.resumeFrom;

  return runbook.run(async () => {
    // 1. Discover (read-only)
    const { claim, snapshots, writers, app, bucket, resumed } = await runbook.step('discover', async () => {
      const bucket = await activity('checkBackupBucket', 'Check the backup bucket')();
      if (!bucket.exists) {
        throw ApplicationFailure.create({ type: 'BackupBucketMissing', message: `backup bucket ${bucket.bucket} does not exist (or is not ours)`, nonRetryable: true });
      }
      let resumed: { location: BackupLocation; summary: BackupSummary } | undefined;
      if (resumeFrom) {
        const location = await activity('locateBackup', 'Locate the backup manifest')(resumeFrom);
        resumed = { location, summary: await activity('readBackupSummary', 'Read the backup manifest')(location) };
      }
      const claim: ClaimInfo = await inspectClaim(instance).catch((err: unknown): ClaimInfo => {
        // Resuming after the delete: the claim may be gone; the manifest captured its spec.
        if (resumed?.summary.claim && err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'ClaimNotFoundError') {
          const captured = resumed.summary.claim;
          return { name: captured.name, namespace: instance, uid: '', resourceVersion: '', spec: captured.spec, labels: captured.labels, conditions: [], managedTables: [] };
        }
        throw err;
      });
      const snapshots = await snapshotTables(tables);
      const writers = await activity('readWriters', 'Read the API Deployment and the CronJob')(instance);
      const app = await activity('inspectApplication', 'Read the Argo CD Application')(instance);
      return { claim, snapshots, writers, app, bucket: bucket.bucket, resumed };
    });
    const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
    if (missing.length > 0 && !resumeFrom) {
      throw ApplicationFailure.create({
        type: 'TablesMissing',
        message: `tables ${missing.join(', ')} do not exist: there is nothing to back up (to restore from an existing backup, pass resumeFrom)`,
        nonRetryable: true,
      });
    }
    const prefix = backupPrefix(instance, info.runId, new Date(info.startTime));
    const plan = buildPlan(instance, claim, snapshots, writers, app, quiesce, Boolean(input.confirmAfterBackup), { bucket, prefix }, input.resumeFrom, input.export?.segments);
    runbook.note(
      resumeFrom
        ? `Resume from ${input.resumeFrom}: recreate the claim if needed, import, verify`
        : `Back up ${plan.totalItems} items in ${tables.length} tables, delete and recreate ${claim.name}; expected write downtime ~${plan.expectedWriteDowntimeSeconds}s`,
    );

    // 2. Approval
    await runbook.step('approve', () => runbook.approve(plan));

    // 3. Pause what would undo the recovery
    await runbook.step('pause-sync', async () => {
      runbook.onCleanup('restore Argo CD automated sync', async () => {
        if (holdForResume) return runbook.note(`Automated sync of ${plan.autoSync.application} stays paused until the recovery is finished`);
        const restored = await activity('restoreAutomatedSync', 'Restore automated sync and self-heal')(instance);
        if (restored.changed) runbook.recordChange({ object: appObject(instance), action: 'restore spec.syncPolicy.automated', after: restored.restored });
      });
      const paused = await activity('pauseAutomatedSync', 'Pause automated sync and self-heal')({ instance, changedBy });
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
        const before = await activity('quiesceWriters', 'Scale the API to 0 and suspend the CronJob')({ instance, changedBy });
        runbook.recordChange({ object: `namespace/${instance}`, action: 'quiesce writers (API replicas 0, CronJob suspended)', before });
        await poll('checkWritersStopped', 'Wait for API pods and running Jobs to finish', 5 * 60 * 1000)(instance);
      });
    } else {
      runbook.skip('quiesce', 'opted out: writes may land during the recovery');
    }

    // 5-6. Export and verify (or locate the backup being resumed)
    const exportStarted = Date.now();
    let location;
    let exportedItems = 0;
    let chunks = 0;
    let nativeBackups: DynamoDbRecoveryDetails['backup']['nativeBackups'] = [];
    if (resumed) {
      runbook.skip('export', `resuming from ${input.resumeFrom}`);
      location = resumed.location;
    } else {
      const exported = await runbook.step('export', () =>
        exportTables(runbook, snapshots, prefix, bucket, input.export, instance, { name: claim.name, spec: claim.spec, labels: claim.labels }),
      );
      location = exported.location;
      exportedItems = exported.items;
      chunks = exported.chunks;
    }
    backupUrl = s3Url(location.bucket, location.manifestKey);
    runbook.note(`Backup: ${backupUrl}`);
    const exportSeconds = (Date.now() - exportStarted) / 1000;

    const verifyStarted = Date.now();
    const summary = await runbook.step('verify-backup', async () => {
      const summary = await activity('readBackupSummary', 'Read the backup manifest')(location);
      const backedUp = summary.tables.map((t) => t.tableName);
      const absent = tables.filter((t) => !backedUp.includes(t));
      if (absent.length > 0) {
        throw ApplicationFailure.create({ type: 'BackupIncomplete', message: `the backup has no ${absent.join(', ')}`, nonRetryable: true });
      }
      // Compared with the live tables only for a fresh export taken with the writers stopped.
      await verifyBackup(location, tables, !resumeFrom && quiesce);
      if (!resumeFrom) {
        nativeBackups = await activity('createNativeBackups', 'Take native on-demand backups (second net)')({ tableNames: tables, backupName: `vcp-${info.runId}` });
      }
      return summary;
    });
    if (!resumeFrom) chunks = summary.tables.reduce((n, t) => n + t.chunks, 0);
    const verifySeconds = (Date.now() - verifyStarted) / 1000;

    // Second confirmation (policy option), now that the backup is known good.
    if (input.confirmAfterBackup) {
      await runbook.step('confirm', () => runbook.confirm('backup-verified', { backup: location, tables: summary.tables.map((t) => ({ tableName: t.tableName, items: t.items, digest: t.digest })) }));
    } else {
      runbook.skip('confirm', 'not requested');
    }

    // 7. Delete the claim
    const deleteStarted = Date.now();
    const live = await inspectClaim(instance).catch((err: unknown) => {
      if (resumeFrom && err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'ClaimNotFoundError') return undefined;
      throw err;
    });
    if (live && !resumeFrom) {
      await runbook.step('delete-claim', async () => {
        runbook.confirmUnchanged(`claim ${claim.name}`, claimIdentity(claim), claimIdentity(live));
        holdForResume = true;
        await activity('deleteDynamoDbClaim', `Delete claim ${claim.name}`)({ instance, uid: claim.uid });
        runbook.recordChange({ object: claimObject(instance), action: 'delete claim', before: { uid: claim.uid, spec: claim.spec } });
        await poll('checkClaimDeleted', 'Wait until the composite is gone and every table answers ResourceNotFound', claimTimeoutMs)({
          instance,
          uid: claim.uid,
          composite: claim.composite?.name,
          tableNames: allTables,
          orphanedTables: plan.orphanedTablesToDelete,
        });
        // An orphaning claim leaves the old tables behind: never import into stale data.
        for (const tableName of plan.orphanedTablesToDelete) {
          await activity('deleteOrphanedTable', `Delete orphaned table ${tableName}`)(tableName);
          runbook.recordChange({ object: `dynamodb/${tableName}`, action: 'delete orphaned table (backed up and verified)' });
        }
        if (plan.orphanedTablesToDelete.length > 0) {
          await poll('checkClaimDeleted', 'Wait until the orphaned tables are gone', claimTimeoutMs)({
            instance,
            uid: claim.uid,
            tableNames: plan.orphanedTablesToDelete,
            orphanedTables: [],
          });
        }
      });
    } else {
      holdForResume = true;
      runbook.skip('delete-claim', live ? 'resuming: the claim is kept' : 'resuming: the claim is already gone');
    }
    const deleteSeconds = (Date.now() - deleteStarted) / 1000;

    // 8. Recreate the claim
    const recreateStarted = Date.now();
    await runbook.step('recreate-claim', async () => {
      const created = await activity('createDynamoDbClaim', `Recreate claim ${claim.name}`)({ instance, spec: claim.spec, labels: claim.labels, recreatedBy: changedBy });
      if (created.created) runbook.recordChange({ object: claimObject(instance), action: 'create claim from the captured spec', after: { uid: created.uid, spec: claim.spec } });
      await poll('checkClaimReady', 'Wait for the claim to be Synced/Ready and the tables ACTIVE', claimTimeoutMs)({ instance, tableNames: allTables });
      // The composition may have changed since the backup: keys must match or the items cannot go back.
      for (const t of summary.tables.filter((x) => tables.includes(x.tableName))) {
        const differences = await activity('compareTableDefinition', `Compare ${t.tableName} with its captured definition`)({ tableName: t.tableName, definition: t.definition });
        if (differences.keys.length > 0) {
          throw ApplicationFailure.create({ type: 'DefinitionMismatch', message: `recreated ${t.tableName} differs in its keys: ${differences.keys.join('; ')}`, nonRetryable: true });
        }
        for (const d of differences.other) runbook.note(`${t.tableName}: ${d}`);
      }
    });
    const recreateSeconds = (Date.now() - recreateStarted) / 1000;

    // 9. Import
    const importStarted = Date.now();
    const backupTables = summary.tables.filter((t) => tables.includes(t.tableName));
    const imported = await runbook.step('import', async () => {
      const imported = await importTables(
        runbook,
        location,
        backupTables.map((t) => ({ tableName: t.tableName, targetTable: t.tableName, segments: t.segments, items: t.items })),
        input.import,
      );
      const settings: Record<string, string[]> = {};
      for (const t of backupTables) {
        settings[t.tableName] = await activity('applyTableSettings', `Re-apply TTL, tags and PITR on ${t.tableName}`)({ tableName: t.tableName, definition: t.definition });
      }
      return { imported, settings };
    });
    const importSeconds = (Date.now() - importStarted) / 1000;

    // 10. Verify
    const results = await runbook.step('verify-restore', async () => {
      const results: TableRestoreResult[] = [];
      for (const t of backupTables) {
        const restored = await digestTable(t.tableName, segmentsFor(t.items));
        results.push({
          tableName: t.tableName,
          backupItems: t.items,
          restoredItems: restored.items,
          backupDigest: t.digest,
          restoredDigest: restored.digest,
          settingsApplied: imported.settings[t.tableName] ?? [],
        });
      }
      requireEqual(results, `the restored tables differ from the backup ${backupUrl}`);
      return results;
    });
    holdForResume = false;

    const totalImported = imported.imported.reduce((n, t) => n + t.items, 0);
    const backupItems = backupTables.reduce((n, t) => n + t.items, 0);
    return {
      backup: { ...location, url: backupUrl, items: resumeFrom ? backupItems : exportedItems, chunks, nativeBackups },
      tables: results,
      imported: imported.imported,
      durations: {
        exportSeconds,
        verifySeconds,
        deleteSeconds,
        recreateSeconds,
        importSeconds,
        writeDowntimeSeconds: (Date.now() - exportStarted) / 1000,
      },
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
        message: `${err.message} | THE CLAIM WAS DELETED; the verified backup stays at ${backupUrl}; writers stay stopped and automated sync paused. Finish with: runbook recover-dynamodb ${instance} --resume-from ${backupUrl}`,
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

function buildPlan(
  instance: string,
  claim: ClaimInfo,
  snapshots: TableSnapshot[],
  writers: Awaited<ReturnType<Activities['readWriters']>>,
  app: Awaited<ReturnType<Activities['inspectApplication']>>,
  quiesce: boolean,
  confirmAfterBackup: boolean,
  backup: { bucket: string; prefix: string },
  resumeFrom: string | undefined,
  requestedSegments: number | undefined,
): DynamoDbRecoveryPlan {
  const policies = new Set(claim.managedTables.map((t) => t.deletionPolicy));
  const policyOf = (tableName: string) => claim.managedTables.find((t) => t.tableName === tableName)?.deletionPolicy ?? 'Delete';
  const totalItems = snapshots.reduce((n, s) => n + (s.itemCount ?? 0), 0);
  return {
    instance,
    claim: {
      name: claim.name,
      namespace: claim.namespace,
      uid: claim.uid,
      deletionPolicy: policies.size > 1 ? 'mixed' : (policies.values().next().value ?? 'Delete'),
      composite: claim.composite?.name,
    },
    tables: snapshots.map((s) => ({
      tableName: s.tableName,
      items: s.itemCount ?? 0,
      segments: segmentsFor(s.itemCount ?? 0, requestedSegments),
      gsis: s.definition?.globalSecondaryIndexes.map((g) => g.IndexName) ?? [],
      lsis: s.definition?.localSecondaryIndexes.map((l) => l.IndexName) ?? [],
      ttl: s.definition ? `${s.definition.timeToLive.status}${s.definition.timeToLive.attributeName ? ` (${s.definition.timeToLive.attributeName})` : ''}` : 'unknown',
      pitr: s.definition?.pointInTimeRecovery.status ?? 'unknown',
      tags: s.definition?.tags.length ?? 0,
      deletionPolicy: policyOf(s.tableName),
    })),
    totalItems,
    orphanedTablesToDelete: resumeFrom ? [] : claim.managedTables.filter((t) => t.deletionPolicy === 'Orphan').map((t) => t.tableName),
    writers: { quiesce, apiDeployment: writers.apiDeployment, cronJob: writers.cronJob },
    autoSync: { application: app.name, automated: app.automatedSync, selfHeal: app.selfHeal, pausedDuringRun: app.automatedSync },
    backup,
    confirmAfterBackup,
    expectedWriteDowntimeSeconds: Math.ceil(totalItems / EXPORT_RATE + totalItems / EXPORT_RATE + 60 + totalItems / IMPORT_RATE + totalItems / EXPORT_RATE),
    resumeFrom,
  };
}
