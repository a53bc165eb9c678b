/** A parent run that starts a restore drill as its child, as the scheduled backup does: no options of its own. */
import { executeChild } from '@temporalio/workflow';
import type { BackupDrillDetails } from '../../common/dynamodb-drill';
import type { RunbookResult } from '../../common/runbook';

export async function drillParent(input: { instance: string; backup: string }): Promise<RunbookResult<BackupDrillDetails>> {
  return executeChild<(input: { instance: string; backup: string }) => Promise<RunbookResult<BackupDrillDetails>>>('backupDrill', { args: [{ instance: input.instance, backup: input.backup }], workflowId: `backup-drill/${input.instance}/child-of-test` });
}
