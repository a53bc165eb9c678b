/**
 * `runbook sync <instance>`: the guide's "Refresh the application" and "Force a sync operation" (ArgoCD
 * Application Not Syncing): a hard refresh, then a sync of the target revision, waited for until
 * Synced and Healthy (asks for approval). `--enable-auto-sync` also applies the guide's patch.
 */
import { validateInstanceName } from '../../common/instance';
import { identityOption, reasonOption } from '../options';
import { syncPlanLines } from '../results';
import { startSync } from '../runbooks';
import { printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface SyncOptions {
  reason: string;
  enableAutoSync?: boolean;
  dryRun?: boolean;
  as?: string;
}

export function registerSync({ program, output }: Cli): void {
  program
    .command('sync <instance>')
    .description("hard-refresh the instance's Argo CD Application and sync its target revision, waiting for Synced and Healthy (asks for approval)")
    .addOption(reasonOption().makeOptionMandatory())
    .option('--enable-auto-sync', 'also turn automated sync on with prune and self-heal, as the guide\'s "force sync" patch does (after the sync)')
    .option('--dry-run', 'read the Application and print the plan, change nothing')
    .addOption(identityOption())
    .action(async (instanceArg: string, opts: SyncOptions) => {
      const instance = validateInstanceName(instanceArg);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startSync(client, config.temporal.taskQueue, {
          instance,
          reason: opts.reason,
          enableAutomatedSync: opts.enableAutoSync === true,
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), syncPlanLines);
        await startedMessage(output(), config, handle, 'sync');
      });
    });
}
