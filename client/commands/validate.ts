/**
 * `runbook validate <instance>`: the guide's `validate-deployment`, as status plus triage in one
 * verdict: exit 0 when the instance is healthy and no finding is above info, 3 otherwise.
 */
import { validateInstanceName } from '../../common/instance';
import { identityOption } from '../options';
import { startInstanceStatus, startTriage } from '../runbooks';
import { EXIT, print, requestedBy, runResult, withClient } from './context';
import type { Cli } from './context';
import { reportLines } from './triage';

export function registerValidate({ program, output }: Cli): void {
  program
    .command('validate <instance>')
    .description('status and triage of an instance as one pass/fail check (exit 0 pass, 3 fail)')
    .addOption(identityOption())
    .action(async (instance: string, opts: { as?: string }) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const [status, triage] = await Promise.all([
          startInstanceStatus(client, config.temporal.taskQueue, instance).then((h) => h.result()),
          startTriage(client, config.temporal.taskQueue, { instance, options: { requestedBy: requester } }).then(async (h) => (await runResult(h)).details!),
        ]);
        const checks = [
          { check: 'status', passed: status.healthy, problems: status.problems },
          { check: 'triage', passed: triage.healthy, problems: triage.findings.filter((f) => f.severity !== 'info').map((f) => `[${f.severity}] ${f.title} (${f.id})`) },
        ];
        const passed = checks.every((c) => c.passed);
        print(output(), { instance, passed, checks, status, triage }, () =>
          [`${instance}: ${passed ? 'PASS' : 'FAIL'}`, ...checks.map((c) => `  ${c.passed ? 'pass' : 'FAIL'} ${c.check}${c.problems.length ? `: ${c.problems.length} problem(s)` : ''}`), ...(passed ? [] : reportLines(triage))].join('\n'),
        );
        if (!passed) process.exitCode = EXIT.notSucceeded;
      });
    });
}
