/**
 * The guide's "Delete and recreate the resource claim", as the recovery does it: delete only the
 * planned claim with this run's verified backup of every table it owns, wait until everything it
 * managed is gone, then recreate it from the captured spec and wait until its tables are ACTIVE with
 * the keys the backup was taken with.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { ClaimInfo, DynamoDbRecoveryPlan } from '../../common/dynamodb-backup';
import { activity } from '../runbook/runbook';
import { inspectClaim, recheckResumedClaim } from './recovery-discovery';
import type { Discovery, ResumedBackup } from './recovery-discovery';
import { DESTRUCTIVE, poll } from './recovery-steps';
import type { Recovery, RecoveryBackup, RestoredTable } from './recovery-steps';

/** A resume that recreates the claim first waits out managed Tables still deleting its tables; runs before replay without. */
const RESUME_WAITS_FOR_OLD_TABLES_PATCH = 'recovery-resume-waits-for-old-tables';

/** 7. Delete the claim (the activities check the verified backup themselves); a resume keeps or awaits what is there. */
export async function deleteClaim(r: Recovery, found: Discovery, plan: DynamoDbRecoveryPlan, backup: RecoveryBackup): Promise<void> {
  const started = Date.now();
  if (found.resumed) await skipDeleteOnResume(r, found.resumed, found.owned);
  else await deleteClaimAndItsTables(r, found, plan, backup);
  r.durations.deleteSeconds = (Date.now() - started) / 1000;
}

/** What must not have changed between the plan and the delete: the claim, its composite, every Table it owns. */
export function claimIdentity(claim: ClaimInfo) {
  return { uid: claim.uid, spec: claim.spec, composite: claim.composite?.name, managedTables: claim.managedTables };
}

async function deleteClaimAndItsTables(r: Recovery, found: Discovery, plan: DynamoDbRecoveryPlan, backup: RecoveryBackup): Promise<void> {
  const { runbook, instance } = r;
  const { claim, owned } = found;
  const live = await inspectClaim(instance);
  await runbook.step('delete-claim', async () => {
    runbook.confirmUnchanged(`claim ${claim.name} and the tables it owns`, claimIdentity(claim), claimIdentity(live));
    // Paused or protected by a Usage since the plan: the deletion would never finish (the delete activity refuses too).
    if (live.deletionBlockers) throw ApplicationFailure.create({ type: 'DeletionBlocked', message: `not deleting claim ${claim.name}: ${live.deletionBlockers.join('; ')}`, nonRetryable: true });
    r.holdForResume = true;
    await activity('deleteDynamoDbClaim', `Delete claim ${claim.name}`, DESTRUCTIVE)({ instance, uid: claim.uid, backup: backup.ref, approval: runbook.approvalEvidence() });
    runbook.recordChange({ object: claimObject(instance), action: 'delete claim', before: { uid: claim.uid, spec: claim.spec, tables: owned } });
    // The old Table objects too: one still being deleted would delete the recreated table of its name.
    await poll('checkClaimDeleted', 'Wait until the composite, every managed Table and every table are gone', r.claimTimeoutMs)({
      instance,
      uid: claim.uid,
      composite: claim.composite?.name,
      managedTables: claim.managedTables.map(({ name, uid, tableName }) => ({ name, uid, tableName })),
      tableNames: owned,
      orphanedTables: plan.orphanedTablesToDelete,
    });
    await deleteOrphanedTables(r, claim.uid, plan.orphanedTablesToDelete, backup);
  });
}

/** Tables the claim leaves behind (Orphan, or not managed by its composite): never import into stale data. */
async function deleteOrphanedTables(r: Recovery, claimUid: string, orphaned: string[], backup: RecoveryBackup): Promise<void> {
  for (const tableName of orphaned) {
    await activity('deleteOrphanedTable', `Delete orphaned table ${tableName}`, DESTRUCTIVE)({ tableName, backup: backup.ref, approval: r.runbook.approvalEvidence() });
    r.runbook.recordChange({ object: `dynamodb/${tableName}`, action: 'delete orphaned table (backed up and verified)' });
  }
  if (orphaned.length > 0) {
    await poll('checkClaimDeleted', 'Wait until the orphaned tables are gone', r.claimTimeoutMs)({ instance: r.instance, uid: claimUid, tableNames: orphaned, orphanedTables: [] });
  }
}

/** Resuming: the claim recreated from this backup is kept, or the deleted claim's Tables are waited out. */
async function skipDeleteOnResume(r: Recovery, resumed: ResumedBackup, owned: string[]): Promise<void> {
  const now = await recheckResumedClaim(r.instance, resumed);
  r.holdForResume = true;
  r.runbook.skip('delete-claim', now ? 'resuming: the claim recreated from this backup is kept' : 'resuming: the claim is already gone');
  // A Table of the deleted claim may still be deleting: it would delete the recreated table of its name.
  if (!now && patched(RESUME_WAITS_FOR_OLD_TABLES_PATCH)) {
    await poll('checkTablesReleased', 'Wait until no managed Table still being deleted names these tables', r.claimTimeoutMs)({ tableNames: owned });
  }
}

/** 8. Recreate the claim, annotated with the backup it is restored from; its tables must take the backup's keys. */
export async function recreateClaim(r: Recovery, found: Discovery, plan: DynamoDbRecoveryPlan, backup: RecoveryBackup): Promise<{ uid: string }> {
  const { runbook, instance } = r;
  const { claim, owned, resumed } = found;
  const started = Date.now();
  const created = await runbook.step('recreate-claim', async () => {
    const restoredFrom = { manifest: backup.url, sha256: backup.location.manifestSha256 };
    const created = await activity('createDynamoDbClaim', `Recreate claim ${claim.name}`)({ instance, spec: plan.claim.spec, labels: claim.labels, recreatedBy: r.changedBy, restoredFrom, approval: runbook.approvalEvidence() });
    if (created.created) runbook.recordChange({ object: claimObject(instance), action: 'create claim from the captured spec', after: { uid: created.uid, spec: plan.claim.spec, restoredFrom } });
    const managedTableNames = resumed ? undefined : claim.managedTables.map((t) => t.tableName);
    await poll('checkClaimReady', 'Wait for the claim to be Synced/Ready and every owned table ACTIVE', r.claimTimeoutMs)({ instance, tableNames: owned, managedTableNames });
    await requireSameKeys(r, backup.tables);
    return created;
  });
  r.durations.recreateSeconds = (Date.now() - started) / 1000;
  return created;
}

/** The composition may have changed since the backup: keys must match or the items cannot go back. */
async function requireSameKeys(r: Recovery, tables: RestoredTable[]): Promise<void> {
  for (const t of tables) {
    const differences = await activity('compareTableDefinition', `Compare ${t.targetTable} with its captured definition`)({ tableName: t.targetTable, definition: t.definition });
    if (differences.keys.length > 0) {
      throw ApplicationFailure.create({ type: 'DefinitionMismatch', message: `recreated ${t.targetTable} differs in its keys: ${differences.keys.join('; ')}`, nonRetryable: true });
    }
    for (const d of differences.other) r.runbook.note(`${t.targetTable}: ${d}`);
  }
}

export function claimObject(instance: string): string {
  return `virtualcoffeedynamodbclaims.virtualcoffee.io/${instance}/${instance}-dynamodb`;
}
