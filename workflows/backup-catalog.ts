/**
 * `runbook backups list`: the instance's backups as the bucket holds them, newest first, with what
 * each holds, whether it was verified and drilled, how consistent a copy it is and where it is.
 * Read-only.
 */
import type { BackupCatalog, BackupCatalogInput } from '../common/backup-catalog';
import { validateInstanceName } from '../common/instance';
import { activity } from './runbook/proxies';
import { OUTAGE_RETRY } from './runbook/retry';
import { validateInput } from './runbook/validation';

export async function backupCatalog(input: BackupCatalogInput): Promise<BackupCatalog> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  return activity('readBackupCatalog', `List the backups of ${instance}`, { startToCloseTimeout: '5 minutes', retry: OUTAGE_RETRY })({ instance });
}
