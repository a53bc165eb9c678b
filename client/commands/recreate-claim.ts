/**
 * `runbook recreate-claim <instance>`: the guide's fix for a DynamoDB claim stuck creating (delete and
 * recreate the claim), only while every table it owns is empty; otherwise refused, pointing to
 * `runbook recover-dynamodb` (asks for approval).
 */
import { validateInstanceName } from '../../common/instance';
import { identityOption, reasonOption } from '../options';
import { recreateClaimPlanLines } from '../results';
import { startRecreateClaim } from '../runbooks';
import { printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface RecreateClaimOptions {
  reason: string;
  dryRun?: boolean;
  as?: string;
}

export function registerRecreateClaim({ program, output }: Cli): void {
  program
    .command('recreate-claim <instance>')
    .description("delete and recreate the instance's DynamoDB claim when every table it owns is empty (a claim stuck creating); tables with items: use recover-dynamodb (asks for approval)")
    .addOption(reasonOption().makeOptionMandatory())
    .option('--dry-run', 'read the claim and its tables and print the plan, change nothing')
    .addOption(identityOption())
    .action(async (instanceArg: string, opts: RecreateClaimOptions) => {
      const instance = validateInstanceName(instanceArg);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startRecreateClaim(client, config.temporal.taskQueue, {
          instance,
          reason: opts.reason,
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), recreateClaimPlanLines);
        await startedMessage(output(), config, handle, 'recreate-claim');
      });
    });
}
