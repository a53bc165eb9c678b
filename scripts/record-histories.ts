/**
 * Records the event histories that the replay tests replay against the current workflow code:
 * the status workflow, and the runbook machinery on every approval path (approve, reject, timeout,
 * quorum of two, cancellation, dry run). Run it against a running test stack (`make record-histories`)
 * after a deliberate workflow change, and commit the files: a later change that breaks determinism
 * then fails `make test`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { decide, waitForApprovalGate } from '../client/approvals';
import { startDiagnosticBundle, startDynamoDbExport, startDynamoDbRecovery, startInstanceStatus, startRollback } from '../client/runbooks';
import { progressQuery } from '../common/runbook';
import { deleteInstance, seedInstance } from '../platform-sim/seed';
import { generateApproverKey } from '../common/approval';
import type { ApprovalPolicyOverrides } from '../common/approval';
import { parseApprovalConfig } from '../common/approval-config';
import { destructiveWorkflowId, planWorkflowId } from '../common/runbook';
import { ensureBackupBucket, seedInstanceTables } from './seed/aws';
import { keys } from '../test-support/approvers';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';
import { createDrillActivities } from '../test-support/workflows/drill-activities';
import type { DrillSystem } from '../test-support/workflows/drill-activities';

const HISTORY_DIR = path.join(__dirname, '..', 'test', 'histories');

/** `--only a,b` re-records just those, keeping the other files: an older history proves old runs still replay. */
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;

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
    const instance = uniqueInstance('replay');
    await seedInstanceTables(aws.dynamodb, instance, { users: 5, matches: 2, feedback: 1 });
    await withWorker(async ({ client, taskQueue }) => {
      const handle = await startInstanceStatus(client, taskQueue, instance);
      await handle.result();
      await save('instance-status', handle);
    });

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
    const systems = new Map<string, DrillSystem>();
    const start = (client: Client, taskQueue: string, policy: ApprovalPolicyOverrides = {}, dryRun = false) => {
      const drillInstance = uniqueInstance('replay-drill');
      return client.workflow.start('approvalDrill', {
        taskQueue,
        workflowId: dryRun ? planWorkflowId('approval-drill', drillInstance, drillInstance) : destructiveWorkflowId(drillInstance),
        args: [{ instance: drillInstance, options: { requestedBy: { user: 'bob', via: 'test' }, dryRun, approvalPolicy: policy } }],
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

    const rollbackInstance = uniqueInstance('replay-rollback');
    await seedInstance(aws.kube, aws.dynamodb, rollbackInstance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    await withWorker(
      async ({ client, taskQueue }) => {
        const handle = await startRollback(client, taskQueue, {
          instance: rollbackInstance,
          target: 'previous',
          reason: 'replay fixture',
          options: { requestedBy: { user: 'bob', via: 'test' } },
        });
        await waitForApprovalGate(handle);
        await decide(handle, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' });
        await handle.result();
        await save('rollback-approved', handle);

        const bundle = await startDiagnosticBundle(client, taskQueue, { instance: rollbackInstance, options: { requestedBy: { user: 'bob', via: 'test' } } });
        await bundle.result();
        await save('diagnostic-bundle', bundle);

        // Both gates: the plan, then the confirmation once the backup is verified.
        const recovery = await startDynamoDbRecovery(client, taskQueue, {
          instance: rollbackInstance,
          confirmAfterBackup: true,
          export: { chunkMaxItems: 2, segments: 2 },
          options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'replay fixture' },
        });
        const plan = await waitForApprovalGate(recovery);
        await decide(recovery, { approver: 'alice', privateKey: alice.privateKey, decision: 'approve' });
        for (;;) {
          const progress = await recovery.query(progressQuery);
          if (progress.status === 'AwaitingApproval' && progress.approval?.planDigest !== plan.approval?.planDigest) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        await decide(recovery, { approver: 'carol', privateKey: carol.privateKey, decision: 'approve' });
        await recovery.result();
        await save('dynamodb-recovery-confirmed', recovery);

        const exported = await startDynamoDbExport(client, taskQueue, { instance: rollbackInstance, options: { requestedBy: { user: 'bob', via: 'test' } } });
        await exported.result();
        await save('dynamodb-export', exported);
      },
      { overrides: { approvals } },
    );
    await deleteInstance(aws.kube, rollbackInstance);
  } finally {
    aws.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
