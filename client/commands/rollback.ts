/** `runbook rollback <instance>`: the guide's "Rollback to Previous Version" (asks for approval). */
import { validateInstanceName } from '../../common/instance';
import { identityOption, parseRevision, reasonOption } from '../options';
import { startRollback } from '../runbooks';
import { planAsJson, printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface RollbackOptions {
  to: string;
  reason: string;
  dryRun?: boolean;
  acceptOwned?: boolean;
  acceptMultiSource?: boolean;
  as?: string;
}

export function registerRollback({ program, output }: Cli): void {
  program
    .command('rollback <instance>')
    .description('roll the instance back to a previous revision from its Argo CD history (asks for approval)')
    .option('--to <revision>', 'a commit from the history (7-40 hex digits), or "previous"', parseRevision, 'previous')
    .addOption(reasonOption().makeOptionMandatory())
    .option('--dry-run', 'compute and print the plan, change nothing')
    .option('--accept-owned', 'proceed although a parent app or ApplicationSet owns the Application')
    .option('--accept-multi-source', 'proceed although the Application has several sources')
    .addOption(identityOption())
    .action(async (instance: string, opts: RollbackOptions) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startRollback(client, config.temporal.taskQueue, {
          instance,
          target: opts.to,
          reason: opts.reason,
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
          acceptOwnedApplication: opts.acceptOwned,
          acceptMultiSource: opts.acceptMultiSource,
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), planAsJson);
        await startedMessage(output(), config, handle, 'rollback');
      });
    });
}
