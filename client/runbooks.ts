/**
 * Starting runbooks from a client, through their definitions (common/workflows.ts): the input is
 * type-checked against the workflow's signature, the handle's result is the workflow's result type,
 * and the ID, search attributes and summary come from the definition.
 */
import { randomUUID as uuid4 } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client, WorkflowHandleWithFirstExecutionRunId, WorkflowStartOptions } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME, RUNBOOK_STATUS } from '../common/definitions';
import type { BackupRetentionInput } from '../common/backup-catalog';
import type { DiagnosticBundleInput } from '../common/diagnostics';
import type { BackupDrillInput } from '../common/dynamodb-drill';
import type { DynamoDbExportInput, DynamoDbImportInput, DynamoDbRecoveryInput } from '../common/dynamodb-backup';
import type { FleetStatusInput } from '../common/fleet-status';
import { validateInstanceName } from '../common/instance';
import type { RecreateClaimInput } from '../common/recreate-claim-plan';
import type { RunMatchingJobInput } from '../common/matching-job-plan';
import type { RestartInput } from '../common/restart-plan';
import type { RollbackInput, UnpinInput } from '../common/rollback';
import type { TriageInput } from '../common/triage';
import type { SyncInput } from '../common/sync-plan';
import {
  backupCatalogWorkflow,
  backupRetentionWorkflow,
  backupDrillWorkflow,
  diagnosticBundleWorkflow,
  dynamodbExportWorkflow,
  dynamodbImportWorkflow,
  dynamodbRecoveryWorkflow,
  fleetStatusWorkflow,
  instanceStatusWorkflow,
  recreateClaimWorkflow,
  rollbackWorkflow,
  triageWorkflow,
  syncWorkflow,
  restartWorkflow,
  runMatchingJobWorkflow,
  unpinWorkflow,
  workflowIdFor,
} from '../common/workflows';
import type { AnyWorkflowDefinition, FleetWorkflowInput, InputOf, WorkflowFunction, WorkflowInput } from '../common/workflows';

export type RunbookHandle<D extends AnyWorkflowDefinition> = WorkflowHandleWithFirstExecutionRunId<WorkflowFunction<D>>;

/** Refusal to start a second destructive runbook on an instance; names the run holding it. */
export class InstanceBusyError extends WorkflowExecutionAlreadyStartedError {
  constructor(
    message: string,
    workflowId: string,
    workflowType: string,
    readonly holder: { runbook?: string; runId: string; status?: string; startTime: Date },
  ) {
    super(message, workflowId, workflowType);
  }
}

/**
 * Starts a run of `definition`. By its ID scheme: a status check attaches to the instance's running
 * one; a destructive runbook takes the instance's one destructive ID, which Temporal refuses while
 * another runs, whatever its runbook (InstanceBusyError names the holder), while its dry run gets a
 * plan ID of its own and changes nothing; read-only runbooks get an ID per request, and so do
 * fleet-wide ones, which name no instance.
 */
export async function startRunbook<D extends AnyWorkflowDefinition>(
  client: Client,
  definition: D,
  input: InputOf<D>,
  options: { taskQueue: string },
): Promise<RunbookHandle<D>> {
  const common: WorkflowInput | FleetWorkflowInput = input;
  // Validated at the edge too, so a typo fails before anything reaches the server.
  const instance = definition.ids === 'fleet' ? undefined : validateInstanceName(common.instance);
  const workflowId = workflowIdFor(definition, common, uuid4());
  const dryRun = Boolean(common.options?.dryRun);
  const summary = definition.summary(input);
  const start: WorkflowStartOptions<WorkflowFunction<D>> = {
    taskQueue: options.taskQueue,
    workflowId,
    args: [input] as Parameters<WorkflowFunction<D>>,
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: definition.runbook },
      ...(instance === undefined ? [] : [{ key: RUNBOOK_INSTANCE, value: instance }]),
    ],
    staticSummary: dryRun ? `Plan: ${summary}` : summary,
  };
  if (definition.ids === 'per-instance') {
    return client.workflow.start<WorkflowFunction<D>>(definition.workflowType, { ...start, workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING });
  }
  if (definition.ids === 'per-request' || definition.ids === 'fleet' || dryRun) return client.workflow.start<WorkflowFunction<D>>(definition.workflowType, start);
  try {
    return await client.workflow.start<WorkflowFunction<D>>(definition.workflowType, {
      ...start,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const holder = await client.workflow.getHandle(workflowId).describe();
    const runbook = holder.typedSearchAttributes.get(RUNBOOK_NAME);
    const status = holder.typedSearchAttributes.get(RUNBOOK_STATUS);
    throw new InstanceBusyError(
      `${workflowId.startsWith('shared/') ? workflowId.slice('shared/'.length) : `instance ${instance}`} is held by ${runbook ?? holder.type} run ${workflowId} (run ${holder.runId}), ` +
        `${status ?? holder.status.name} since ${holder.startTime.toISOString()}; wait for it, or cancel it first`,
      workflowId,
      definition.workflowType,
      { runbook, runId: holder.runId, status, startTime: holder.startTime },
    );
  }
}

export function startInstanceStatus(client: Client, taskQueue: string, instance: string): Promise<RunbookHandle<typeof instanceStatusWorkflow>> {
  return startRunbook(client, instanceStatusWorkflow, { instance }, { taskQueue });
}

/** The fleet's status (`runbook status --all`): every instance, or those whose name starts with `input.prefix`. */
export function startFleetStatus(client: Client, taskQueue: string, input: FleetStatusInput = {}): Promise<RunbookHandle<typeof fleetStatusWorkflow>> {
  return startRunbook(client, fleetStatusWorkflow, input, { taskQueue });
}

export function startRollback(client: Client, taskQueue: string, input: RollbackInput): Promise<RunbookHandle<typeof rollbackWorkflow>> {
  return startRunbook(client, rollbackWorkflow, input, { taskQueue });
}

export function startUnpin(client: Client, taskQueue: string, input: UnpinInput): Promise<RunbookHandle<typeof unpinWorkflow>> {
  return startRunbook(client, unpinWorkflow, input, { taskQueue });
}

export function startDiagnosticBundle(client: Client, taskQueue: string, input: DiagnosticBundleInput): Promise<RunbookHandle<typeof diagnosticBundleWorkflow>> {
  return startRunbook(client, diagnosticBundleWorkflow, input, { taskQueue });
}

export function startDynamoDbRecovery(client: Client, taskQueue: string, input: DynamoDbRecoveryInput): Promise<RunbookHandle<typeof dynamodbRecoveryWorkflow>> {
  return startRunbook(client, dynamodbRecoveryWorkflow, input, { taskQueue });
}

export function startDynamoDbImport(client: Client, taskQueue: string, input: DynamoDbImportInput): Promise<RunbookHandle<typeof dynamodbImportWorkflow>> {
  return startRunbook(client, dynamodbImportWorkflow, input, { taskQueue });
}

export function startDynamoDbExport(client: Client, taskQueue: string, input: DynamoDbExportInput): Promise<RunbookHandle<typeof dynamodbExportWorkflow>> {
  return startRunbook(client, dynamodbExportWorkflow, input, { taskQueue });
}

export function startTriage(client: Client, taskQueue: string, input: TriageInput): Promise<RunbookHandle<typeof triageWorkflow>> {
  return startRunbook(client, triageWorkflow, input, { taskQueue });
}

export function startSync(client: Client, taskQueue: string, input: SyncInput): Promise<RunbookHandle<typeof syncWorkflow>> {
  return startRunbook(client, syncWorkflow, input, { taskQueue });
}

export function startRecreateClaim(client: Client, taskQueue: string, input: RecreateClaimInput): Promise<RunbookHandle<typeof recreateClaimWorkflow>> {
  return startRunbook(client, recreateClaimWorkflow, input, { taskQueue });
}

/** `kubectl rollout restart` of the instance's API or frontend (the instance's lock), or of the AWS provider (the provider's own lock). */
export function startRestart(client: Client, taskQueue: string, input: RestartInput): Promise<RunbookHandle<typeof restartWorkflow>> {
  return startRunbook(client, restartWorkflow, input, { taskQueue });
}

export function startRunMatchingJob(client: Client, taskQueue: string, input: RunMatchingJobInput): Promise<RunbookHandle<typeof runMatchingJobWorkflow>> {
  return startRunbook(client, runMatchingJobWorkflow, input, { taskQueue });
}

/** The instance's backup catalog (`runbook backups list`). Read-only. */
export function startBackupCatalog(client: Client, taskQueue: string, instance: string): Promise<RunbookHandle<typeof backupCatalogWorkflow>> {
  return startRunbook(client, backupCatalogWorkflow, { instance }, { taskQueue });
}

/** Retention of the instance's backups (`runbook backups prune`): deletes what the policy lets go, never the instance's tables. */
export function startBackupRetention(client: Client, taskQueue: string, input: BackupRetentionInput): Promise<RunbookHandle<typeof backupRetentionWorkflow>> {
  return startRunbook(client, backupRetentionWorkflow, input, { taskQueue });
}

/** A restore drill of a backup into scratch tables (read-only for the instance: never its lock). */
export function startBackupDrill(client: Client, taskQueue: string, input: BackupDrillInput): Promise<RunbookHandle<typeof backupDrillWorkflow>> {
  return startRunbook(client, backupDrillWorkflow, input, { taskQueue });
}
