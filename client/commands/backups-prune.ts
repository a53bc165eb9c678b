/**
 * `runbook backups prune <instance> [--keep N] [--keep-days D] [--dry-run]`: deletes the backups the
 * retention policy lets go (never the newest verified one, one a running workflow uses, or one
 * younger than the policy) and prints each deletion and why. Exit 0 when done, 2 for a bad policy,
 * 3 when the run did not succeed.
 */
import { InvalidArgumentError } from 'commander';
import type { BackupRetentionDetails } from '../../common/backup-catalog';
import { validateRetentionPolicy } from '../../common/backup-catalog';
import { validateInstanceName } from '../../common/instance';
import { identityOption, reasonOption } from '../options';
import { startBackupRetention } from '../runbooks';
import { print, requestedBy, runResult, withClient } from './context';
import type { Cli } from './context';
import { backupsGroup } from './backups-group';

function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a number`);
  return n;
}

export function registerBackupsPrune(cli: Cli): void {
  backupsGroup(cli)
    .command('prune <instance>')
    .description('delete backups the retention policy lets go: keeps the newest N verified and everything younger than D days, the newest verified, and any backup a running workflow uses')
    .option('--keep <n>', 'keep the newest N verified backups (at least 1)', parseNumber)
    .option('--keep-days <d>', 'keep every backup younger than D days (fractions allowed: 0.5 is 12 hours)', parseNumber)
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .addOption(reasonOption())
    .addOption(identityOption())
    .action(async (instanceArg: string, opts: { keep?: number; keepDays?: number; dryRun?: boolean; reason?: string; as?: string }) => {
      const instance = validateInstanceName(instanceArg);
      const policy = validateRetentionPolicy({ keep: opts.keep, keepDays: opts.keepDays });
      await withClient(async (client, config) => {
        const handle = await startBackupRetention(client, config.temporal.taskQueue, {
          instance,
          ...policy,
          dryRun: opts.dryRun,
          options: { requestedBy: requestedBy(opts.as), reason: opts.reason },
        });
        const result = await runResult(handle);
        const details = result.details!;
        print(cli.output(), { ...details, auditLocation: result.auditLocation }, () => [...pruneLines(details), ...(result.auditLocation ? [`audit ${result.auditLocation}`] : [])].join('\n'));
      });
    });
}

export function pruneLines(d: BackupRetentionDetails): string[] {
  const policy = [d.policy.keep !== undefined ? `keep ${d.policy.keep} newest verified` : '', d.policy.keepDays !== undefined ? `keep ${d.policy.keepDays} days` : ''].filter(Boolean).join(' and ');
  const lines = [`${d.instance}: ${policy}${d.dryRun ? ' (dry run: nothing deleted)' : ''}`];
  if (d.dryRun) for (const e of d.expired) lines.push(`  would delete ${e.id}: ${e.why}`);
  for (const x of d.deleted) lines.push(`  deleted ${x.id}: ${x.objects} objects, ${x.items} items (${x.why})`);
  for (const r of d.refused) lines.push(`  kept    ${r.id}: ${r.reason}`);
  for (const k of d.kept) lines.push(`  kept    ${k.id}: ${k.why}`);
  return lines;
}
