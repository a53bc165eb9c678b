/**
 * `runbook`: the operator's CLI. Starts runbooks, lists and shows runs, approves them with the
 * operator's signing key. One module per command in client/commands/, their shared options in
 * client/options.ts. `--output json` on every command; exit codes are documented in the README
 * (EXIT) so scripts can rely on them.
 */
import { Command, CommanderError, Option } from 'commander';
import { InvalidInputError } from '../common/instance';
import { registerBackupsList } from './commands/backups-list';
import { registerBackupsPrune } from './commands/backups-prune';
import { registerBackupsDrill } from './commands/backups-drill';
import { BackupScheduleNotFound } from './backup-schedules';
import { registerBackupsDelete } from './commands/backups-delete';
import { registerBackupsPause } from './commands/backups-pause';
import { registerBackupsResume } from './commands/backups-resume';
import { registerBackupsSchedule } from './commands/backups-schedule';
import { registerBackupsSchedules } from './commands/backups-schedules';
import { registerCancel } from './commands/cancel';
import { CliError, EXIT } from './commands/context';
import type { Cli, Output } from './commands/context';
import { registerDecisions } from './commands/decide';
import { registerDiagnostics } from './commands/diagnostics';
import { registerExportDynamoDb } from './commands/export-dynamodb';
import { registerImportDynamoDb } from './commands/import-dynamodb';
import { registerKeys } from './commands/keys';
import { registerList } from './commands/list';
import { registerRecoverDynamoDb } from './commands/recover-dynamodb';
import { registerRecreateClaim } from './commands/recreate-claim';
import { registerRestart } from './commands/restart';
import { registerRollback } from './commands/rollback';
import { registerRunMatchingJob } from './commands/run-matching-job';
import { registerShow } from './commands/show';
import { registerStatus } from './commands/status';
import { registerTriage } from './commands/triage';
import { registerValidate } from './commands/validate';
import { registerSync } from './commands/sync';
import { registerUnpin } from './commands/unpin';
import { registerWatch } from './commands/watch';
import { InstanceBusyError } from './runbooks';

export { EXIT } from './commands/context';

export function buildCli(): Command {
  const program = new Command('runbook')
    .description('Start, watch and approve Virtual Coffee Platform runbooks (Temporal workflows)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .showHelpAfterError()
    .exitOverride();
  const cli: Cli = { program, output: () => program.opts<{ output: Output }>().output };
  for (const register of [
    registerStatus,
    registerTriage,
    registerValidate,
    registerRollback,
    registerUnpin,
    registerSync,
    registerRestart,
    registerRunMatchingJob,
    registerDiagnostics,
    registerRecoverDynamoDb,
    registerRecreateClaim,
    registerExportDynamoDb,
    registerImportDynamoDb,
    registerList,
    registerShow,
    registerWatch,
    registerDecisions,
    registerCancel,
    registerKeys,
    registerBackupsList,
    registerBackupsPrune,
    registerBackupsDrill,
    registerBackupsSchedule,
    registerBackupsSchedules,
    registerBackupsPause,
    registerBackupsResume,
    registerBackupsDelete,
  ]) {
    register(cli);
  }
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const json = program.opts<{ output: Output }>().output === 'json';
    const code = err instanceof CliError ? err.exitCode : err instanceof InstanceBusyError ? EXIT.instanceBusy : err instanceof BackupScheduleNotFound ? EXIT.scheduleNotFound : err instanceof InvalidInputError ? EXIT.usage : EXIT.error;
    let message = err instanceof Error ? err.message : String(err);
    // An unexpected error says why: its causes (e.g. the S3 error behind a failed upload).
    if (code === EXIT.error) for (let e = err instanceof Error ? err.cause : undefined; e instanceof Error; e = e.cause) message += `: ${e.message}`;
    if (json) console.log(JSON.stringify({ error: message, exitCode: code }));
    else console.error(`runbook: ${message}`);
    return code;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(EXIT.error);
    },
  );
}
