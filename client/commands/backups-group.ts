/** `runbook backups …`: one command group that each backups module adds its subcommands to. */
import type { Command } from 'commander';
import type { Cli } from './context';

export function backupsGroup({ program }: Cli): Command {
  return (
    program.commands.find((c) => c.name() === 'backups') ??
    program.command('backups').description('scheduled backups, their catalog, retention and restore drills')
  );
}
