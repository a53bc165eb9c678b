/** `runbook export-dynamodb <instance>`: the guide's `aws dynamodb scan > backup.json`, as a verified backup. Read-only. */
import { validateInstanceName } from '../../common/instance';
import type { ExportMethod } from '../../common/dynamodb-export-method';
import { exportMethodOption, exportTuningOptions, identityOption, parseTableList, resolveTables, tuning } from '../options';
import { exportLines } from '../results';
import { startDynamoDbExport } from '../runbooks';
import { print, requestedBy, runResult, withClient } from './context';
import type { Cli } from './context';

export function registerExportDynamoDb({ program, output }: Cli): void {
  const command = program
    .command('export-dynamodb <instance>')
    .description("export the instance's tables to S3 as a verified backup and print its URL (read-only: no approval, writers keep running)")
    .option('--tables <names>', 'only these tables (comma-separated: users,matches,feedback or full names)', parseTableList);
  for (const option of [exportMethodOption(), ...exportTuningOptions()]) command.addOption(option);
  command.addOption(identityOption()).action(async (instanceArg: string, opts: { tables?: string[]; method?: ExportMethod; chunkMaxItems?: number; segments?: number; as?: string }) => {
    const instance = validateInstanceName(instanceArg);
    const tables = resolveTables(instance, opts.tables);
    const requester = requestedBy(opts.as);
    await withClient(async (client, config) => {
      const handle = await startDynamoDbExport(client, config.temporal.taskQueue, {
        instance,
        tables,
        export: tuning({ chunkMaxItems: opts.chunkMaxItems, segments: opts.segments }),
        ...(opts.method ? { method: opts.method } : {}),
        options: { requestedBy: requester },
      });
      const details = (await runResult(handle)).details!;
      print(output(), details, () => [`backup ${details.backup.url}`, ...exportLines(details)].join('\n'));
    });
  });
}
