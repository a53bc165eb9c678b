/** `runbook list`: runbook runs, by the search attributes every run sets. */
import { Option } from 'commander';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME, RUNBOOK_STATUS } from '../../common/definitions';
import { validateInstanceName } from '../../common/instance';
import { parseLimit, RUNBOOK_NAMES } from '../options';
import { print, withClient } from './context';
import type { Cli } from './context';

interface ListedRun {
  workflowId: string;
  runId: string;
  runbook?: string;
  instance?: string;
  status: string;
  startTime: string;
}

export function registerList({ program, output }: Cli): void {
  program
    .command('list')
    .description('list runbook runs (visibility query on the search attributes)')
    .option('--waiting', 'only runs waiting for approval')
    .option('--instance <instance>', 'only this instance')
    .addOption(new Option('--runbook <name>', 'only this runbook').choices(RUNBOOK_NAMES))
    .option('--limit <n>', 'at most this many (up to 10000)', parseLimit, 50)
    .action(async (opts: { waiting?: boolean; instance?: string; runbook?: string; limit: number }) => {
      if (opts.instance !== undefined) validateInstanceName(opts.instance);
      const clauses = ['RunbookName IS NOT NULL'];
      const quote = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
      if (opts.waiting) clauses.push(`RunbookStatus = "AwaitingApproval"`, 'ExecutionStatus = "Running"');
      if (opts.instance) clauses.push(`RunbookInstance = ${quote(opts.instance)}`);
      if (opts.runbook) clauses.push(`RunbookName = ${quote(opts.runbook)}`);
      await withClient(async (client) => {
        const runs: ListedRun[] = [];
        for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
          runs.push({
            workflowId: wf.workflowId,
            runId: wf.runId,
            runbook: wf.typedSearchAttributes.get(RUNBOOK_NAME),
            instance: wf.typedSearchAttributes.get(RUNBOOK_INSTANCE),
            status: wf.typedSearchAttributes.get(RUNBOOK_STATUS) ?? wf.status.name,
            startTime: wf.startTime.toISOString(),
          });
          if (runs.length >= opts.limit) break;
        }
        print(output(), runs, () => (runs.length ? runs.map((r) => `${r.startTime}  ${String(r.status).padEnd(16)}  ${String(r.runbook ?? '').padEnd(18)}  ${r.workflowId}`).join('\n') : 'no runs'));
      });
    });
}
