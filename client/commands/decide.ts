/** `runbook approve|reject <workflowId>`: a decision signed with the approver's own key. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { decide } from '../approvals';
import { loadKey } from '../keys';
import { identity, identityOption, parseInputs, parseText, validateWorkflowId } from '../options';
import { CliError, EXIT, print, withClient } from './context';
import type { Cli, Output } from './context';

interface DecideOptions {
  comment?: string;
  input?: string[];
  as?: string;
}

async function decideRun(workflowIdArg: string, decision: 'approve' | 'reject', opts: DecideOptions, output: Output): Promise<void> {
  const workflowId = validateWorkflowId(workflowIdArg);
  const user = identity(opts.as);
  const inputs = parseInputs(opts.input);
  const key = (() => {
    try {
      return loadKey(user);
    } catch (err) {
      throw new CliError(`${err instanceof Error ? err.message : String(err)}`, EXIT.usage);
    }
  })();
  await withClient(async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    try {
      const progress = await decide(handle, { approver: user, privateKey: key.privateKey, decision, comment: opts.comment, inputs });
      print(output, progress, () => `${decision === 'approve' ? 'approved' : 'rejected'} by ${user} (${key.fingerprint}); approval is now ${progress.state}`);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || (err instanceof Error && /not waiting/.test(err.message))) {
        const reason = err.cause instanceof Error ? err.cause.message : err.message;
        throw new CliError(`approval refused: ${reason}${/no key on the approvers keyring/.test(reason) ? `\n  add your key to the workers' approvers file: runbook keys show --as ${user}` : ''}`, EXIT.approvalRefused);
      }
      throw err;
    }
  });
}

export function registerDecisions({ program, output }: Cli): void {
  for (const decision of ['approve', 'reject'] as const) {
    const command = program
      .command(`${decision} <workflowId>`)
      .description(`${decision} a run waiting for approval, signed with your key`)
      .addOption(identityOption('approver identity (default: $VCP_USER or your login)'));
    if (decision === 'approve') command.option('--comment <text>', 'comment for the audit record', parseText).option('--input <key=value...>', 'approval inputs the runbook asks for');
    else command.requiredOption('--comment <text>', 'why (goes into the audit record)', parseText);
    command.action((workflowId: string, opts: DecideOptions) => decideRun(workflowId, decision, opts, output()));
  }
}
