/**
 * `make demo`: runs the runbooks against the seeded demo instance through the real local stack and
 * prints each step, result and Temporal UI link. The operator starts runs; a second identity, the
 * approver, approves them with a signed approval. Exits 0 when every runbook did what it should.
 */
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { loadConfig } from '../common/config';
import type { DynamoDbRecoveryPlan } from '../common/dynamodb-backup';
import type { RollbackPlan } from '../common/rollback';
import type { RunbookResult } from '../common/runbook';
import { decide, waitForApprovalGate } from './approvals';
import { connectClient, workflowUiUrl } from './connection';
import { DEFAULT_LINK_SECONDS, signDownloadLink } from './download-link';
import { loadKey } from './keys';
import { recoveryPlanLines } from './results';
import { startDiagnosticBundle, startDynamoDbRecovery, startInstanceStatus, startRollback } from './runbooks';
import { PlainView, watchRun } from './watch';


async function main(): Promise<void> {
  const instance = process.argv[2] ?? 'demo';
  const stateDir = process.argv[3] ?? '.stack/demo';
  const config = loadConfig();
  const uiBaseUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
  const keyDir = path.join(stateDir, 'keys');
  const approver = loadKey('approver', keyDir);
  // The operator requests every run; the workers verify the operator's signature on each start.
  const operator = loadKey('operator', keyDir);
  const { client, close } = await connectClient(config, new Map([[operator.user, operator.privateKey]]));
  const link = async (handle: WorkflowHandle) =>
    workflowUiUrl(uiBaseUrl, config.temporal.namespace, handle.workflowId, (await handle.describe()).runId);
  try {
    console.log(`\n== 1. Instance status: ${instance}`);
    const statusHandle = await startInstanceStatus(client, config.temporal.taskQueue, instance);
    const report = await statusHandle.result();
    const app = report.application;
    console.log(
      app.exists
        ? `  Application ${app.name}: ${app.syncStatus}/${app.health} at ${app.syncedRevision?.slice(0, 7)} (tracking ${app.targetRevision})`
        : `  Application ${app.name}: MISSING`,
    );
    for (const d of report.deployments) console.log(`  Deployment ${d.name}: ${d.exists ? `${d.availableReplicas}/${d.replicas} available` : 'MISSING'}`);
    for (const t of report.tables) console.log(`  table ${t.tableName}: ${t.exists ? `${t.status}, ${t.itemCount} items` : 'MISSING'}`);
    const bucket = report.backupBucket;
    console.log(`  backup bucket s3://${bucket.bucket}: ${bucket.exists ? `versioning ${bucket.versioning}` : 'MISSING'}`);
    console.log(`  healthy: ${report.healthy}${report.problems.length ? ` (${report.problems.join('; ')})` : ''}`);
    console.log(`  Temporal UI: ${await link(statusHandle)}`);
    if (!report.healthy) throw new Error('the demo instance is not healthy; see the problems above');

    console.log(`\n== 2. Diagnostic bundle: ${instance}`);
    const bundleHandle = await startDiagnosticBundle(client, config.temporal.taskQueue, {
      instance,
      options: { requestedBy: { user: 'operator', via: 'demo' } },
    });
    const bundle = (await bundleHandle.result());
    const archive = bundle.details!.archive;
    const failed = bundle.details!.collectors.filter((c) => c.status === 'failed');
    console.log(`  ${bundle.details!.collectors.length - failed.length}/${bundle.details!.collectors.length} collectors ok${failed.length ? ` (failed: ${failed.map((c) => `${c.collector}: ${c.error}`).join('; ')})` : ''}`);
    console.log(`  archive s3://${archive.bucket}/${archive.key}: ${archive.files} files, ${archive.size} bytes, sha256 ${archive.sha256}`);
    // Signed here with the demo's own credentials: the run returned only where the archive is.
    const download = await signDownloadLink(config, archive, DEFAULT_LINK_SECONDS);
    console.log(`  download (valid until ${download.expiresAt}): ${download.url}`);
    console.log(`  Temporal UI: ${await link(bundleHandle)}`);

    console.log(`\n== 3. Rollback ${instance} to the previous revision (requested by operator, approved by approver)`);
    const rollbackHandle = await startRollback(client, config.temporal.taskQueue, {
      instance,
      target: 'previous',
      reason: 'demo: the latest deploy returns 5xx on /api/v1/matches',
      options: { requestedBy: { user: 'operator', via: 'demo' } },
    });
    const snapshot = await waitForApprovalGate(rollbackHandle);
    const plan = snapshot.plan as RollbackPlan;
    console.log(`  plan: ${plan.application} ${plan.from.syncedRevision?.slice(0, 12)} -> ${plan.to.revision.slice(0, 12)} (sync requested${plan.sync.prune ? ", with prune" : ""})`);
    console.log(`  pinning: ${plan.pinning}`);
    for (const risk of plan.risks) console.log(`  risk: ${risk}`);
    console.log(`  waiting for approval of plan ${snapshot.approval?.planDigest}; Temporal UI: ${await link(rollbackHandle)}`);
    const decision = await decide(rollbackHandle, {
      approver: approver.user,
      privateKey: approver.privateKey,
      decision: 'approve',
      comment: 'approved in the demo',
    });
    console.log(`  approved by ${approver.user} (${approver.fingerprint}): ${decision.state}`);
    const result = (await rollbackHandle.result());
    const details = result.details!;
    console.log(`  ${result.outcome}: ${details.application} now ${details.final.syncStatus}/${details.final.health} at ${details.final.syncedRevision?.slice(0, 12)} after ${details.timings.rolloutSeconds}s`);
    console.log(`  audit record: ${result.auditLocation}`);

    console.log(`\n== 4. DynamoDB recovery of ${instance}: back up, delete and recreate the tables, import, verify (requested by operator, approved by approver)`);
    const recoveryHandle = await startDynamoDbRecovery(client, config.temporal.taskQueue, {
      instance,
      options: { requestedBy: { user: 'operator', via: 'demo' }, reason: 'demo: tables recreated after a schema change gone wrong' },
    });
    const gate = await waitForApprovalGate(recoveryHandle);
    console.log(`  plan ${gate.approval?.planDigest}:`);
    for (const line of recoveryPlanLines(gate.plan as DynamoDbRecoveryPlan)) console.log(`  ${line}`);
    console.log(`  waiting for approval; Temporal UI: ${await link(recoveryHandle)}`);
    const recoveryDecision = await decide(recoveryHandle, {
      approver: approver.user,
      privateKey: approver.privateKey,
      decision: 'approve',
      comment: 'approved in the demo: backup first',
    });
    console.log(`  approved by ${approver.user} (${approver.fingerprint}): ${recoveryDecision.state}`);
    // Each step as it starts and ends, the counters, then the result (backup URL, per-table digests, durations).
    const end = await watchRun(client, recoveryHandle.workflowId, { intervalMs: 500, view: new PlainView(recoveryHandle.workflowId, (line) => console.log(`  ${line}`)) });
    if (!end.succeeded) throw new Error(`the DynamoDB recovery ended ${end.outcome}: ${end.reason ?? 'no reason given'}`);
    console.log(`  audit record: ${(end.result as RunbookResult<unknown>).auditLocation}`);
    console.log(`  Temporal UI: ${await link(recoveryHandle)}`);
  } finally {
    await close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
