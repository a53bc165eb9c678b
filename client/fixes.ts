/**
 * Starting the runbook a triage finding names (`runbook triage <instance> --fix <finding>`): the same
 * start as the runbook's own command, so the same approval, lock and audit apply.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { RUNBOOKS } from '../common/definitions';
import type { RunbookOptions } from '../common/runbook';
import type { FixRunbook } from '../common/triage';
import { CliError, EXIT } from './commands/context';
import { startRollback } from './runbooks';

export function describeFix(fix: FixRunbook): string {
  switch (fix.runbook) {
    case RUNBOOKS.restart:
      return `restart --target ${fix.target}`;
    case RUNBOOKS.rollback:
      return 'rollback --to previous';
    default:
      return fix.runbook;
  }
}

export async function startFix(client: Client, taskQueue: string, instance: string, fix: FixRunbook, options: RunbookOptions & { reason: string }): Promise<WorkflowHandle> {
  switch (fix.runbook) {
    case RUNBOOKS.rollback:
      return startRollback(client, taskQueue, { instance, target: 'previous', reason: options.reason, options });
    case RUNBOOKS.dynamodbRecovery:
      throw new CliError(`a DynamoDB recovery needs its backup chosen: run runbook recover-dynamodb ${instance} yourself`, EXIT.usage);
    default:
      throw new CliError(`runbook ${fix.runbook} is not in this build`, EXIT.usage);
  }
}
