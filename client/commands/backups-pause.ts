/** `runbook backups pause <instance> [--reason TEXT]`: no scheduled backups until resumed (the schedule keeps its settings). */
import { validateInstanceName } from '../../common/instance';
import { pauseBackups } from '../backup-schedules';
import { Option } from 'commander';
import { identity, parseText } from '../options';
import { backupsGroup } from './backups-group';
import { print, withClient } from './context';
import type { Cli } from './context';

export function registerBackupsPause(cli: Cli): void {
  backupsGroup(cli)
    .command('pause <instance>')
    .description("pause the instance's backup schedule (exit 8 when it has none)")
    .addOption(new Option('--reason <text>', "why: the schedule's note in `backups schedules` and the Temporal UI").argParser(parseText))
    .action(async (instanceArg: string, opts: { reason?: string }) => {
      const instance = validateInstanceName(instanceArg);
      const note = `paused by ${identity()}${opts.reason ? `: ${opts.reason}` : ''}`;
      await withClient((client) => pauseBackups(client, instance, note));
      print(cli.output(), { instance, paused: true, note }, () => `paused backups of ${instance} (${note})`);
    });
}
