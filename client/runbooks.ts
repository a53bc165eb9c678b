/** Starting runbooks from a client: the IDs, queue and search attributes each start needs. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { DynamoDbExportInput, DynamoDbImportInput, DynamoDbRecoveryInput } from '../common/dynamodb-backup';
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import {
  instanceStatusWorkflowId,
  RUNBOOK_INSTANCE,
  RUNBOOK_NAME,
  RUNBOOK_STATUS,
  RUNBOOKS,
} from '../common/definitions';
import { randomUUID as uuid4 } from 'node:crypto';
import type { DiagnosticBundleInput } from '../common/diagnostics';
import type { RollbackInput, UnpinInput } from '../common/rollback';
import { destructiveWorkflowId, planWorkflowId } from '../common/runbook';
import { validateInstanceName } from '../common/instance';
import type { instanceStatus } from '../workflows';

export async function startInstanceStatus(
  client: Client,
  taskQueue: string,
  instanceInput: string,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof instanceStatus>> {
  // Validate at the edge too, so a typo fails before anything reaches the server.
  const instance = validateInstanceName(instanceInput);
  return client.workflow.start<typeof instanceStatus>('instanceStatus', {
    taskQueue,
    workflowId: instanceStatusWorkflowId(instance),
    // Read-only: a second request while one runs attaches to it instead of starting another.
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    args: [{ instance }],
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: RUNBOOKS.instanceStatus },
      { key: RUNBOOK_INSTANCE, value: instance },
    ],
    staticSummary: `Instance status of ${instance}`,
  });
}

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

export interface DestructiveStart {
  workflowType: string;
  taskQueue: string;
  runbook: string;
  instance: string;
  args: unknown[];
  staticSummary?: string;
}

/**
 * Starts a destructive runbook under the instance's one destructive workflow ID. Temporal refuses a
 * second while one runs, whatever its runbook; the refusal says which run holds the instance.
 */
export async function startDestructiveRunbook(client: Client, start: DestructiveStart): Promise<WorkflowHandle> {
  const instance = validateInstanceName(start.instance);
  const workflowId = destructiveWorkflowId(instance);
  try {
    return await client.workflow.start(start.workflowType, {
      taskQueue: start.taskQueue,
      workflowId,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      args: start.args,
      typedSearchAttributes: [
        { key: RUNBOOK_NAME, value: start.runbook },
        { key: RUNBOOK_INSTANCE, value: instance },
      ],
      staticSummary: start.staticSummary ?? `${start.runbook} of ${instance}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const holder = await client.workflow.getHandle(workflowId).describe();
    const runbook = holder.typedSearchAttributes.get(RUNBOOK_NAME);
    const status = holder.typedSearchAttributes.get(RUNBOOK_STATUS);
    throw new InstanceBusyError(
      `instance ${instance} is held by ${runbook ?? holder.type} run ${workflowId} (run ${holder.runId}), ` +
        `${status ?? holder.status.name} since ${holder.startTime.toISOString()}; wait for it, or cancel it first`,
      workflowId,
      start.workflowType,
      { runbook, runId: holder.runId, status, startTime: holder.startTime },
    );
  }
}

export function startRollback(client: Client, taskQueue: string, input: RollbackInput): Promise<WorkflowHandle> {
  return startRunbook(client, taskQueue, 'rollback', RUNBOOKS.rollback, input.instance, [input], Boolean(input.options.dryRun),
    `Rollback ${input.instance} to ${input.target}`);
}

/** Destructive runs take the instance's lock ID; dry runs get a unique plan ID and change nothing. */
async function startRunbook(
  client: Client,
  taskQueue: string,
  workflowType: string,
  runbook: string,
  instanceInput: string,
  args: unknown[],
  dryRun: boolean,
  staticSummary: string,
): Promise<WorkflowHandle> {
  const instance = validateInstanceName(instanceInput);
  if (!dryRun) return startDestructiveRunbook(client, { workflowType, taskQueue, runbook, instance, args, staticSummary });
  return client.workflow.start(workflowType, {
    taskQueue,
    workflowId: planWorkflowId(runbook, instance, uuid4()),
    args,
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: runbook },
      { key: RUNBOOK_INSTANCE, value: instance },
    ],
    staticSummary: `Plan: ${staticSummary}`,
  });
}

export function startUnpin(client: Client, taskQueue: string, input: UnpinInput): Promise<WorkflowHandle> {
  return startRunbook(client, taskQueue, 'unpin', RUNBOOKS.unpin, input.instance, [input], Boolean(input.options.dryRun), `Unpin ${input.instance}`);
}

/** Read-only: no lock, a unique ID per bundle. */
export async function startDiagnosticBundle(client: Client, taskQueue: string, input: DiagnosticBundleInput): Promise<WorkflowHandle> {
  const instance = validateInstanceName(input.instance);
  return client.workflow.start('diagnosticBundle', {
    taskQueue,
    workflowId: `${RUNBOOKS.diagnosticBundle}/${instance}/${uuid4()}`,
    args: [input],
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: RUNBOOKS.diagnosticBundle },
      { key: RUNBOOK_INSTANCE, value: instance },
    ],
    staticSummary: `Diagnostic bundle of ${instance}`,
  });
}

export function startDynamoDbRecovery(client: Client, taskQueue: string, input: DynamoDbRecoveryInput): Promise<WorkflowHandle> {
  return startRunbook(client, taskQueue, 'dynamodbRecovery', RUNBOOKS.dynamodbRecovery, input.instance, [input], Boolean(input.options.dryRun),
    `DynamoDB recovery of ${input.instance}${input.resumeFrom ? ` (resume from ${input.resumeFrom})` : ''}`);
}

export function startDynamoDbImport(client: Client, taskQueue: string, input: DynamoDbImportInput): Promise<WorkflowHandle> {
  return startRunbook(client, taskQueue, 'dynamodbImport', RUNBOOKS.dynamodbImport, input.instance, [input], Boolean(input.options.dryRun),
    `DynamoDB import into ${input.instance} from ${input.from}`);
}

/** Read-only: no lock, a unique ID per export. */
export async function startDynamoDbExport(client: Client, taskQueue: string, input: DynamoDbExportInput): Promise<WorkflowHandle> {
  const instance = validateInstanceName(input.instance);
  return client.workflow.start('dynamodbExport', {
    taskQueue,
    workflowId: `${RUNBOOKS.dynamodbExport}/${instance}/${uuid4()}`,
    args: [input],
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: RUNBOOKS.dynamodbExport },
      { key: RUNBOOK_INSTANCE, value: instance },
    ],
    staticSummary: `DynamoDB export of ${instance}`,
  });
}
