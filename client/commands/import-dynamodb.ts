/**
 * `runbook import-dynamodb <instance>`: the guide's "Import data if needed", from one of our backups,
 * the guide's own `aws dynamodb scan` output (a local file is uploaded first) or a DynamoDB native
 * export in S3 (its manifest-summary.json). Asks for approval.
 */
import { InvalidInputError, validateInstanceName } from '../../common/instance';
import { identityOption, importConcurrencyOption, importSource, parseTableList, reasonOption, resolveTables, tuning } from '../options';
import { importPlanLines } from '../results';
import { startDynamoDbImport } from '../runbooks';
import { uploadScanFile } from '../upload';
import type { UploadedFile } from '../upload';
import { printPlan, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

interface ImportOptions {
  from: string;
  tables?: string[];
  allowNonEmpty?: boolean;
  fromOtherInstance?: boolean;
  importConcurrency?: number;
  reason?: string;
  dryRun?: boolean;
  as?: string;
}

export function registerImportDynamoDb({ program, output }: Cli): void {
  program
    .command('import-dynamodb <instance>')
    .description("import a backup into the instance's tables: one of our manifests, the guide's `aws dynamodb scan` output (from S3 or a local file, uploaded first), or a DynamoDB native export to S3 (asks for approval)")
    .requiredOption('--from <source>', 's3://.../manifest.json, s3://.../AWSDynamoDB/<ExportId>/manifest-summary.json of a native export, s3://... of a scan output file (in the backup bucket or one listed in VCP_ALLOWED_SOURCE_BUCKETS), or a local scan output file')
    .option('--tables <names>', 'manifest: only these tables; scan file or native export: the one table to import into (users,matches,feedback or full names)', parseTableList)
    .option('--allow-non-empty', 'import into tables that hold items: items with a key in the backup are overwritten, the others kept; afterwards every backup item must be there, equal, and no table smaller than planned')
    .option('--from-other-instance', 'accept a manifest of another instance (tables map by base name, users-a to users-b)')
    .addOption(importConcurrencyOption())
    .addOption(reasonOption())
    .option('--dry-run', 'stage and verify the backup, print the plan, write nothing')
    .addOption(identityOption())
    .action(async (instanceArg: string, opts: ImportOptions) => {
      const instance = validateInstanceName(instanceArg);
      const tables = resolveTables(instance, opts.tables);
      const source = importSource(opts.from);
      if (!('s3Url' in source && source.manifest) && tables?.length !== 1) {
        throw new InvalidInputError('an `aws dynamodb scan` output file or a DynamoDB native export holds one table: name the table to import into with --tables <table>');
      }
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        // Uploaded only once the Temporal server answers, so an unreachable server leaves nothing behind.
        let from: string;
        let uploaded: UploadedFile | undefined;
        if ('file' in source) {
          uploaded = await uploadScanFile(config, instance, source);
          from = uploaded.url;
          if (output() === 'text') console.error(`uploaded ${uploaded.file} (${uploaded.bytes} bytes) to ${uploaded.url}`);
        } else {
          from = source.s3Url;
        }
        const handle = await startDynamoDbImport(client, config.temporal.taskQueue, {
          instance,
          from,
          tables,
          allowNonEmptyTargets: opts.allowNonEmpty,
          allowOtherInstance: opts.fromOtherInstance,
          import: tuning({ concurrency: opts.importConcurrency }),
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
        });
        const extra = { json: { from, ...(uploaded ? { uploaded: { file: uploaded.file, bytes: uploaded.bytes } } : {}) } };
        if (opts.dryRun) return printPlan(output(), await runResult(handle), importPlanLines, extra);
        await startedMessage(output(), config, handle, 'DynamoDB import', extra);
      });
    });
}
