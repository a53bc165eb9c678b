/**
 * The guide's "Recreate DynamoDB Tables": back up every table, delete and recreate the Crossplane
 * claim `<instance>-dynamodb`, then import the data back (the "custom script" the guide leaves to the
 * reader) and prove nothing was lost. Nothing is deleted without a verified backup and an approval.
 *
 * "Every table" is every table the claim owns (its composite's managed Tables and the instance's
 * platform tables): deleting the claim deletes all of them, so all of them are backed up, restored
 * and verified item by item, whatever the caller asked for. Each step is a function of
 * workflows/dynamodb/: recovery-steps.ts up to the delete, claim-steps.ts, restore-steps.ts.
 */
import { workflowInfo } from '@temporalio/workflow';
import { validateRecoveryTables } from '../common/dynamodb-backup';
import { parseResumeFrom } from '../common/dynamodb-native-export';
import type { DynamoDbRecoveryDetails, DynamoDbRecoveryInput } from '../common/dynamodb-backup';
import { RUNBOOKS } from '../common/definitions';
import { instanceTableNames, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';
import { deleteClaim, recreateClaim } from './dynamodb/claim-steps';
import { approve, confirmDelete, discover, exportAndVerify, pauseSync, planRecovery, quiesceWriters, RECOVERY_STEPS } from './dynamodb/recovery-steps';
import type { Recovery } from './dynamodb/recovery-steps';
import { importData, recoveryReport, verifyRestore, withResumeHint } from './dynamodb/restore-steps';

const DEFAULT_CLAIM_TIMEOUT_MS = 10 * 60 * 1000;

export async function dynamodbRecovery(input: DynamoDbRecoveryInput): Promise<RunbookResult<DynamoDbRecoveryDetails>> {
  const r = setup(input);
  return r.runbook
    .run(async () => {
      const found = await discover(r);
      const plan = planRecovery(r, found);
      await approve(r, plan, found.resumed);
      await pauseSync(r, plan);
      await quiesceWriters(r);
      const backup = await exportAndVerify(r, found, plan);
      await confirmDelete(r, backup);
      await deleteClaim(r, found, plan, backup);
      const claim = await recreateClaim(r, found, plan, backup);
      const imported = await importData(r, backup);
      const results = await verifyRestore(r, backup, imported, claim.uid);
      return recoveryReport(r, backup, imported, results);
    })
    .catch(withResumeHint(r));
}

/** Validates the input (a bad one fails the run at once, before anything is read) and declares the steps. */
function setup(input: DynamoDbRecoveryInput): Recovery {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const requestedTables = validateInput(() => validateRecoveryTables(instance, input.tables, instanceTableNames(instance)));
  const resumeFrom = input.resumeFrom ? validateInput(() => parseResumeFrom(input.resumeFrom!)) : undefined;
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.dynamodbRecovery,
    title: 'DynamoDB recovery',
    instance,
    options: input.options,
    destructive: true,
    startInput: input,
    steps: RECOVERY_STEPS,
  });
  return {
    runbook,
    instance,
    input,
    requestedTables,
    resumeFrom,
    quiesce: input.quiesceWriters ?? true,
    claimTimeoutMs: input.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS,
    changedBy: `${info.workflowId}/${info.runId}`,
    holdForResume: false,
    backupUrl: input.resumeFrom,
    durations: {},
  };
}
