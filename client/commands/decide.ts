/** `runbook approve|reject <workflowId>`: a decision signed with the approver's own key. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { ApprovalGateNotReached, currentStep, decide, waitForApprovalGate } from '../approvals';
import { loadKey } from '../keys';
import { identity, identityOption, parseInputs, parseText, parseWaitDuration, validateWorkflowId } from '../options';
import { CliError, EXIT, print, withClient } from './context';
import type { Cli, Output } from './context';

interface DecideOptions {
  comment?: string;
  input?: string[];
  as?: string;
  /** Milliseconds to wait for the run to reach its approval gate. */
  wait: number;
}

/**
 * A run asks for approval only once it has read what it plans from (seconds, sometimes more): until
 * then the decision waits, up to `--wait`, showing the step the run is at (text output only), and
 * gives up with exit 7 when the run ends first or the wait passes.
 */
async function untilGate(handle: WorkflowHandle, waitMs: number, output: Output): Promise<void> {
  if (waitMs === 0) return;
  try {
    await waitForApprovalGate(handle, waitMs, {
      pollMs: 500,
      onProgress: output === 'json' ? undefined : (s) => console.error(`waiting for ${handle.workflowId} to ask for approval: ${s.status}, at ${currentStep(s)}`),
    });
  } catch (err) {
    if (err instanceof ApprovalGateNotReached) throw new CliError(err.message, EXIT.gateNotReached);
    throw err;
  }
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
    await untilGate(handle, opts.wait, output);
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
      .addOption(identityOption('approver identity (default: $VCP_USER or your login)'))
      .option('--wait <duration>', 'how long to wait for the run to reach its approval gate (0: not at all)', parseWaitDuration, 120_000);
    if (decision === 'approve') command.option('--comment <text>', 'comment for the audit record', parseText).option('--input <key=value...>', 'approval inputs the runbook asks for');
    else command.requiredOption('--comment <text>', 'why (goes into the audit record)', parseText);
    command.action((workflowId: string, opts: DecideOptions) => decideRun(workflowId, decision, opts, output()));
  }
}
