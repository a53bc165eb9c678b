/** `runbook watch <workflowId>`: follow a run to its end (exit 0 succeeded, planned or skipped, 3 ended otherwise). */
import { linkForResult } from '../download-link';
import { parseInterval, urlExpiryOption, validateWorkflowId } from '../options';
import { JsonView, PlainView, RunNotFoundError, TerminalView, watchRun } from '../watch';
import type { WatchView } from '../watch';
import { CliError, EXIT, withClient } from './context';
import type { Cli } from './context';

export function registerWatch({ program, output }: Cli): void {
  program
    .command('watch <workflowId>')
    .description('follow a run until it ends: steps and progress bars on a terminal, a line per change otherwise (exit 0 succeeded, a dry run planned, or skipped by design with its reason printed; 3 ended otherwise)')
    .option('--interval <ms>', 'how often to poll the run', parseInterval, 1000)
    .addOption(urlExpiryOption())
    .action(async (workflowIdArg: string, opts: { interval: number; urlExpiry: number }) => {
      const workflowId = validateWorkflowId(workflowIdArg);
      await withClient(async (client, config) => {
        const write = (line: string) => console.log(line);
        const view: WatchView =
          output() === 'json' ? new JsonView(workflowId, write) : process.stdout.isTTY ? new TerminalView(workflowId, process.stdout) : new PlainView(workflowId, write);
        try {
          const end = await watchRun(client, workflowId, { intervalMs: opts.interval, view, signLink: (result) => linkForResult(config, result, opts.urlExpiry) });
          if (!end.succeeded) process.exitCode = EXIT.notSucceeded;
        } catch (err) {
          if (err instanceof RunNotFoundError) throw new CliError(err.message, EXIT.error);
          throw err;
        }
      });
    });
}
