/**
 * The DynamoDB recovery's steps up to the delete, each named for the step of the guide it carries
 * out (workflows/dynamodb-recovery.ts calls them in order; the claim's own steps are in
 * claim-steps.ts, the import and its proof in restore-steps.ts). They share one `Recovery`: the run's
 * validated input, its Runbook, and what an earlier step leaves for a later one.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { BackupSummary } from '../../activities/aws/dynamodb-backup';
import { backupPrefix, s3Url } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupRef, DynamoDbRecoveryDetails, DynamoDbRecoveryInput, DynamoDbRecoveryPlan } from '../../common/dynamodb-backup';
import { buildRecoveryPlan, describeRecoveryPlan, tablesToRestore } from '../../common/dynamodb-recovery-plan';
import { argoApplicationName } from '../../common/instance';
import { activity } from '../runbook/runbook';
import type { Runbook, StepsOf } from '../runbook/runbook';
import { discoverRecovery } from './recovery-discovery';
import type { Discovery, ResumedBackup } from './recovery-discovery';
import { exportTables, verifyBackup } from './steps';
import { OUTAGE_RETRY } from '../runbook/retry';

/** The steps as the UI lists them. */
export const RECOVERY_STEPS = [
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
] as const;

export type RecoveryStep = StepsOf<typeof RECOVERY_STEPS>;

/** One recovery run, as its steps share it. */
export interface Recovery {
  readonly runbook: Runbook<RecoveryStep>;
  readonly instance: string;
  readonly input: DynamoDbRecoveryInput;
  /** `tables` as given (it must name every owned table), and `resumeFrom` parsed. */
  readonly requestedTables?: string[];
  readonly resumeFrom?: { bucket: string; key: string };
  readonly quiesce: boolean;
  readonly claimTimeoutMs: number;
  /** `<workflow ID>/<run ID>`, left on every object the run changes. */
  readonly changedBy: string;
  /**
   * Set once the claim is deleted: from then on a failure keeps the writers stopped and sync paused
   * (restoring them would let the API write into half-restored tables, and self-heal would scale it
   * back up), and the run's report says how to finish (resumeFrom), which restores both at its end.
   */
  holdForResume: boolean;
  /** The backup the run restores from, once known. */
  backupUrl?: string;
  /** When the export started (the writers were stopped) and how long each phase took. */
  readonly durations: Partial<DynamoDbRecoveryDetails['durations']> & { exportStartedAt?: number };
}

/** A table as the backup holds it, and where it goes back (the same name, unless restoring another instance's backup). */
export type RestoredTable = BackupSummary['tables'][number] & { targetTable: string };

/** The verified backup the rest of the run works from. */
export interface RecoveryBackup {
  location: BackupLocation;
  /** What the delete activities check for themselves. */
  ref: BackupRef;
  url: string;
  tables: RestoredTable[];
  /** Items and chunks this run exported (none when resuming). */
  exportedItems: number;
  chunks: number;
  nativeBackups: DynamoDbRecoveryDetails['backup']['nativeBackups'];
}

/** A refusal by the delete activities (no verified backup of every owned table) is final. */
export const DESTRUCTIVE = { startToCloseTimeout: '1 minute', retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: ['BackupNotVerified'] } };

/** Polling is the retry policy: each attempt checks once; "not yet" is retried every second until the deadline. */
export function poll<K extends 'checkWritersStopped' | 'checkClaimDeleted' | 'checkTablesReleased' | 'checkClaimReady'>(name: K, summary: string, timeoutMs: number): Activities[K] {
  return proxyActivities<Activities>({
    summary,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumInterval: '1 second' },
  })[name];
}

/** 1. Read-only: the claim, every table it owns, the writers, the Application (refusals happen here). */
export function discover(r: Recovery): Promise<Discovery> {
  return r.runbook.step('discover', () => discoverRecovery(r.instance, r.input, r.requestedTables, r.resumeFrom));
}

/** What the approver sees: every table deleted with its items, what is restored, what stops (common/dynamodb-recovery-plan.ts builds it). */
export function planRecovery(r: Recovery, found: Discovery): DynamoDbRecoveryPlan {
  const info = workflowInfo();
  const { claim, resumed } = found;
  const plan = buildRecoveryPlan({
    instance: r.instance,
    claim,
    owned: found.owned,
    snapshots: found.snapshots,
    writers: found.writers,
    app: found.app,
    quiesce: r.quiesce,
    confirmAfterBackup: Boolean(r.input.confirmAfterBackup),
    backup: { bucket: found.bucket, prefix: backupPrefix(r.instance, info.runId, new Date(info.startTime)) },
    requestedSegments: r.input.export?.segments,
    resume: resumed && { url: resumed.source.url, source: resumed.source, claimAction: found.claimExists ? 'keep' : 'recreate', spec: claim.spec },
  });
  r.runbook.note(describeRecoveryPlan(plan));
  return plan;
}

/** 2. Approval of the plan; a resume then re-reads the manifest pinned by the SHA-256 the plan showed. */
export async function approve(r: Recovery, plan: DynamoDbRecoveryPlan, resumed: ResumedBackup | undefined): Promise<void> {
  await r.runbook.step('approve', async () => {
    await r.runbook.approve(plan);
    if (resumed) await activity('readBackupSummary', 'Re-check the approved manifest (SHA-256)', DESTRUCTIVE)(resumed.location);
  });
}

/** What pausing sync and stopping the writers need of a run: the recovery's, and recreate-claim's. */
export interface WriterStop<Step extends string> {
  readonly runbook: Runbook<Step | 'pause-sync' | 'quiesce'>;
  readonly instance: string;
  readonly changedBy: string;
  readonly quiesce: boolean;
  /** While set, the cleanups keep the writers stopped and sync paused (the recovery, after its delete). */
  readonly holdForResume: boolean;
}

/** 3. Self-heal would scale the writers back up and re-create the deleted claim. */
export async function pauseSync<Step extends string>(r: WriterStop<Step>, plan: { autoSync: { application: string } }): Promise<void> {
  const { runbook, instance } = r;
  await runbook.step('pause-sync', async () => {
    runbook.onCleanup('restore Argo CD automated sync', async () => {
      if (r.holdForResume) return runbook.note(`Automated sync of ${plan.autoSync.application} stays paused until the recovery is finished`);
      const restored = await activity('restoreAutomatedSync', 'Restore automated sync and self-heal')(instance);
      if (restored.changed) runbook.recordChange({ object: applicationObject(instance), action: 'restore spec.syncPolicy.automated', after: restored.restored });
    });
    const paused = await activity('pauseAutomatedSync', 'Pause automated sync and self-heal')({ instance, changedBy: r.changedBy, approval: runbook.approvalEvidence() });
    if (paused.changed) runbook.recordChange({ object: applicationObject(instance), action: 'pause spec.syncPolicy.automated', before: paused.previous, after: null });
  });
}

/** 4. API to 0 replicas, CronJob suspended, running Jobs finished (unless the caller opted out). */
export async function quiesceWriters<Step extends string>(r: WriterStop<Step>): Promise<void> {
  const { runbook, instance } = r;
  if (!r.quiesce) return runbook.skip('quiesce', 'opted out: writes may land during the recovery');
  await runbook.step('quiesce', async () => {
    runbook.onCleanup('restore the writers', async () => {
      if (r.holdForResume) return runbook.note('The writers stay stopped until the recovery is finished');
      const restored = await activity('restoreWriters', 'Restore the API replicas and the CronJob')(instance);
      if (restored.apiDeployment || restored.cronJob) runbook.recordChange({ object: `namespace/${instance}`, action: 'restore writers', after: restored });
    });
    const before = await activity('quiesceWriters', 'Scale the API to 0 and suspend the CronJob')({ instance, changedBy: r.changedBy, approval: runbook.approvalEvidence() });
    runbook.recordChange({ object: `namespace/${instance}`, action: 'quiesce writers (API replicas 0, CronJob suspended)', before });
    await poll('checkWritersStopped', 'Wait for API pods and running Jobs to finish', 5 * 60 * 1000)(instance);
  });
}

/** 5-6. Export every owned table (or locate the backup being resumed), then read it all back. */
export async function exportAndVerify(r: Recovery, found: Discovery, plan: DynamoDbRecoveryPlan): Promise<RecoveryBackup> {
  const exportStarted = (r.durations.exportStartedAt = Date.now());
  const { location, items } = await exportOwnedTables(r, found, plan);
  r.backupUrl = s3Url(location.bucket, location.manifestKey);
  r.runbook.note(`Backup: ${r.backupUrl}`);
  r.durations.exportSeconds = (Date.now() - exportStarted) / 1000;

  const verifyStarted = Date.now();
  const verified = await r.runbook.step('verify-backup', () => verifyOwnedBackup(r, found, location));
  r.durations.verifySeconds = (Date.now() - verifyStarted) / 1000;
  const ref = { bucket: location.bucket, manifestKey: location.manifestKey, manifestSha256: location.manifestSha256 };
  return { location, ref, url: r.backupUrl, exportedItems: items, ...verified };
}

async function exportOwnedTables(r: Recovery, found: Discovery, plan: DynamoDbRecoveryPlan): Promise<{ location: BackupLocation; items: number }> {
  if (found.resumed) {
    r.runbook.skip('export', `resuming from ${found.resumed.source.url}`);
    return { location: found.resumed.location, items: 0 };
  }
  const { claim } = found;
  const exported = await r.runbook.step('export', () =>
    exportTables({
      runbook: r.runbook,
      snapshots: found.snapshots,
      bucket: plan.backup.bucket,
      prefix: plan.backup.prefix,
      tuning: r.input.export,
      instance: r.instance,
      claim: { name: claim.name, spec: claim.spec, labels: claim.labels },
      ownedTables: found.owned,
    }),
  );
  return { location: exported.location, items: exported.items };
}

/** Every owned table is in the backup and reads back intact; a fresh export gets native backups too. */
async function verifyOwnedBackup(r: Recovery, found: Discovery, location: BackupLocation): Promise<Pick<RecoveryBackup, 'tables' | 'chunks' | 'nativeBackups'>> {
  const { owned, resumed } = found;
  const summary = await activity('readBackupSummary', 'Read the backup manifest', DESTRUCTIVE)(location);
  const { tables, absent } = tablesToRestore(summary.tables, owned, resumed?.source.tables);
  if (absent.length > 0) throw ApplicationFailure.create({ type: 'BackupIncomplete', message: `the backup has no ${absent.join(', ')}`, nonRetryable: true });
  // Compared with the live tables only for a fresh export taken with the writers stopped.
  await verifyBackup(location, tables.map((t) => t.tableName), !resumed && r.quiesce);
  if (resumed) return { tables, chunks: 0, nativeBackups: [] };
  const nativeBackups = await activity('createNativeBackups', 'Take native on-demand backups (second net)')({ tableNames: owned, backupName: `vcp-${workflowInfo().runId}` });
  return { tables, chunks: summary.tables.reduce((n, t) => n + t.chunks, 0), nativeBackups };
}

/** A second approval (policy option), now that the backup is known good. */
export async function confirmDelete(r: Recovery, backup: RecoveryBackup): Promise<void> {
  if (!r.input.confirmAfterBackup) return r.runbook.skip('confirm', 'not requested');
  const tables = backup.tables.map((t) => ({ tableName: t.tableName, items: t.items, digest: t.digest }));
  await r.runbook.step('confirm', () => r.runbook.confirm('backup-verified', { backup: backup.location, tables }));
}

function applicationObject(instance: string): string {
  return `applications.argoproj.io/argocd/${argoApplicationName(instance)}`;
}
