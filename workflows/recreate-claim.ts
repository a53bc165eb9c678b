/**
 * The guide's fix for a claim stuck creating ("DynamoDB Table Creation Failures", step 5):
 * `kubectl delete virtualcoffeedynamodbclaim ...` then `make deploy-instance`, for tables that hold
 * no data. It is the DynamoDB recovery's delete and recreate (workflows/dynamodb/) without the export
 * and import, so it runs only while every table the claim owns is empty (or missing): it refuses at
 * discovery when one holds an item, pointing to `runbook recover-dynamodb`, and checks again after
 * the approval with the writers stopped, right before the delete (the delete activity checks too).
 */
import { ApplicationFailure, ActivityFailure, workflowInfo } from '@temporalio/workflow';
import { RUNBOOKS } from '../common/definitions';
import { EMPTY_DIGEST } from '../common/dynamodb-backup';
import type { ClaimInfo } from '../common/dynamodb-backup';
import { ownedTables } from '../common/dynamodb-recovery-plan';
import { validateInstanceName } from '../common/instance';
import { buildRecreateClaimPlan, notEmptyRefusal, stuckReasons, validateRecreateClaimInput } from '../common/recreate-claim-plan';
import type { RecreateClaimDetails, RecreateClaimInput, RecreateClaimPlan } from '../common/recreate-claim-plan';
import type { RunbookResult } from '../common/runbook';
import { claimIdentity, claimObject } from './dynamodb/claim-steps';
import { inspectClaim, ownedApplicationRefusal } from './dynamodb/recovery-discovery';
import { DESTRUCTIVE, pauseSync, poll, quiesceWriters } from './dynamodb/recovery-steps';
import type { WriterStop } from './dynamodb/recovery-steps';
import { digestTable, requireEqual, snapshotTables } from './dynamodb/steps';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const DEFAULT_CLAIM_TIMEOUT_MS = 10 * 60 * 1000;

const RECREATE_CLAIM_STEPS = [
  { name: 'discover', title: 'Read the claim, every table it owns and their items (refused unless all are empty)' },
  { name: 'approve', title: 'Approval' },
  { name: 'pause-sync', title: 'Pause Argo CD automated sync and self-heal' },
  { name: 'quiesce', title: 'Stop the writers (API to 0 replicas, CronJob suspended)' },
  { name: 'delete-claim', title: 'Check every table is still empty, delete the claim, wait until its managed Tables and tables are gone' },
  { name: 'recreate-claim', title: 'Recreate the claim and wait for Synced/Ready and ACTIVE tables' },
  { name: 'verify', title: 'Verify: every table exists, ACTIVE, and holds what it held before (nothing)' },
] as const;

type Step = StepsOf<typeof RECREATE_CLAIM_STEPS>;

/** One recreate-claim run, as its steps share it. */
interface RecreateClaim extends WriterStop<Step> {
  readonly runbook: Runbook<Step>;
  readonly input: RecreateClaimInput;
  readonly claimTimeoutMs: number;
}

interface Found {
  claim: ClaimInfo;
  owned: string[];
  plan: RecreateClaimPlan;
}

export async function recreateClaim(input: RecreateClaimInput): Promise<RunbookResult<RecreateClaimDetails>> {
  const r = setup(input);
  return r.runbook.run(async () => {
    const found = await discover(r);
    await r.runbook.step('approve', () => r.runbook.approve(found.plan));
    await pauseSync(r, found.plan);
    await quiesceWriters(r);
    const deleteSeconds = await deleteEmptyClaim(r, found);
    const { uid, recreateSeconds } = await recreate(r, found);
    const tables = await verifyEmptyAsBefore(r, found);
    return { claim: { name: found.claim.name, deletedUid: found.claim.uid, uid }, tables, durations: { deleteSeconds, recreateSeconds } };
  });
}

function setup(input: RecreateClaimInput): RecreateClaim {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const { reason } = validateInput(() => validateRecreateClaimInput(input));
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.recreateClaim,
    title: 'Recreate claim',
    instance,
    options: { ...input.options, reason },
    destructive: true,
    startInput: input,
    steps: RECREATE_CLAIM_STEPS,
  });
  return {
    runbook,
    instance,
    input,
    claimTimeoutMs: input.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS,
    changedBy: `${info.workflowId}/${info.runId}`,
    // Writers are stopped before the last emptiness check, so nothing writes between it and the delete.
    quiesce: true,
    // No data to protect after the delete: a failure restores the writers and sync.
    holdForResume: false,
  };
}

/** 1. The guide's "verify the table" checks, read-only: the claim, every table it owns and its items; refused here unless all are empty. */
async function discover(r: RecreateClaim): Promise<Found> {
  const { runbook, instance } = r;
  const found = await runbook.step('discover', async () => {
    const claim = await inspectClaim(instance);
    const owned = ownedTables(instance, claim.managedTables);
    const snapshots = await snapshotTables(owned);
    const writers = await activity('readWriters', 'Read the API Deployment and the CronJob')(instance);
    const app = await activity('inspectApplication', 'Read the Argo CD Application')(instance);
    if (app.owners.length > 0) throw ApplicationFailure.create({ type: 'ApplicationOwned', message: ownedApplicationRefusal(app, 'recreate-claim'), nonRetryable: true });
    return { claim, owned, plan: buildRecreateClaimPlan({ instance, claim, owned, snapshots, writers, app }) };
  });
  const { plan } = found;
  if (!runbook.dryRun && plan.refusals.length > 0) {
    throw ApplicationFailure.create({ type: 'RecreateClaimRefused', message: `recreate-claim refused, nothing changed: ${plan.refusals.join(' ')}`, nonRetryable: true, details: [plan] });
  }
  runbook.note(`Recreate ${plan.claim.name} (tables ${found.owned.join(', ')}, all empty): ${plan.stuck.join('; ')}`);
  return found;
}

/** 5. With the writers stopped: every table still empty, then the guide's `kubectl delete`, and the wait until everything it managed is gone. */
async function deleteEmptyClaim(r: RecreateClaim, { claim, owned, plan }: Found): Promise<number> {
  const { runbook, instance } = r;
  const started = Date.now();
  await runbook.step('delete-claim', async () => {
    const live = await inspectClaim(instance);
    runbook.confirmUnchanged(`claim ${claim.name} and the tables it owns`, claimIdentity(claim), claimIdentity(live));
    // A writer may have written since the plan; the writers are stopped now, so this holds until the delete.
    const now = await activity('checkTablesEmpty', 'Check every table is still empty')(owned);
    const holding = now.filter((t) => t.holdsItems);
    if (holding.length > 0) {
      throw ApplicationFailure.create({ type: 'TablesNotEmpty', message: `recreate-claim refused after the approval, nothing deleted: ${notEmptyRefusal(instance, holding)}`, nonRetryable: true });
    }
    await activity('deleteEmptyDynamoDbClaim', `Delete claim ${claim.name}`, DESTRUCTIVE)({ instance, uid: claim.uid, approval: runbook.approvalEvidence() });
    runbook.recordChange({ object: claimObject(instance), action: 'delete claim (every table empty)', before: { uid: claim.uid, spec: claim.spec, tables: owned } });
    // The old Table objects too: one still being deleted would delete the recreated table of its name.
    const leftInPlace = plan.tables.filter((t) => t.onDelete === 'left in place (empty)').map((t) => t.tableName);
    await poll('checkClaimDeleted', 'Wait until the composite, every managed Table and every table are gone', r.claimTimeoutMs)({
      instance,
      uid: claim.uid,
      composite: claim.composite?.name,
      managedTables: claim.managedTables.map(({ name, uid, tableName }) => ({ name, uid, tableName })),
      tableNames: owned,
      orphanedTables: leftInPlace,
    });
  });
  return (Date.now() - started) / 1000;
}

/** 6. The guide's `make deploy-instance`: the claim from the captured spec, waited for until Ready with every table ACTIVE. */
async function recreate(r: RecreateClaim, { claim, owned, plan }: Found): Promise<{ uid: string; recreateSeconds: number }> {
  const { runbook, instance } = r;
  const started = Date.now();
  const created = await runbook.step('recreate-claim', async () => {
    const created = await activity('createDynamoDbClaim', `Recreate claim ${claim.name}`)({ instance, spec: plan.claim.spec, labels: claim.labels, recreatedBy: r.changedBy, approval: runbook.approvalEvidence() });
    if (created.created) runbook.recordChange({ object: claimObject(instance), action: 'create claim from the captured spec', after: { uid: created.uid, spec: plan.claim.spec } });
    try {
      await poll('checkClaimReady', 'Wait for the claim to be Synced/Ready and every table ACTIVE', r.claimTimeoutMs)({ instance, tableNames: owned, managedTableNames: claim.managedTables.map((t) => t.tableName) });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      throw ApplicationFailure.create({ type: 'ClaimNotReady', message: `the recreated claim ${claim.name} is not Ready: ${await whyNotReady(instance, owned)}`, nonRetryable: true, cause: err });
    }
    return created;
  });
  return { uid: created.uid, recreateSeconds: (Date.now() - started) / 1000 };
}

/** What keeps the recreated claim from Ready, read again for the report. */
async function whyNotReady(instance: string, owned: string[]): Promise<string> {
  try {
    const [now, snapshots] = await Promise.all([inspectClaim(instance), snapshotTables(owned)]);
    return stuckReasons(now, snapshots).join('; ') || 'it became Ready after the wait ended';
  } catch (err) {
    return `it could not be read (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** 7. Every table exists, ACTIVE, and equals what it held before the delete, item by item (by digest): nothing, nothing lost, nothing from elsewhere. */
async function verifyEmptyAsBefore(r: RecreateClaim, { owned, plan }: Found): Promise<RecreateClaimDetails['tables']> {
  return r.runbook.step('verify', async () => {
    const snapshots = await snapshotTables(owned);
    const tables: RecreateClaimDetails['tables'] = [];
    for (const tableName of owned) {
      const after = await digestTable(tableName, 1);
      const before = plan.tables.find((t) => t.tableName === tableName);
      const status = snapshots.find((s) => s.tableName === tableName)?.status ?? 'missing';
      tables.push({ tableName, existedBefore: before?.exists ?? false, itemsBefore: 0, itemsAfter: after.items, digestBefore: EMPTY_DIGEST, digestAfter: after.digest, status });
    }
    const missing = tables.filter((t) => t.status !== 'ACTIVE');
    if (missing.length > 0) {
      throw ApplicationFailure.create({ type: 'TablesMissing', message: `after the recreate, ${missing.map((t) => `${t.tableName} is ${t.status}`).join(', ')}`, nonRetryable: true });
    }
    requireEqual(
      tables.map((t) => ({ tableName: t.tableName, backupItems: t.itemsBefore, restoredItems: t.itemsAfter, backupDigest: t.digestBefore, restoredDigest: t.digestAfter })),
      'the recreated claim\'s tables differ from before (they were empty)',
    );
    return tables;
  });
}
