/** `runbook restart <instance> --target api|frontend|provider-aws`: the guide's `kubectl rollout restart` (asks for approval). */
import { Option } from 'commander';
import { validateInstanceName } from '../../common/instance';
import { RESTART_TARGETS } from '../../common/triage';
import type { RestartTarget } from '../../common/triage';
import { identityOption, reasonOption } from '../options';
import { startRestart } from '../runbooks';
import { planAsJson, printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface RestartOptions {
  target: RestartTarget;
  reason: string;
  dryRun?: boolean;
  as?: string;
}

export function registerRestart({ program, output }: Cli): void {
  program
    .command('restart <instance>')
    .description("restart the instance's API or frontend, or the AWS provider, and wait for the rollout (asks for approval)")
    .addOption(new Option('--target <deployment>', 'what to restart').choices(RESTART_TARGETS).makeOptionMandatory())
    .addOption(reasonOption().makeOptionMandatory())
    .option('--dry-run', 'compute and print the plan, change nothing')
    .addOption(identityOption())
    .action(async (instance: string, opts: RestartOptions) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startRestart(client, config.temporal.taskQueue, {
          instance,
          target: opts.target,
          reason: opts.reason,
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), planAsJson);
        await startedMessage(output(), config, handle, 'restart');
      });
    });
}
