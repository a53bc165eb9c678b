/**
 * The DynamoDB recovery's discovery (read-only): the claim and every table it owns, their
 * definitions and item counts, the writers, the Application, and for a resume the backup it
 * imports and whether the tables may be written from it. Everything the plan says comes from here.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { BackupSummary } from '../../activities/aws/dynamodb-backup';
import { s3Url } from '../../common/dynamodb-backup';
import type { BackupLocation, ClaimInfo, DynamoDbRecoveryInput, PlannedSource, TableSnapshot, WriterState } from '../../common/dynamodb-backup';
import { backupTableMapping, ownedTables, recreateRefusal, requireTablesCoverOwned, resumeRefusal, specForInstance } from '../../common/dynamodb-recovery-plan';
import { dynamodbClaimName } from '../../common/instance';
import { activity } from '../runbook/runbook';
import { validateInput } from '../runbook/validation';
import { OUTAGE_RETRY } from '../runbook/retry';
import { snapshotTables } from './steps';

export const inspectClaim = activity('inspectDynamoDbClaim', 'Read the claim, its composite and managed Tables', {
  startToCloseTimeout: '1 minute',
  retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: ['ClaimNotFoundError'] },
});

/** The claim, or undefined when it does not exist. */
export async function inspectClaimIfAny(instance: string): Promise<ClaimInfo | undefined> {
  return inspectClaim(instance).catch((err: unknown) => {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'ClaimNotFoundError') return undefined;
    throw err;
  });
}

export interface ResumedBackup {
  location: BackupLocation;
  summary: BackupSummary;
  source: PlannedSource;
  /** The claim spec to recreate, naming this instance. */
  spec?: Record<string, unknown>;
  /** The tables the backup says the claim owned, as this instance's tables. */
  ownedAtBackup: string[];
}

export interface Discovery {
  bucket: string;
  /** The live claim, or (resuming after the delete) the one the backup captured. */
  claim: ClaimInfo;
  claimExists: boolean;
  /** Every table the claim owns: backed up, deleted, restored and verified. */
  owned: string[];
  snapshots: TableSnapshot[];
  writers: WriterState;
  app: Awaited<ReturnType<Activities['inspectApplication']>>;
  resumed?: ResumedBackup;
}

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** The backup a resume imports: allowed bucket (checked by the activities), this instance's, pinned by its SHA-256. */
async function locateResumed(instance: string, url: string, parsed: { bucket: string; key: string }, allowOtherInstance: boolean): Promise<ResumedBackup> {
  const location = await activity('locateBackup', 'Locate the backup manifest')(parsed);
  const summary = await activity('readBackupSummary', 'Read the backup manifest')(location);
  const target = validateInput(() => backupTableMapping(summary.instance, instance, allowOtherInstance, url));
  const tables = validateInput(() => summary.tables.map((t) => ({ tableName: t.tableName, targetTable: target(t.tableName), items: t.items, digest: t.digest })));
  const source: PlannedSource = {
    url: s3Url(location.bucket, location.manifestKey),
    bucket: location.bucket,
    manifestKey: location.manifestKey,
    manifestSha256: location.manifestSha256,
    instance: summary.instance,
    createdAt: summary.createdAt,
    tables,
  };
  const ownedAtBackup = validateInput(() => (summary.ownedTables ?? []).map(target));
  return { location, summary, source, spec: summary.claim ? specForInstance(summary.claim.spec, instance) : undefined, ownedAtBackup };
}

export async function discoverRecovery(
  instance: string,
  input: DynamoDbRecoveryInput,
  requested: string[] | undefined,
  resumeFrom: { bucket: string; key: string } | undefined,
): Promise<Discovery> {
  const checked = await activity('checkBackupBucket', 'Check the backup bucket')();
  if (!checked.exists) refuse('BackupBucketMissing', `backup bucket ${checked.bucket} does not exist (or is not ours)`);
  const resumed = resumeFrom ? await locateResumed(instance, input.resumeFrom!, resumeFrom, Boolean(input.allowOtherInstance)) : undefined;

  const live = resumed ? await inspectClaimIfAny(instance) : await inspectClaim(instance);
  let claim = live;
  if (!claim) {
    // Resuming after the delete: the claim is gone; the manifest captured its spec.
    if (!resumed?.spec) refuse('ResumeRefused', `claim ${dynamodbClaimName(instance)} does not exist and ${input.resumeFrom} holds no captured claim spec to recreate it from`);
    claim = { name: dynamodbClaimName(instance), namespace: instance, uid: '', resourceVersion: '', spec: resumed.spec, labels: resumed.summary.claim!.labels, conditions: [], managedTables: [] };
  }
  const owned = ownedTables(instance, claim.managedTables, resumed?.ownedAtBackup);
  validateInput(() => requireTablesCoverOwned(claim.name, requested, owned));

  const snapshots = await snapshotTables(owned);
  const writers = await activity('readWriters', 'Read the API Deployment and the CronJob')(instance);
  const app = await activity('inspectApplication', 'Read the Argo CD Application')(instance);
  if (app.owners.length > 0) refuse('ApplicationOwned', ownedApplicationRefusal(app));

  if (resumed) {
    const restoreFinished = live?.restoredFrom ? await activity('restoreFinished', 'Has a restore from this backup into the claim finished?')({ backup: resumed.location, claimUid: live.uid }) : false;
    const reason = resumeRefusal({ instance, source: resumed.source, expectedTables: owned, liveClaim: live, restoreFinished, snapshots });
    if (reason) refuse('ResumeRefused', `resume refused, nothing changed: ${reason}`);
  } else {
    const refusal = recreateRefusal(claim);
    if (refusal) refuse('RecoveryRefused', `recovery refused, nothing changed: ${refusal}`);
    const missing = snapshots.filter((s) => !s.exists).map((s) => s.tableName);
    if (missing.length > 0) {
      refuse('TablesMissing', `tables ${missing.join(', ')} do not exist: there is nothing to back up (to restore from an existing backup, pass resumeFrom)`);
    }
  }
  return { bucket: checked.bucket, claim, claimExists: Boolean(live), owned, snapshots, writers, app, resumed };
}

/**
 * A parent (an app-of-apps Application, an ApplicationSet) rewrites its children's spec from its own
 * source, so it would turn the paused automated sync back on mid-recovery, and self-heal would
 * restart the writers and re-create the deleted claim.
 */
export function ownedApplicationRefusal(app: { name: string; owners: { kind: string; name: string }[] }, runbook: 'recovery' | 'recreate-claim' = 'recovery'): string {
  const owners = app.owners.map((o) => `${o.kind} ${o.name}`).join(', ');
  return (
    `${runbook} refused, nothing changed: Application ${app.name} is managed by ${owners}, which rewrites its spec and would undo the pause of ` +
    `automated sync mid-${runbook === 'recovery' ? 'recovery' : 'run'} (self-heal would restart the writers${runbook === 'recovery' ? ' and re-create the deleted claim' : ''}); stop the parent from updating it ` +
    '(ApplicationSet: spec.syncPolicy.applicationsSync create-only; parent Application: automated sync off), take the Application out of its management, and retry'
  );
}

/** After approval: the claim is still absent, or still the one a recovery from this backup recreated. */
export async function recheckResumedClaim(instance: string, resumed: ResumedBackup): Promise<ClaimInfo | undefined> {
  const now = await inspectClaimIfAny(instance);
  const from = now?.restoredFrom;
  if (now && (from?.manifest !== resumed.source.url || from.sha256 !== resumed.source.manifestSha256)) {
    refuse('PlanNoLongerHolds', `claim ${now.name} (uid ${now.uid}) appeared after the plan was approved and was not recreated from ${resumed.source.url}: start a new run to re-plan`);
  }
  return now;
}
