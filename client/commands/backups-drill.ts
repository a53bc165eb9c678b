/**
 * `runbook backups drill <instance> [--backup ID|URL] [--wait]`: restore a backup into scratch tables,
 * compare them with its manifest, record the result beside it, delete the scratch tables. Read-only
 * for the instance, so no approval and never the instance's lock.
 *
 * Exit codes (besides the CLI's usual ones): with `--wait`, `0` the drill passed, `3` it failed (the
 * tables and the reason are printed) or the run ended otherwise; without `--wait`, `0` once started.
 */
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { BackupDrillDetails } from '../../common/dynamodb-drill';
import { validateInstanceName } from '../../common/instance';
import { identityOption, reasonOption } from '../options';
import { startBackupDrill } from '../runbooks';
import { backupsGroup } from './backups-group';
import { CliError, EXIT, print, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

export function registerBackupsDrill(cli: Cli): void {
  backupsGroup(cli)
    .command('drill <instance>')
    .description('restore a backup into scratch tables, verify count and digest against its manifest, record the result, delete the scratch tables (the instance is not touched)')
    .option('--backup <id|url>', 'the backup: its ID (last part of its prefix) or s3://…/manifest.json; default: the newest with every table verified')
    .option('--wait', 'wait for the drill and print its result; exit 3 when it failed')
    .addOption(reasonOption())
    .addOption(identityOption())
    .action(async (instanceArg: string, opts: { backup?: string; wait?: boolean; reason?: string; as?: string }) => {
      const instance = validateInstanceName(instanceArg);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startBackupDrill(client, config.temporal.taskQueue, { instance, backup: opts.backup, options: { requestedBy: requester, reason: opts.reason } });
        if (!opts.wait) return startedMessage(cli.output(), config, handle, 'Restore drill');
        // A failed drill fails the run, with what it found (the DrillFailed failure's details).
        const failed = await handle.result().then(() => undefined, (err: unknown) => failedDrill(err));
        if (failed) {
          print(cli.output(), failed, () => drillLines(failed).join('\n'));
          throw new CliError(`${handle.workflowId}: the drill FAILED: ${failed.error ?? 'see above'}`, EXIT.notSucceeded);
        }
        const details = (await runResult(handle)).details!;
        print(cli.output(), details, () => drillLines(details).join('\n'));
      });
    });
}

/** The failed drill's details, carried by the DrillFailed failure under the run's failure. */
function failedDrill(err: unknown): BackupDrillDetails | undefined {
  for (let e: unknown = err instanceof WorkflowFailedError ? err.cause : undefined; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === 'DrillFailed') return e.details?.[0] as BackupDrillDetails | undefined;
  }
  return undefined;
}

export function drillLines(d: BackupDrillDetails): string[] {
  return [
    `restore drill of ${d.backup.url}: ${d.passed ? 'PASSED' : 'FAILED'}`,
    `  backup ${d.backup.id}, taken ${d.backup.createdAt}, manifest SHA-256 ${d.backup.manifestSha256.slice(0, 16)}…`,
    ...d.tables.map((t) => {
      const digest = t.restoredDigest === undefined ? 'not compared' : t.restoredDigest === t.expectedDigest ? 'digest matches' : 'DIGEST DIFFERS';
      return `  ${t.tableName} → ${t.scratchTable}: expected ${t.expectedItems} items, restored ${t.restoredItems ?? '-'}, ${digest}`;
    }),
    `  ${d.items} items restored, ${d.itemsPerSecond} items/s, drill ${d.drillSeconds.toFixed(1)}s; scratch tables deleted`,
    ...(d.error ? [`  error: ${d.error}`] : []),
    `  record: ${d.record.url}`,
  ];
}
