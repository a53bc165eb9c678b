/**
 * Records the event histories that the replay tests replay against the current workflow code:
 * the status workflows (one instance, the fleet), the runbook machinery on every approval path (approve, reject, timeout,
 * quorum of two, cancellation, dry run), and each runbook's main paths (rollback, its revert, unpin,
 * bundle, recovery with its confirmation, a resumed recovery, export, import), and the backup service
 * (a scheduled backup with its export, retention and drill children; a drill, a retention and the
 * catalog started on their own). Run it against a
 * running test stack (`make record-histories`) after a deliberate workflow change, and commit the
 * files: a later change that breaks determinism then fails `make test`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { decide, waitForApprovalGate } from '../client/approvals';
import { deleteBackups, scheduleBackups } from '../client/backup-schedules';
import {
  startBackupCatalog,
  startBackupDrill,
  startBackupRetention,
  startDiagnosticBundle,
  startDynamoDbExport,
  startDynamoDbImport,
  startDynamoDbRecovery,
  startFleetStatus,
  startInstanceStatus,
  startRestart,
  startRollback,
  startRunMatchingJob,
  startSync,
  startTriage,
  startUnpin,
} from '../client/runbooks';
import { backupScheduleId, scheduledBackupChildId } from '../common/backup-schedule';
import { progressQuery } from '../common/runbook';
import { deleteInstance, seedInstance } from '../platform-sim/seed';
import { generateApproverKey } from '../common/approval';
import type { ApprovalPolicyOverrides } from '../common/approval';
import type { ApprovalConfig } from '../common/runbook';
import { instanceTableNames } from '../common/instance';
import { INSTANCE_LABEL } from '../common/platform';
import { parseApprovalConfig } from '../common/approval-config';
import { destructiveWorkflowId, planWorkflowId } from '../common/workflows';
import { createPlatformTables, ensureBackupBucket, seedInstanceTables } from './seed/aws';
import { platformRepo } from '../platform-sim/platform-repo';
import { deleteClaimAndWait } from '../test-support/backups';
import { keys } from '../test-support/approvers';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import { createDrillActivities } from '../test-support/workflows/drill-activities';
import type { DrillSystem } from '../test-support/workflows/drill-activities';

const HISTORY_DIR = path.join(__dirname, '..', 'test', 'histories');

/** `--only a,b` re-records just those, keeping the other files: an older history proves old runs still replay. */
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;

/** Whether a run is needed: it is recorded, or a recorded one starts from what it leaves behind. */
function wanted(...names: string[]): boolean {
  return !ONLY || names.some((name) => ONLY.has(name));
}

const requestedBy = { user: 'bob', via: 'test' } as const;

async function save(name: string, handle: WorkflowHandle): Promise<void> {
  if (ONLY && !ONLY.has(name)) return;
  const file = path.join(HISTORY_DIR, `${name}.json`);
  // Replay needs the original workflow ID too: the runbook machinery checks it (the destructive lock).
  const history: unknown = JSON.parse(historyToJSON(await handle.fetchHistory()));
  await writeFile(file, JSON.stringify({ workflowId: handle.workflowId, history }) + '\n');
  console.log(`recorded ${path.relative(process.cwd(), file)}`);
}


async function main(): Promise<void> {
  const aws = awsClients();
  await mkdir(HISTORY_DIR, { recursive: true });
  try {
    await ensureBackupBucket(aws.s3, config.aws.backupBucket);
    if (wanted('instance-status')) {
      const instance = uniqueInstance('replay');
      await seedInstanceTables(aws.dynamodb, instance, { users: 5, matches: 2, feedback: 1 });
      await withWorker(async ({ client, taskQueue }) => {
        const handle = await startInstanceStatus(client, taskQueue, instance);
        await handle.result();
        await save('instance-status', handle);
      });
    }
    if (wanted('fleet-status')) {
      // Two instance namespaces under a prefix of its own: one with tables, one bare (reads that find nothing).
      const prefix = uniqueInstance('replay-fleet');
      const [withTables, bare] = [`${prefix}-a`, `${prefix}-b`];
      for (const name of [withTables, bare]) await aws.kube.core.createNamespace({ body: { metadata: { name, labels: { [INSTANCE_LABEL]: name } } } });
      await seedInstanceTables(aws.dynamodb, withTables, { users: 1, matches: 1, feedback: 1 });
      try {
        await withWorker(async ({ client, taskQueue }) => {
          const handle = await startFleetStatus(client, taskQueue, { prefix, concurrency: 2 });
          await handle.result();
          await save('fleet-status', handle);
        });
      } finally {
        for (const name of [withTables, bare]) await deleteInstance(aws.kube, name);
      }
    }

    const alice = generateApproverKey();
    const carol = generateApproverKey();
    const approvals = parseApprovalConfig({
      approvers: [
        { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
        { user: 'carol', groups: ['sre'], publicKey: carol.publicKey },
        // The requester: the test client signs bob's starts with this key, and the workers verify it.
        { user: 'bob', groups: ['developers'], publicKey: keys.bob.publicKey },
      ],
      policies: { default: { timeoutMs: 60_000, remindBeforeTimeoutMs: [] } },
    });
    if (wanted('drill-approved', 'drill-rejected', 'drill-timed-out', 'drill-quorum', 'drill-cancelled', 'drill-dry-run')) await recordDrills(alice, carol, approvals);

    if (wanted(...BACKUP_SERVICE_HISTORIES)) await recordBackupService(aws, approvals);

    const approve = (handle: WorkflowHandle, by: 'alice' | 'carol' = 'alice') => decide(handle, { approver: by, privateKey: (by === 'alice' ? alice : carol).privateKey, decision: 'approve' });
    if (wanted('rollback-reverted')) await recordRevertedRollback(aws, approve, approvals);

    const rollbackInstance = uniqueInstance('replay-rollback');
    await seedInstance(aws.kube, aws.dynamodb, rollbackInstance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    await withWorker(
      async ({ client, taskQueue }) => {
        if (wanted('rollback-approved', 'unpin-approved')) {
          const handle = await startRollback(client, taskQueue, { instance: rollbackInstance, target: 'previous', reason: 'replay fixture', options: { requestedBy } });
          await waitForApprovalGate(handle);
          await approve(handle);
          await handle.result();
          await save('rollback-approved', handle);
        }
        if (wanted('unpin-approved')) {
          // The rollback pinned a commit: follow the branch again.
          const handle = await startUnpin(client, taskQueue, { instance: rollbackInstance, reason: 'replay fixture: the fix is out', options: { requestedBy } });
          await waitForApprovalGate(handle);
          await approve(handle, 'carol');
          await handle.result();
          await save('unpin-approved', handle);
        }

        if (wanted('diagnostic-bundle')) {
          const bundle = await startDiagnosticBundle(client, taskQueue, { instance: rollbackInstance, options: { requestedBy } });
          await bundle.result();
          await save('diagnostic-bundle', bundle);
        }

        if (wanted('triage')) {
          const triaged = await startTriage(client, taskQueue, { instance: rollbackInstance, options: { requestedBy } });
          await triaged.result();
          await save('triage', triaged);
        }
        // The guide's fixes, each approved: the API restarted, the matching job run, the Application synced.
        const fixes = [
          ['restart-approved', () => startRestart(client, taskQueue, { instance: rollbackInstance, target: 'api', reason: 'replay fixture', options: { requestedBy } })],
          ['run-matching-job-approved', () => startRunMatchingJob(client, taskQueue, { instance: rollbackInstance, reason: 'replay fixture', options: { requestedBy } })],
          ['sync-approved', () => startSync(client, taskQueue, { instance: rollbackInstance, reason: 'replay fixture', options: { requestedBy } })],
        ] as const;
        for (const [name, start] of fixes) {
          if (!wanted(name)) continue;
          const handle: WorkflowHandle = await start();
          await waitForApprovalGate(handle);
          await approve(handle);
          await handle.result();
          await save(name, handle);
        }

        if (wanted('dynamodb-recovery-confirmed', 'dynamodb-recovery-resumed')) {
          // Both gates: the plan, then the confirmation once the backup is verified.
          const recovery = await startDynamoDbRecovery(client, taskQueue, {
            instance: rollbackInstance,
            confirmAfterBackup: true,
            export: { chunkMaxItems: 2, segments: 2 },
            options: { requestedBy, reason: 'replay fixture' },
          });
          const plan = await waitForApprovalGate(recovery);
          await approve(recovery);
          for (;;) {
            const progress = await recovery.query(progressQuery);
            if (progress.status === 'AwaitingApproval' && progress.approval?.planDigest !== plan.approval?.planDigest) break;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          await approve(recovery, 'carol');
          const recovered = await recovery.result();
          await save('dynamodb-recovery-confirmed', recovery);

          if (wanted('dynamodb-recovery-resumed')) {
            // As after a recovery that failed past its delete: the claim and its tables are gone; finish from the backup.
            await deleteClaimAndWait(aws.kube, aws.dynamodb, rollbackInstance);
            const resumed = await startDynamoDbRecovery(client, taskQueue, {
              instance: rollbackInstance,
              resumeFrom: recovered.details!.backup.url,
              options: { requestedBy, reason: 'replay fixture: finish the recovery' },
            });
            await waitForApprovalGate(resumed);
            await approve(resumed);
            await resumed.result();
            await save('dynamodb-recovery-resumed', resumed);
          }
        }

        if (wanted('dynamodb-export', 'dynamodb-import')) {
          const exported = await startDynamoDbExport(client, taskQueue, { instance: rollbackInstance, options: { requestedBy } });
          const backup = (await exported.result()).details!.backup;
          await save('dynamodb-export', exported);

          if (wanted('dynamodb-import')) {
            // The main path: a manifest into empty tables (those of another instance, mapped by base name).
            const target = uniqueInstance('replay-import');
            await createPlatformTables(aws.dynamodb, target);
            const imported = await startDynamoDbImport(client, taskQueue, { instance: target, from: backup.url, allowOtherInstance: true, options: { requestedBy } });
            await waitForApprovalGate(imported);
            await approve(imported);
            await imported.result();
            await save('dynamodb-import', imported);
            for (const tableName of instanceTableNames(target)) await aws.dynamodb.send(new DeleteTableCommand({ TableName: tableName }));
          }
        }
      },
      { overrides: { approvals } },
    );
    await deleteInstance(aws.kube, rollbackInstance);
  } finally {
    aws.close();
  }
}

/** The runbook machinery alone, on every approval path. */
type KeyPair = ReturnType<typeof generateApproverKey>;

async function recordDrills(alice: KeyPair, carol: KeyPair, approvals: ApprovalConfig): Promise<void> {
  const systems = new Map<string, DrillSystem>();
  const start = (client: Client, taskQueue: string, policy: ApprovalPolicyOverrides = {}, dryRun = false) => {
    const drillInstance = uniqueInstance('replay-drill');
    return client.workflow.start('approvalDrill', {
      taskQueue,
      workflowId: dryRun ? planWorkflowId('approval-drill', drillInstance, drillInstance) : destructiveWorkflowId(drillInstance),
      args: [{ instance: drillInstance, options: { requestedBy, dryRun, approvalPolicy: policy } }],
    });
  };
  await withWorker(
    async ({ client, taskQueue }) => {
      const approved = await start(client, taskQueue, {
        inputs: [{ name: 'revision', description: 'revision', required: false }],
      });
      await waitForApprovalGate(approved);
      await decide(approved, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve', inputs: { revision: 'abc' } });
      await approved.result();
      await save('drill-approved', approved);

      const rejected = await start(client, taskQueue);
      await waitForApprovalGate(rejected);
      await decide(rejected, { approver: 'carol', privateKey: carol.privateKey, decision: 'reject', comment: 'no' });
      await rejected.result();
      await save('drill-rejected', rejected);

      const timedOut = await start(client, taskQueue, { timeoutMs: 1_500, remindBeforeTimeoutMs: [700] });
      await timedOut.result();
      await save('drill-timed-out', timedOut);

      const quorum = await start(client, taskQueue, { minApprovals: 2 });
      await waitForApprovalGate(quorum);
      await decide(quorum, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' });
      await decide(quorum, { approver: 'carol', privateKey: carol.privateKey, decision: 'approve' });
      await quorum.result();
      await save('drill-quorum', quorum);

      const cancelled = await start(client, taskQueue);
      await waitForApprovalGate(cancelled);
      await cancelled.cancel();
      await cancelled.result();
      await save('drill-cancelled', cancelled);

      const planned = await start(client, taskQueue, {}, true);
      await planned.result();
      await save('drill-dry-run', planned);
    },
    { workflows: 'drills', extraActivities: createDrillActivities(systems), overrides: { approvals } },
  );
}

const BACKUP_SERVICE_HISTORIES = ['scheduled-backup', 'scheduled-backup-export', 'scheduled-backup-retention', 'scheduled-backup-drill', 'backup-drill', 'backup-retention', 'backup-catalog'];

/**
 * The backup service: two exports, then a run its schedule starts (keep 2, drill), so the scheduled
 * run's retention child deletes the oldest backup (its audited delete path) and its drill child
 * restores the new one; then a drill (newest verified), a dry-run retention and the catalog on their own.
 */
async function recordBackupService(aws: ReturnType<typeof awsClients>, approvals: ApprovalConfig): Promise<void> {
  const instance = uniqueInstance('replay-backups');
  await seedInstance(aws.kube, aws.dynamodb, instance, { sizes: { users: 3, matches: 1, feedback: 1 }, automatedSync: false });
  try {
    await withWorker(
      async ({ client, taskQueue }) => {
        for (let i = 0; i < 2; i++) {
          const exported = await (await startDynamoDbExport(client, taskQueue, { instance, options: { requestedBy } })).result();
          if (exported.outcome !== 'succeeded') throw new Error(`export ${i + 1} ended ${exported.outcome}: ${exported.reason}`);
        }
        try {
          await scheduleBackups(client, taskQueue, { instance, everyMs: 86_400_000, keep: 2, drill: true, requestedBy }, keys.bob.privateKey);
          const schedule = client.schedule.getHandle(backupScheduleId(instance));
          await schedule.trigger();
          let workflowId: string | undefined;
          while (!workflowId) {
            workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
            if (!workflowId) await new Promise((resolve) => setTimeout(resolve, 200));
          }
          const scheduled = client.workflow.getHandle(workflowId);
          const result = (await scheduled.result()) as { outcome: string; reason?: string };
          if (result.outcome !== 'succeeded') throw new Error(`the scheduled backup ended ${result.outcome}: ${result.reason}`);
          await save('scheduled-backup', scheduled);
          for (const child of ['export', 'retention', 'drill'] as const) await save(`scheduled-backup-${child}`, client.workflow.getHandle(scheduledBackupChildId(workflowId, child)));
        } finally {
          await deleteBackups(client, instance).catch(() => undefined);
        }

        const drill = await startBackupDrill(client, taskQueue, { instance, options: { requestedBy } });
        if ((await drill.result()).outcome !== 'succeeded') throw new Error('the drill of the newest verified backup did not pass');
        await save('backup-drill', drill);
        const retention = await startBackupRetention(client, taskQueue, { instance, keep: 1, dryRun: true, options: { requestedBy } });
        await retention.result();
        await save('backup-retention', retention);
        const catalog = await startBackupCatalog(client, taskQueue, instance);
        await catalog.result();
        await save('backup-catalog', catalog);
      },
      { overrides: { approvals } },
    );
  } finally {
    await deleteInstance(aws.kube, instance);
  }
}

/** A rollback whose sync fails (the API server refuses the selector change): the run reverts, then fails. */
async function recordRevertedRollback(aws: ReturnType<typeof awsClients>, approve: (handle: WorkflowHandle) => Promise<unknown>, approvals: ApprovalConfig): Promise<void> {
  const [oldest] = platformRepo().releases;
  const instance = uniqueInstance('replay-revert');
  await seedInstance(aws.kube, aws.dynamodb, instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false, earlierRevisions: [oldest!, platformRepo().fixtures.immutableSelector] });
  await withWorker(
    async ({ client, taskQueue }) => {
      const handle = await startRollback(client, taskQueue, { instance, target: 'previous', reason: 'replay fixture: a failing sync', rolloutTimeoutMs: 60_000, options: { requestedBy } });
      await waitForApprovalGate(handle);
      await approve(handle);
      const failed = await handle.result().then(() => false, () => true);
      if (!failed) throw new Error('the rollback to the immutable-selector fixture was expected to fail and revert');
      await save('rollback-reverted', handle);
    },
    { overrides: { approvals } },
  );
  await deleteInstance(aws.kube, instance);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
