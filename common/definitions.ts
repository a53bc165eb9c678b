/**
 * What client and worker share about runs in general: the task queue, the search attributes and the
 * runbooks' names. Each workflow's own definition (input, result, ID) is in common/workflows.ts.
 * Pure code: safe to import from workflows.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TASK_QUEUE = 'vcp-runbooks';

export const RUNBOOK_NAME = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const RUNBOOK_INSTANCE = defineSearchAttributeKey('RunbookInstance', SearchAttributeType.KEYWORD);
export const RUNBOOK_STATUS = defineSearchAttributeKey('RunbookStatus', SearchAttributeType.KEYWORD);
export const RUNBOOK_STEP = defineSearchAttributeKey('RunbookStep', SearchAttributeType.KEYWORD);
/** For alert-started runs: the alert episode (fingerprint + startsAt digest) that started it. */
export const RUNBOOK_TRIGGER = defineSearchAttributeKey('RunbookTrigger', SearchAttributeType.KEYWORD);

/** Every search attribute the workflows set; the stack and `register-search-attributes` create these. */
export const SEARCH_ATTRIBUTES = [RUNBOOK_NAME, RUNBOOK_INSTANCE, RUNBOOK_STATUS, RUNBOOK_STEP, RUNBOOK_TRIGGER] as const;

/** Each runbook's name: its RunbookName search attribute value and its approval policy's key. */
export const RUNBOOKS = {
  instanceStatus: 'instance-status',
  rollback: 'rollback',
  unpin: 'unpin',
  diagnosticBundle: 'diagnostic-bundle',
  dynamodbRecovery: 'dynamodb-recovery',
  dynamodbExport: 'dynamodb-export',
  dynamodbImport: 'dynamodb-import',
  triage: 'triage',
  fleetStatus: 'fleet-status',
  restart: 'restart',
  sync: 'sync',
  runMatchingJob: 'run-matching-job',
  recreateClaim: 'recreate-claim',
  backupCatalog: 'backup-catalog',
  backupRetention: 'backup-retention',
  backupDrill: 'backup-drill',
  scheduledBackup: 'scheduled-backup',
} as const;
