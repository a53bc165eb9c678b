/** `runbook backups delete <instance>`: removes the schedule; its backups and runs so far stay. */
import { validateInstanceName } from '../../common/instance';
import { deleteBackups } from '../backup-schedules';
import { backupsGroup } from './backups-group';
import { print, withClient } from './context';
import type { Cli } from './context';

export function registerBackupsDelete(cli: Cli): void {
  backupsGroup(cli)
    .command('delete <instance>')
    .description("delete the instance's backup schedule; the backups it made stay (exit 8 when it has none)")
    .action(async (instanceArg: string) => {
      const instance = validateInstanceName(instanceArg);
      await withClient((client) => deleteBackups(client, instance));
      print(cli.output(), { instance, deleted: true }, () => `deleted the backup schedule of ${instance} (its backups stay)`);
    });
}
