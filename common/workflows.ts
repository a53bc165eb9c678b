/**
 * The runbook workflows as client, worker and workflows know them: each one's workflow type (the name
 * workflows/index.ts exports its function under), input, result, runbook name, and how its workflow ID
 * is built. Clients start workflows through these definitions (client/runbooks.ts), so a wrong argument
 * fails to compile, and never import a workflow's implementation; workflows/index.ts checks at compile
 * time that every implementation has its definition's signature. Pure code: safe in workflows.
 */
import { RUNBOOKS } from './definitions';
import type { BackupCatalog, BackupCatalogInput, BackupRetentionDetails, BackupRetentionInput } from './backup-catalog';
import type { ScheduledBackupDetails, ScheduledBackupInput } from './backup-schedule';
import type { FleetStatusInput, FleetStatusReport } from './fleet-status';
import { InvalidInputError } from './instance';
import type { DiagnosticBundleDetails, DiagnosticBundleInput } from './diagnostics';
import type {
  DynamoDbExportDetails,
  DynamoDbExportInput,
  DynamoDbImportDetails,
  DynamoDbImportInput,
  DynamoDbRecoveryDetails,
  DynamoDbRecoveryInput,
} from './dynamodb-backup';
import type { BackupDrillDetails, BackupDrillInput } from './dynamodb-drill';
import type { InstanceStatusInput, InstanceStatusReport } from './instance-status';
import type { RecreateClaimDetails, RecreateClaimInput } from './recreate-claim-plan';
import type { RunMatchingJobDetails, RunMatchingJobInput } from './matching-job-plan';
import type { RestartDetails, RestartInput } from './restart-plan';
import type { RollbackDetails, RollbackInput, UnpinDetails, UnpinInput } from './rollback';
import type { RunbookOptions, RunbookResult } from './runbook';
import type { TriageInput, TriageReport } from './triage';
import type { SyncDetails, SyncInput } from './sync-plan';

/** How a workflow's runs are identified, which decides what Temporal refuses or shares. */
type WorkflowIdScheme =
  /** Read-only and cheap: one run per instance at a time, a second request attaches to it. */
  | 'per-instance'
  /** Changes the instance: the instance's one destructive ID, so one such run at a time (a dry run: a plan ID of its own). */
  | 'destructive'
  /** Read-only: a run of its own per request. */
  | 'per-request'
  /** Read-only, across instances: a run of its own per request, which names no instance (no RunbookInstance either). */
  | 'fleet';

/** Every runbook input names its instance; most carry the requester and options too. */
export interface WorkflowInput {
  instance: string;
  options?: RunbookOptions;
}

/**
 * The input of a runbook over many instances ('fleet' IDs): it names none. Not a pseudo-instance
 * name: every instance name stays a DNS-1123 label that validateInstanceName accepts.
 */
export interface FleetWorkflowInput {
  instance?: undefined;
  options?: RunbookOptions;
}

export interface WorkflowDefinition<Type extends string, Input extends WorkflowInput | FleetWorkflowInput, Result> {
  readonly workflowType: Type;
  /** The RunbookName search attribute's value and the approval policy's key (RUNBOOKS for the product's). */
  readonly runbook: string;
  readonly ids: WorkflowIdScheme;
  /** The one-line summary the Temporal UI shows for a run. */
  summary(input: Input): string;
  /**
   * For a destructive runbook whose run may change something every instance shares (the AWS
   * provider) instead of the instance: the one lock of that shared thing (sharedWorkflowId), taken
   * instead of the instance's. Undefined for a run that changes the instance.
   */
  sharedLock?(input: Input): string | undefined;
  /** Never set: carries the input and result types to the start functions. */
  readonly signature?: (input: Input) => Promise<Result>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any definition, whatever its types (inference needs `any` here)
export type AnyWorkflowDefinition = WorkflowDefinition<string, any, any>;

/** The workflow function a definition describes: what `client.workflow.start` type-checks against. */
export type WorkflowFunction<D extends AnyWorkflowDefinition> = D extends WorkflowDefinition<string, infer Input, infer Result> ? (input: Input) => Promise<Result> : never;
export type InputOf<D extends AnyWorkflowDefinition> = Parameters<WorkflowFunction<D>>[0];

/** A definition with its input and result types: `defineWorkflow<Input, Result>()({ workflowType: ..., ... })`. */
export function defineWorkflow<Input extends WorkflowInput | FleetWorkflowInput, Result>() {
  return <const Type extends string>(definition: WorkflowDefinition<Type, Input, Result>) => definition;
}

export const instanceStatusWorkflow = defineWorkflow<InstanceStatusInput, InstanceStatusReport>()({
  workflowType: 'instanceStatus',
  runbook: RUNBOOKS.instanceStatus,
  ids: 'per-instance',
  summary: (input) => `Instance status of ${input.instance}`,
});

export const rollbackWorkflow = defineWorkflow<RollbackInput, RunbookResult<RollbackDetails>>()({
  workflowType: 'rollback',
  runbook: RUNBOOKS.rollback,
  ids: 'destructive',
  summary: (input) => `Rollback ${input.instance} to ${input.target}`,
});

export const unpinWorkflow = defineWorkflow<UnpinInput, RunbookResult<UnpinDetails>>()({
  workflowType: 'unpin',
  runbook: RUNBOOKS.unpin,
  ids: 'destructive',
  summary: (input) => `Unpin ${input.instance}`,
});

export const diagnosticBundleWorkflow = defineWorkflow<DiagnosticBundleInput, RunbookResult<DiagnosticBundleDetails>>()({
  workflowType: 'diagnosticBundle',
  runbook: RUNBOOKS.diagnosticBundle,
  ids: 'per-request',
  summary: (input) => `Diagnostic bundle of ${input.instance}`,
});

export const dynamodbRecoveryWorkflow = defineWorkflow<DynamoDbRecoveryInput, RunbookResult<DynamoDbRecoveryDetails>>()({
  workflowType: 'dynamodbRecovery',
  runbook: RUNBOOKS.dynamodbRecovery,
  ids: 'destructive',
  summary: (input) => `DynamoDB recovery of ${input.instance}${input.resumeFrom ? ` (resume from ${input.resumeFrom})` : ''}`,
});

export const dynamodbExportWorkflow = defineWorkflow<DynamoDbExportInput, RunbookResult<DynamoDbExportDetails>>()({
  workflowType: 'dynamodbExport',
  runbook: RUNBOOKS.dynamodbExport,
  ids: 'per-request',
  summary: (input) => `DynamoDB export of ${input.instance}`,
});

export const dynamodbImportWorkflow = defineWorkflow<DynamoDbImportInput, RunbookResult<DynamoDbImportDetails>>()({
  workflowType: 'dynamodbImport',
  runbook: RUNBOOKS.dynamodbImport,
  ids: 'destructive',
  summary: (input) => `DynamoDB import into ${input.instance} from ${input.from}`,
});

export const triageWorkflow = defineWorkflow<TriageInput, RunbookResult<TriageReport>>()({
  workflowType: 'triage',
  runbook: RUNBOOKS.triage,
  ids: 'per-request',
  summary: (input) => `Triage of ${input.instance}`,
});

export const syncWorkflow = defineWorkflow<SyncInput, RunbookResult<SyncDetails>>()({
  workflowType: 'sync',
  runbook: RUNBOOKS.sync,
  ids: 'destructive',
  summary: (input) => `Sync ${input.instance}${input.enableAutomatedSync ? ' and turn automated sync on' : ''}`,
});

export const recreateClaimWorkflow = defineWorkflow<RecreateClaimInput, RunbookResult<RecreateClaimDetails>>()({
  workflowType: 'recreateClaim',
  runbook: RUNBOOKS.recreateClaim,
  ids: 'destructive',
  summary: (input) => `Recreate the DynamoDB claim of ${input.instance} (empty tables only)`,
});

export const restartWorkflow = defineWorkflow<RestartInput, RunbookResult<RestartDetails>>()({
  workflowType: 'restart',
  runbook: RUNBOOKS.restart,
  ids: 'destructive',
  sharedLock: (input) => (input.target === 'provider-aws' ? sharedWorkflowId('provider-aws') : undefined),
  summary: (input) => `Restart ${input.target === 'provider-aws' ? 'the AWS provider' : `${input.target} of ${input.instance}`}`,
});

export const runMatchingJobWorkflow = defineWorkflow<RunMatchingJobInput, RunbookResult<RunMatchingJobDetails>>()({
  workflowType: 'runMatchingJob',
  runbook: RUNBOOKS.runMatchingJob,
  ids: 'destructive',
  summary: (input) => `Run the matching job of ${input.instance}`,
});

export const fleetStatusWorkflow = defineWorkflow<FleetStatusInput, FleetStatusReport>()({
  workflowType: 'fleetStatus',
  runbook: RUNBOOKS.fleetStatus,
  ids: 'fleet',
  summary: (input) => `Fleet status${input.prefix ? ` of instances ${input.prefix}*` : ''}`,
});

export const backupCatalogWorkflow = defineWorkflow<BackupCatalogInput, BackupCatalog>()({
  workflowType: 'backupCatalog',
  runbook: RUNBOOKS.backupCatalog,
  ids: 'per-instance',
  summary: (input) => `Backup catalog of ${input.instance}`,
});

/**
 * Deletes expired backups of the instance, never its tables: a run of its own per request, not the
 * instance's destructive ID (a recovery holding that would otherwise block retention, and retention
 * would block a recovery); two retention runs at once are safe (each re-checks before deleting).
 */
export const backupRetentionWorkflow = defineWorkflow<BackupRetentionInput, RunbookResult<BackupRetentionDetails>>()({
  workflowType: 'backupRetention',
  runbook: RUNBOOKS.backupRetention,
  ids: 'per-request',
  summary: (input) =>
    `Backup retention of ${input.instance} (${[input.keep !== undefined ? `keep ${input.keep}` : '', input.keepDays !== undefined ? `keep ${input.keepDays} days` : ''].filter(Boolean).join(', ')})${input.dryRun ? ', dry run' : ''}`,
});

/** Read-only (scratch tables of its own only): an ID per request, never the instance's destructive lock. */
export const backupDrillWorkflow = defineWorkflow<BackupDrillInput, RunbookResult<BackupDrillDetails>>()({
  workflowType: 'backupDrill',
  runbook: RUNBOOKS.backupDrill,
  ids: 'per-request',
  summary: (input) => `Restore drill of ${input.instance}${input.backup ? ` (${input.backup})` : ' (newest verified backup)'}`,
});

/**
 * A backup a Temporal Schedule starts (client/backup-schedules.ts) under `scheduled-backup/<instance>-<time>`;
 * started by hand, a run of its own per request. Read-only: it takes no lock, and yields to a run that holds one.
 */
export const scheduledBackupWorkflow = defineWorkflow<ScheduledBackupInput, RunbookResult<ScheduledBackupDetails>>()({
  workflowType: 'scheduledBackup',
  runbook: RUNBOOKS.scheduledBackup,
  ids: 'per-request',
  summary: (input) => `Scheduled backup of ${input.instance}`,
});

/** Every product workflow, by workflow type. */
export const WORKFLOWS = {
  instanceStatus: instanceStatusWorkflow,
  rollback: rollbackWorkflow,
  unpin: unpinWorkflow,
  diagnosticBundle: diagnosticBundleWorkflow,
  dynamodbRecovery: dynamodbRecoveryWorkflow,
  dynamodbExport: dynamodbExportWorkflow,
  dynamodbImport: dynamodbImportWorkflow,
  triage: triageWorkflow,
  sync: syncWorkflow,
  recreateClaim: recreateClaimWorkflow,
  restart: restartWorkflow,
  runMatchingJob: runMatchingJobWorkflow,
  fleetStatus: fleetStatusWorkflow,
  backupCatalog: backupCatalogWorkflow,
  backupRetention: backupRetentionWorkflow,
  backupDrill: backupDrillWorkflow,
  scheduledBackup: scheduledBackupWorkflow,
} as const;

/** What workflows/index.ts must export: each definition's function under its workflow type. */
export type WorkflowImplementations = { [D in (typeof WORKFLOWS)[keyof typeof WORKFLOWS] as D['workflowType']]: WorkflowFunction<D> };

// ---------------------------------------------------------------------------------------------
// Workflow IDs: built here and nowhere else.

/**
 * Every destructive runbook of an instance runs under this one workflow ID, so Temporal itself
 * guarantees at most one at a time across runbooks; a second start is refused naming the holder.
 */
export function destructiveWorkflowId(instance: string): string {
  return `destructive/${instance}`;
}

/**
 * What every instance shares (the AWS provider in crossplane-system) has one lock of its own: changing
 * it is not a change of the instance a run was started for, so it does not hold that instance's lock
 * (nor block the instance's other runbooks), but two such runs, from any instances, never overlap.
 */
export function sharedWorkflowId(resource: string): string {
  return `shared/${resource}`;
}

/** A dry run holds no lock: its ID is unique per request. */
export function planWorkflowId(runbook: string, instance: string, nonce: string): string {
  return `plan/${runbook}/${instance}/${nonce}`;
}

/**
 * The workflow ID a start of `definition` for `input` runs under. `nonce` makes per-request, fleet
 * and plan IDs unique (a UUID from the client); alert-started runs use a fixed one per instance
 * instead (`ALERT_NONCE`), so a second alert attaches to the run the first one started.
 */
export function workflowIdFor(definition: Pick<AnyWorkflowDefinition, 'runbook' | 'ids' | 'sharedLock'>, input: WorkflowInput | FleetWorkflowInput, nonce: string): string {
  if (definition.ids === 'fleet') return `${definition.runbook}/${nonce}`;
  const { instance } = input;
  if (instance === undefined) throw new InvalidInputError(`${definition.runbook} runs on one instance: the input names none`);
  switch (definition.ids) {
    case 'per-instance':
      return `${definition.runbook}/${instance}`;
    case 'destructive':
      if (input.options?.dryRun) return planWorkflowId(definition.runbook, instance, nonce);
      return definition.sharedLock?.(input) ?? destructiveWorkflowId(instance);
    case 'per-request':
      return `${definition.runbook}/${instance}/${nonce}`;
  }
}

/** The nonce of alert-started runs: one alert-started run of a read-only runbook per instance at a time. */
export const ALERT_NONCE = 'alert';
