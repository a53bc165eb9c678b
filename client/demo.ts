/**
 * `make demo`: runs the runbooks against the seeded demo instance through the real local stack and
 * prints each result with its Temporal UI link. Exits 0 when every step succeeded.
 */
import { loadConfig } from '../common/config';
import { connectClient, workflowUiUrl } from './connection';
import { startInstanceStatus } from './runbooks';

async function main(): Promise<void> {
  const instance = process.argv[2] ?? 'demo';
  const config = loadConfig();
  const uiBaseUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
  const { client, close } = await connectClient(config);
  try {
    console.log(`\n== Instance status: ${instance}`);
    const handle = await startInstanceStatus(client, config.temporal.taskQueue, instance);
    const report = await handle.result();
    const app = report.application;
    console.log(
      app.exists
        ? `  Application ${app.name}: ${app.syncStatus}/${app.health} at ${app.syncedRevision?.slice(0, 7)} (tracking ${app.targetRevision})`
        : `  Application ${app.name}: MISSING`,
    );
    for (const d of report.deployments) {
      console.log(`  Deployment ${d.name}: ${d.exists ? `${d.availableReplicas}/${d.replicas} available` : 'MISSING'}`);
    }
    for (const table of report.tables) {
      console.log(`  table ${table.tableName}: ${table.exists ? `${table.status}, ${table.itemCount} items` : 'MISSING'}`);
    }
    const bucket = report.backupBucket;
    console.log(`  backup bucket s3://${bucket.bucket}: ${bucket.exists ? `versioning ${bucket.versioning}` : 'MISSING'}`);
    console.log(`  healthy: ${report.healthy}${report.problems.length ? ` (${report.problems.join('; ')})` : ''}`);
    console.log(`  Temporal UI: ${workflowUiUrl(uiBaseUrl, config.temporal.namespace, handle.workflowId, handle.firstExecutionRunId)}`);
    if (!report.healthy) process.exitCode = 1;
  } finally {
    await close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
