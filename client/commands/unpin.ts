/** `runbook unpin <instance>`: after a rollback pinned a commit, follow the branch again (asks for approval). */
import { validateInstanceName } from '../../common/instance';
import { identityOption, parseBranch, reasonOption } from '../options';
import { startUnpin } from '../runbooks';
import { requestedBy, startedMessage, withClient } from './context';
import type { Cli } from './context';

export function registerUnpin({ program, output }: Cli): void {
  program
    .command('unpin <instance>')
    .description('return a pinned Application to its branch (asks for approval)')
    .option('--branch <name>', 'branch to follow (default: the one the rollback recorded)', parseBranch)
    .addOption(reasonOption().makeOptionMandatory())
    .addOption(identityOption())
    .action(async (instance: string, opts: { branch?: string; reason: string; as?: string }) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startUnpin(client, config.temporal.taskQueue, { instance, branch: opts.branch, reason: opts.reason, options: { requestedBy: requester } });
        await startedMessage(output(), config, handle, 'unpin');
      });
    });
}
