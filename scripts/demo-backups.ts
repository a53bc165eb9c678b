/**
 * `make demo`, last part: backups as a standing service for the demo instance. The operator schedules
 * them (every 6 h, keep 7, drill each new backup), the demo runs the schedule once now instead of
 * waiting 6 h, and prints what that run did (export, retention, restore drill) and the catalog, whose
 * newest backup is verified and drilled. Exits 0 when all of that held. The schedule stays.
 */
import path from 'node:path';
import { describeBackupSchedule, scheduleBackups } from '../client/backup-schedules';
import { scheduleLines } from '../client/commands/backups-schedules';
import { catalogLines } from '../client/commands/backups-list';
import { connectClient, workflowUiUrl } from '../client/connection';
import { loadKey } from '../client/keys';
import { startBackupCatalog } from '../client/runbooks';
import { backupScheduleId, parseEvery } from '../common/backup-schedule';
import type { ScheduledBackupDetails } from '../common/backup-schedule';
import { loadConfig } from '../common/config';
import type { RunbookResult } from '../common/runbook';

const RUN_TIMEOUT_MS = 5 * 60_000;

async function main(): Promise<void> {
  const instance = process.argv[2] ?? 'demo';
  const stateDir = process.argv[3] ?? '.stack/demo';
  const config = loadConfig();
  const uiBaseUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
  const operator = loadKey('operator', path.join(stateDir, 'keys'));
  const { client, close } = await connectClient(config, new Map([[operator.user, operator.privateKey]]));
  try {
    console.log(`\n== 6. Scheduled backups of ${instance}: every 6h, keep 7, each new backup restore-drilled (scheduled by operator)`);
    const { scheduleId, created } = await scheduleBackups(
      client,
      config.temporal.taskQueue,
      { instance, everyMs: parseEvery('6h'), keep: 7, drill: true, requestedBy: { user: operator.user, via: 'cli' } },
      operator.privateKey,
    );
    console.log(`  schedule ${scheduleId} ${created ? 'created' : 'updated'}; overlap skip, visible under Schedules in the Temporal UI`);

    // Run it once now rather than in 6 hours: the same action the schedule takes at its time.
    const handle = client.schedule.getHandle(backupScheduleId(instance));
    const before = (await handle.describe()).info.recentActions.length;
    await handle.trigger();
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let workflowId: string | undefined;
    while (!workflowId) {
      if (Date.now() > deadline) throw new Error(`the schedule ${scheduleId} did not start a run`);
      const actions = (await handle.describe()).info.recentActions;
      if (actions.length > before) workflowId = actions[actions.length - 1]!.action.workflow.workflowId;
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const run = client.workflow.getHandle(workflowId);
    const result = (await run.result()) as RunbookResult<ScheduledBackupDetails>;
    const link = workflowUiUrl(uiBaseUrl, config.temporal.namespace, workflowId, (await run.describe()).runId);
    if (result.outcome !== 'succeeded') throw new Error(`scheduled backup ${workflowId} ended ${result.outcome}: ${result.reason ?? ''}`);
    const d = result.details!;
    console.log(`  ${workflowId}: ${result.outcome}; Temporal UI: ${link}`);
    console.log(`    export ${d.export.workflowId}: ${d.export.backup.items} items, verified, ${d.export.backup.url}`);
    console.log(`    retention ${d.retention?.workflowId}: ${d.retention?.outcome}`);
    console.log(`    restore drill ${d.drill?.workflowId}: ${d.drill?.outcome}`);
    if (d.drill?.outcome !== 'succeeded' || d.retention?.outcome !== 'succeeded') throw new Error('the scheduled run did not drill and apply retention');

    for (const line of scheduleLines(await describeBackupSchedule(client, instance))) console.log(`  ${line}`);

    const catalog = await (await startBackupCatalog(client, config.temporal.taskQueue, instance)).result();
    console.log(`  runbook backups list ${instance}:`);
    for (const line of catalogLines(catalog)) console.log(`    ${line}`);
    const newest = catalog.entries.find((e) => e.url === d.export.backup.url);
    if (!newest?.drill?.passed) throw new Error(`the catalog does not show ${d.export.backup.url} as drilled and passed`);
  } finally {
    await close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
