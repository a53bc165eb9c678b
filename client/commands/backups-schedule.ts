/**
 * `runbook backups schedule <instance> --every 6h [--keep N] [--keep-days D] [--drill]`: the instance's
 * one backup schedule (a Temporal Schedule), created or updated. Checked before anything reaches the
 * server: a bad interval or retention creates nothing (exit 2).
 */
import { InvalidArgumentError } from 'commander';
import { parseEvery, validateRetention } from '../../common/backup-schedule';
import { InvalidInputError, validateInstanceName } from '../../common/instance';
import { describeBackupSchedule, scheduleBackups } from '../backup-schedules';
import type { ExportMethod } from '../../common/dynamodb-export-method';
import { exportMethodOption, identityOption } from '../options';
import { backupsGroup } from './backups-group';
import { print, requestedBy, signingKeys, withClient } from './context';
import type { Cli } from './context';
import { scheduleLines } from './backups-schedules';

/** A commander parser from a check that throws InvalidInputError: a usage error that says what is expected. */
function parser<T>(check: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return check(value);
    } catch (err) {
      if (err instanceof InvalidInputError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

const parseKeep = parser((v) => {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  validateRetention(n, undefined);
  return n;
});
const parseKeepDays = parser((v) => {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  validateRetention(undefined, n);
  return n;
});

export function registerBackupsSchedule(cli: Cli): void {
  backupsGroup(cli)
    .command('schedule <instance>')
    .description('back the instance up on a schedule (one Temporal Schedule per instance; scheduling again updates it)')
    .requiredOption('--every <interval>', 'how often: 30s, 15m, 6h, 1d, 7d (aligned to the Unix epoch, UTC)', parser(parseEvery))
    .option('--keep <n>', 'after each verified backup, keep the newest N (retention)', parseKeep)
    .option('--keep-days <d>', 'after each verified backup, keep backups younger than D days (retention)', parseKeepDays)
    .option('--drill', 'restore-drill each new backup into scratch tables')
    .addOption(exportMethodOption())
    .addOption(identityOption('who schedules it: their key signs the schedule (default: $VCP_USER or your login)'))
    .action(async (instanceArg: string, opts: { every: number; keep?: number; keepDays?: number; drill?: boolean; method?: ExportMethod; as?: string }) => {
      const instance = validateInstanceName(instanceArg);
      const requester = requestedBy(opts.as);
      const key = signingKeys.get(requester.user);
      await withClient(async (client, config) => {
        const { created } = await scheduleBackups(client, config.temporal.taskQueue, { instance, everyMs: opts.every, keep: opts.keep, keepDays: opts.keepDays, drill: opts.drill, method: opts.method, requestedBy: requester }, key);
        const schedule = await describeBackupSchedule(client, instance);
        print(cli.output(), { created, schedule }, () => [`${created ? 'created' : 'updated'} ${schedule.scheduleId}`, ...scheduleLines(schedule)].join('\n'));
      });
    });
}
