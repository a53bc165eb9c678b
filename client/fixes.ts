/**
 * Starting the runbook a triage finding names (`runbook triage <instance> --fix <finding>`): the same
 * start as the runbook's own command, so the same approval, lock and audit apply.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { RUNBOOKS } from '../common/definitions';
import type { RunbookOptions } from '../common/runbook';
import type { FixRunbook } from '../common/triage';
import { CliError, EXIT } from './commands/context';
import { startRecreateClaim, startRestart, startRollback, startRunMatchingJob, startSync } from './runbooks';

export function describeFix(fix: FixRunbook): string {
  switch (fix.runbook) {
    case RUNBOOKS.restart:
      return `restart --target ${fix.target}`;
    case RUNBOOKS.rollback:
      return 'rollback --to previous';
    case RUNBOOKS.dynamodbRecovery:
      return 'recover-dynamodb (start it yourself: choose the backup)';
    default:
      return fix.runbook;
  }
}

export async function startFix(client: Client, taskQueue: string, instance: string, fix: FixRunbook, options: RunbookOptions & { reason: string }): Promise<WorkflowHandle> {
  const { reason } = options;
  switch (fix.runbook) {
    case RUNBOOKS.restart:
      return startRestart(client, taskQueue, { instance, target: fix.target, reason, options });
    case RUNBOOKS.sync:
      return startSync(client, taskQueue, { instance, reason, options });
    case RUNBOOKS.runMatchingJob:
      return startRunMatchingJob(client, taskQueue, { instance, reason, options });
    case RUNBOOKS.recreateClaim:
      return startRecreateClaim(client, taskQueue, { instance, reason, options });
    case RUNBOOKS.rollback:
      return startRollback(client, taskQueue, { instance, target: 'previous', reason, options });
    case RUNBOOKS.dynamodbRecovery:
      throw new CliError(`a DynamoDB recovery needs its backup chosen: run runbook recover-dynamodb ${instance} yourself`, EXIT.usage);
  }
}
