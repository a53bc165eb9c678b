/** `runbook run-matching-job <instance>`: the guide's `kubectl create job --from=cronjob/...` (asks for approval). */
import { validateInstanceName } from '../../common/instance';
import { identityOption, reasonOption } from '../options';
import { startRunMatchingJob } from '../runbooks';
import { planAsJson, printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface RunMatchingJobOptions {
  reason: string;
  dryRun?: boolean;
  as?: string;
}

export function registerRunMatchingJob({ program, output }: Cli): void {
  program
    .command('run-matching-job <instance>')
    .description("run the instance's matching CronJob now as a Job and wait for it (asks for approval)")
    .addOption(reasonOption().makeOptionMandatory())
    .option('--dry-run', 'compute and print the plan, change nothing')
    .addOption(identityOption())
    .action(async (instance: string, opts: RunMatchingJobOptions) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startRunMatchingJob(client, config.temporal.taskQueue, {
          instance,
          reason: opts.reason,
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), planAsJson);
        await startedMessage(output(), config, handle, 'run-matching-job');
      });
    });
}
