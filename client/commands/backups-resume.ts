/** `runbook backups resume <instance>`: scheduled backups again, from the next due time (missed ones are not made up). */
import { validateInstanceName } from '../../common/instance';
import { resumeBackups } from '../backup-schedules';
import { identity } from '../options';
import { backupsGroup } from './backups-group';
import { print, withClient } from './context';
import type { Cli } from './context';

export function registerBackupsResume(cli: Cli): void {
  backupsGroup(cli)
    .command('resume <instance>')
    .description("resume the instance's backup schedule (exit 8 when it has none)")
    .action(async (instanceArg: string) => {
      const instance = validateInstanceName(instanceArg);
      const note = `resumed by ${identity()}`;
      await withClient((client) => resumeBackups(client, instance, note));
      print(cli.output(), { instance, paused: false, note }, () => `resumed backups of ${instance}`);
    });
}
