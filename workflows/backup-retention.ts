/**
 * Retention of an instance's backups (`runbook backups prune`, and the scheduled backup's last
 * step): list the backups, find those running workflows use, select what the policy lets go
 * (common/backup-catalog.ts: selectForRetention), and delete it in an activity that applies the same
 * rules again right before deleting. Every deletion is in the audit record and the result.
 *
 * Not destructive in the runbook sense, on purpose: it changes no table, claim or workload of the
 * instance, so it does not take the instance's destructive lock (`destructive/<instance>`). Holding it
 * would make retention wait for, or block, a recovery or import, the very runs that need backups
 * most; instead those runs' backups are protected by the in-use rule, read again before the delete.
 */
import { workflowInfo } from '@temporalio/workflow';
import { selectForRetention, validateRetentionPolicy } from '../common/backup-catalog';
import type { BackupCatalog, BackupRetentionDetails, BackupRetentionInput, BackupUse, RetentionPolicy, RetentionSelection } from '../common/backup-catalog';
import { RUNBOOKS } from '../common/definitions';
import { InvalidInputError, validateInstanceName } from '../common/instance';
import type { RunbookOptions, RunbookResult } from '../common/runbook';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { OUTAGE_RETRY } from './runbook/retry';
import { validateInput } from './runbook/validation';

const RETENTION_STEPS = [
  { name: 'catalog', title: 'List the backups' },
  { name: 'in-use', title: 'Find the backups running workflows use' },
  { name: 'select', title: 'Select what the policy lets go' },
  { name: 'delete', title: 'Delete the expired backups (rules checked again first)' },
] as const;

type Retention = Runbook<StepsOf<typeof RETENTION_STEPS>>;

/** Expired backups named in the run's UI details. */
const MAX_NOTED = 20;

export async function backupRetention(input: BackupRetentionInput): Promise<RunbookResult<BackupRetentionDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const policy = validateInput(() => validateRetentionPolicy(input));
  const dryRun = Boolean(input.dryRun ?? input.options?.dryRun);
  const { options, startInput } = validateInput(() => requester(input));
  const runbook: Retention = new Runbook({
    name: RUNBOOKS.backupRetention,
    title: 'Backup retention',
    instance,
    options: { ...options, dryRun },
    // Changes no table, claim or workload: see the file's comment for why it holds no destructive lock.
    destructive: false,
    startInput,
    steps: RETENTION_STEPS,
  });
  return runbook.run(async () => {
    const catalog = await runbook.step('catalog', () => activity('readBackupCatalog', `List the backups of ${instance}`, { startToCloseTimeout: '5 minutes', retry: OUTAGE_RETRY })({ instance }));
    const uses = await runbook.step('in-use', () => activity('listBackupsInUse', 'List running recoveries, imports, drills and exports', { startToCloseTimeout: '2 minutes', retry: OUTAGE_RETRY })());
    const selection = await runbook.step('select', () => select(runbook, catalog, policy, uses));
    const details: BackupRetentionDetails = { instance, policy, dryRun, kept: selection.keep, expired: selection.expire, deleted: [], refused: [] };
    if (dryRun) {
      runbook.skip('delete', `dry run: ${selection.expire.length} backup(s) would be deleted`);
      return details;
    }
    if (selection.expire.length === 0) {
      runbook.skip('delete', 'nothing expired');
      return details;
    }
    return { ...details, ...(await runbook.step('delete', () => deleteExpired(runbook, instance, policy, selection))) };
  });
}

/**
 * Who asked: the start's requester, or, for a run the scheduled backup starts as its child without
 * options, that schedule's run (its start check then applies the keyring's rule for unsigned starts).
 */
function requester(input: BackupRetentionInput): { options: RunbookOptions; startInput: { options: RunbookOptions } } {
  if (input.options) return { options: input.options, startInput: { ...input, options: input.options } };
  const parent = workflowInfo().parent;
  if (!parent) throw new InvalidInputError('options.requestedBy is required (only a scheduled backup may start retention without it)');
  const options: RunbookOptions = { requestedBy: { user: 'scheduled-backup', via: 'api', origin: parent.workflowId }, reason: `retention after ${parent.workflowId}` };
  return { options, startInput: { ...input, options } };
}

/** The policy applied at workflow time (replay-safe); shown in the UI as counters and notes. */
async function select(runbook: Retention, catalog: BackupCatalog, policy: RetentionPolicy, uses: BackupUse[]): Promise<RetentionSelection> {
  const selection = selectForRetention(catalog.entries, policy, new Date(), uses);
  runbook.setCounter('backups', catalog.entries.length);
  runbook.setCounter('kept', selection.keep.length);
  runbook.setCounter('expired', selection.expire.length);
  // The UI's details stay short; the result and the audit list every one.
  for (const e of selection.expire.slice(0, MAX_NOTED)) runbook.note(`expired ${e.id}: ${e.why}`);
  if (selection.expire.length > MAX_NOTED) runbook.note(`… and ${selection.expire.length - MAX_NOTED} more expired`);
  return Promise.resolve(selection);
}

async function deleteExpired(runbook: Retention, instance: string, policy: RetentionPolicy, selection: RetentionSelection): Promise<Pick<BackupRetentionDetails, 'deleted' | 'refused'>> {
  const result = await activity('deleteExpiredBackups', `Delete ${selection.expire.length} expired backup(s) of ${instance}`, {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '2 minutes',
    retry: { ...OUTAGE_RETRY, nonRetryableErrorTypes: ['BackupDeleteRefused', 'BackupStillWritten'] },
  })({ instance, policy, selected: selection.expire.map((e) => e.id) });
  for (const d of result.deleted) {
    runbook.recordChange({
      object: d.url,
      action: 'delete backup (every object under its prefix)',
      before: { prefix: d.prefix, objects: d.objects, storedBytes: d.storedBytes, items: d.items, bytes: d.bytes, createdAt: d.createdAt, verified: d.verified, state: d.state, why: d.why },
    });
  }
  for (const r of result.refused) runbook.note(`kept ${r.id}: ${r.reason}`);
  runbook.setCounter('deleted', result.deleted.length);
  return result;
}
