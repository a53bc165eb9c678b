/**
 * The workflow bundle's entry: each runbook's workflow function, exported under the workflow type
 * its definition in common/workflows.ts names (the type clients start); implementations.ts checks at
 * compile time that each has its definition's signature.
 */
import { backupCatalog } from './backup-catalog';
import { backupRetention } from './backup-retention';
import { backupDrill } from './backup-drill';
import { diagnosticBundle } from './diagnostic-bundle';
import { dynamodbExport } from './dynamodb-export';
import { dynamodbImport } from './dynamodb-import';
import { dynamodbRecovery } from './dynamodb-recovery';
import { fleetStatus } from './fleet-status';
import { instanceStatus } from './instance-status';
import { recreateClaim } from './recreate-claim';
import { restart } from './restart';
import { rollback } from './rollback';
import { runMatchingJob } from './run-matching-job';
import { scheduledBackup } from './scheduled-backup';
import { sync } from './sync';
import { triage } from './triage';
import { unpin } from './unpin';

export { backupCatalog, backupDrill, backupRetention, diagnosticBundle, dynamodbExport, dynamodbImport, dynamodbRecovery, fleetStatus, instanceStatus, recreateClaim, restart, rollback, runMatchingJob, scheduledBackup, sync, triage, unpin };
