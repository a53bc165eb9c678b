/**
 * `runbook recover-dynamodb <instance>`: the guide's "Recreate DynamoDB Tables" with the import it
 * leaves to a custom script (asks for approval). Every option is checked before connecting.
 */
import { InvalidInputError, instanceTableNames, validateInstanceName } from '../../common/instance';
import { exportTuningOptions, identityOption, importConcurrencyOption, parseManifestUrl, parseTableList, reasonOption, resolveTables, tuning } from '../options';
import { recoveryPlanLines } from '../results';
import { startDynamoDbRecovery } from '../runbooks';
import { printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface RecoverOptions {
  tables?: string[];
  quiesce: boolean;
  confirmAfterBackup?: boolean;
  resumeFrom?: string;
  fromOtherInstance?: boolean;
  chunkMaxItems?: number;
  segments?: number;
  importConcurrency?: number;
  reason?: string;
  dryRun?: boolean;
  as?: string;
}

export function registerRecoverDynamoDb({ program, output }: Cli): void {
  const command = program
    .command('recover-dynamodb <instance>')
    .description("recreate the instance's DynamoDB tables: back up and verify, delete and recreate the claim, import, verify item by item (asks for approval)")
    .option('--tables <names>', 'not a subset: deleting the claim deletes every table it owns, so all are backed up, restored and verified; if given, must name them all (users,matches,feedback or full names), else refused', parseTableList)
    .option('--no-quiesce', 'keep the API and the matching CronJob running (their writes during the recovery are lost)')
    .option('--confirm-after-backup', 'ask for a second approval once the backup is verified, before the claim is deleted')
    .option('--resume-from <url>', "finish a recovery that failed after the delete, from its verified backup (s3://.../manifest.json); refused unless the claim is gone or was recreated from that backup", parseManifestUrl)
    .option('--from-other-instance', "with --resume-from: accept another instance's backup (tables map by base name, users-a to users-b)");
  for (const option of exportTuningOptions('export: ')) command.addOption(option);
  command
    .addOption(importConcurrencyOption('import: '))
    .addOption(reasonOption())
    .option('--dry-run', 'discover and print the plan (tables, item counts, claim, writers), change nothing')
    .addOption(identityOption())
    .action(async (instanceArg: string, opts: RecoverOptions) => {
      // Everything is checked before connecting: a bad input starts nothing.
      const instance = validateInstanceName(instanceArg);
      const tables = resolveTables(instance, opts.tables);
      const left = tables ? instanceTableNames(instance).filter((t) => !tables.includes(t)) : [];
      if (left.length > 0) {
        throw new InvalidInputError(`deleting the claim deletes every table it owns, so a recovery backs up, restores and verifies all of them: --tables leaves out ${left.join(', ')}; omit --tables`);
      }
      if (opts.resumeFrom && (opts.chunkMaxItems !== undefined || opts.segments !== undefined)) {
        throw new InvalidInputError('--chunk-max-items and --segments tune the export, which --resume-from skips');
      }
      if (opts.fromOtherInstance && !opts.resumeFrom) throw new InvalidInputError('--from-other-instance applies to the backup of --resume-from');
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startDynamoDbRecovery(client, config.temporal.taskQueue, {
          instance,
          tables,
          quiesceWriters: opts.quiesce,
          confirmAfterBackup: opts.confirmAfterBackup,
          resumeFrom: opts.resumeFrom,
          allowOtherInstance: opts.fromOtherInstance,
          export: tuning({ chunkMaxItems: opts.chunkMaxItems, segments: opts.segments }),
          import: tuning({ concurrency: opts.importConcurrency }),
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), recoveryPlanLines);
        await startedMessage(output(), config, handle, 'DynamoDB recovery');
      });
    });
}
