/** `runbook cancel <workflowId>`: cancel a run; its cleanups restore what it paused. */
import { validateWorkflowId } from '../options';
import { print, withClient } from './context';
import type { Cli } from './context';

export function registerCancel({ program, output }: Cli): void {
  program
    .command('cancel <workflowId>')
    .description('cancel a run; its cleanups restore what it paused')
    .action(async (workflowIdArg: string) => {
      const workflowId = validateWorkflowId(workflowIdArg);
      await withClient(async (client) => {
        await client.workflow.getHandle(workflowId).cancel();
        print(output(), { workflowId, cancelRequested: true }, () => `cancellation requested for ${workflowId}`);
      });
    });
}
