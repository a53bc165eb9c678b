/**
 * `runbook`: the operator's CLI. Starts runbooks, lists and shows runs, approves them with the
 * operator's signing key. `--output json` on every command; exit codes are documented in the README
 * (EXIT below) so scripts can rely on them.
 */
import os from 'node:os';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../common/config';
import type { RunbooksConfig } from '../common/config';
import { RUNBOOK_INSTANCE as RUNBOOK_INSTANCE_KEY, RUNBOOK_NAME as RUNBOOK_NAME_KEY, RUNBOOK_STATUS as RUNBOOK_STATUS_KEY } from '../common/definitions';
import type { DiagnosticBundleDetails } from '../common/diagnostics';
import { instanceTableNames, InvalidInputError, validateInstanceName } from '../common/instance';
import { progressQuery } from '../common/runbook';
import type { ProgressSnapshot, RunbookResult } from '../common/runbook';
import type { DynamoDbExportDetails } from '../common/dynamodb-backup';
import { decide } from './approvals';
import { connectClient, workflowUiUrl } from './connection';
import { DEFAULT_LINK_SECONDS, linkForResult, signDownloadLink } from './download-link';
import { defaultKeyDir, initKey, loadKey } from './keys';
import {
  identity,
  importSource,
  parseBranch,
  parseChunkMaxItems,
  parseIdentity,
  parseImportConcurrency,
  parseInputs,
  parseInterval,
  parseLimit,
  parseManifestUrl,
  parseRevision,
  parseSegments,
  parseTableList,
  parseText,
  parseUrlExpiry,
  resolveTables,
  RUNBOOK_NAMES,
  tuning,
  validateWorkflowId,
} from './options';
import { asRunbookResult, bundleLines, exportLines, importPlanLines, recoveryPlanLines, resultLines } from './results';
import {
  InstanceBusyError,
  startDiagnosticBundle,
  startDynamoDbExport,
  startDynamoDbImport,
  startDynamoDbRecovery,
  startInstanceStatus,
  startRollback,
  startUnpin,
} from './runbooks';
import { uploadScanFile } from './upload';
import type { UploadedFile } from './upload';
import { JsonView, PlainView, RunNotFoundError, TerminalView, watchRun } from './watch';
import type { WatchView } from './watch';

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** The runbook ended without succeeding (failed, rejected, timed out, cancelled) or the instance is unhealthy. */
  notSucceeded: 3,
  approvalRefused: 4,
  instanceBusy: 5,
  temporalUnreachable: 6,
} as const;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

type Output = 'text' | 'json';

function print(output: Output, json: unknown, text: () => string): void {
  console.log(output === 'json' ? JSON.stringify(json, null, 2) : text());
}

/**
 * Start requests are signed with the requester's own key (the workers verify it), loaded when a start
 * names them; without a key the start is refused here, before anything reaches the server.
 */
const signingKeys = {
  get(user: string): Uint8Array {
    try {
      return loadKey(user).privateKey;
    } catch (err) {
      throw new CliError(`${err instanceof Error ? err.message : String(err)}: the workers only run start requests signed by a key on their keyring`, EXIT.usage);
    }
  },
};

async function withClient<T>(fn: (client: Client, config: RunbooksConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let connected;
  try {
    connected = await connectClient(config, signingKeys);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), EXIT.temporalUnreachable);
  }
  try {
    return await fn(connected.client, config);
  } finally {
    await connected.close();
  }
}

function uiLink(config: RunbooksConfig, handle: { workflowId: string }, runId: string): string {
  return workflowUiUrl(process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233', config.temporal.namespace, handle.workflowId, runId);
}

async function startedMessage(output: Output, config: RunbooksConfig, handle: WorkflowHandle, what: string, extra: { json?: object } = {}): Promise<void> {
  const { runId } = await handle.describe();
  print(output, { workflowId: handle.workflowId, runId, ui: uiLink(config, handle, runId), ...extra.json }, () =>
    [
      `${what} started: ${handle.workflowId}`,
      `  watch:   runbook watch ${handle.workflowId}`,
      `  approve: runbook approve ${handle.workflowId}`,
      `  UI:      ${uiLink(config, handle, runId)}`,
    ].join('\n'),
  );
}

/** The run's result; a run that ended without succeeding exits 3 with its reason. */
async function runResult<T>(handle: WorkflowHandle): Promise<RunbookResult<T>> {
  let result: RunbookResult<T>;
  try {
    result = (await handle.result()) as RunbookResult<T>;
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new CliError(`${handle.workflowId} failed: ${err.cause?.message ?? err.message}`, EXIT.notSucceeded);
    throw err;
  }
  if (result.outcome !== 'succeeded' && result.outcome !== 'planned') {
    throw new CliError(`${handle.workflowId} ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`, EXIT.notSucceeded);
  }
  return result;
}

/** A dry run's plan: JSON as the run returned it, or as lines a person reads. */
function printPlan<P>(output: Output, result: RunbookResult<unknown>, lines: (plan: P) => string[], extra: { json?: object } = {}): void {
  print(output, { plan: result.plan, planDigest: result.planDigest, ...extra.json }, () => [`plan ${result.planDigest}`, ...lines(result.plan as P)].join('\n'));
}

const planAsJson = (plan: unknown) => JSON.stringify(plan, null, 2).split('\n');

function describeSnapshot(s: ProgressSnapshot): string {
  const lines = [`${s.runbook} of ${s.instance}: ${s.status}`];
  for (const step of s.steps) lines.push(`  [${step.state.padEnd(7)}] ${step.title}${step.note ? ` (${step.note})` : ''}`);
  for (const [k, v] of Object.entries(s.counters)) lines.push(`  ${k}: ${v}`);
  if (s.approval) {
    lines.push(`  approval: ${s.approval.state}, ${s.approval.approvals.filter((a) => a.decision === 'approve').length}/${s.approval.minApprovals}, deadline ${s.approval.deadline}`);
    lines.push(`  plan digest: ${s.approval.planDigest}`);
    for (const a of s.approval.approvals) lines.push(`    ${a.decision} by ${a.approver}${a.signatureVerified ? ' (signature verified)' : ' (UNSIGNED)'}${a.comment ? `: ${a.comment}` : ''}`);
  }
  if (s.plan !== undefined) lines.push('  plan:', ...JSON.stringify(s.plan, null, 2).split('\n').map((l) => `    ${l}`));
  return lines.join('\n');
}

async function decideCommand(workflowIdArg: string, decision: 'approve' | 'reject', opts: { comment?: string; input?: string[]; as?: string }, output: Output): Promise<void> {
  const workflowId = validateWorkflowId(workflowIdArg);
  const user = identity(opts.as);
  const inputs = parseInputs(opts.input);
  const key = (() => {
    try {
      return loadKey(user);
    } catch (err) {
      throw new CliError(`${err instanceof Error ? err.message : String(err)}`, EXIT.usage);
    }
  })();
  await withClient(async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    try {
      const progress = await decide(handle, { approver: user, privateKey: key.privateKey, decision, comment: opts.comment, inputs });
      print(output, progress, () => `${decision === 'approve' ? 'approved' : 'rejected'} by ${user} (${key.fingerprint}); approval is now ${progress.state}`);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || (err instanceof Error && /not waiting/.test(err.message))) {
        const reason = err.cause instanceof Error ? err.cause.message : err.message;
        throw new CliError(`approval refused: ${reason}${/no key on the approvers keyring/.test(reason) ? `\n  add your key to the workers' approvers file: runbook keys show --as ${user}` : ''}`, EXIT.approvalRefused);
      }
      throw err;
    }
  });
}

export function buildCli(): Command {
  const program = new Command('runbook')
    .description('Start, watch and approve Virtual Coffee Platform runbooks (Temporal workflows)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .showHelpAfterError()
    .exitOverride();
  const output = (): Output => program.opts<{ output: Output }>().output;
  const requestedBy = (as?: string) => ({ user: identity(as), via: 'cli' as const, origin: os.hostname() });

  program
    .command('status <instance>')
    .description('check an instance: Application, Deployments, tables, backup bucket (exit 3 when unhealthy)')
    .action(async (instance: string) => {
      await withClient(async (client, config) => {
        const report = await (await startInstanceStatus(client, config.temporal.taskQueue, instance)).result();
        print(output(), report, () =>
          [
            `${instance}: ${report.healthy ? 'healthy' : 'UNHEALTHY'}`,
            `  Application ${report.application.name}: ${report.application.exists ? `${report.application.syncStatus}/${report.application.health} at ${report.application.syncedRevision ?? '?'}` : 'missing'}`,
            ...report.deployments.map((d) => `  Deployment ${d.name}: ${d.exists ? `${d.availableReplicas}/${d.replicas} available` : 'missing'}`),
            ...report.tables.map((t) => `  table ${t.tableName}: ${t.exists ? `${t.status}, ${t.itemCount} items` : 'missing'}`),
            ...report.problems.map((p) => `  problem: ${p}`),
          ].join('\n'),
        );
        if (!report.healthy) process.exitCode = EXIT.notSucceeded;
      });
    });

  program
    .command('rollback <instance>')
    .description('roll the instance back to a previous revision from its Argo CD history (asks for approval)')
    .option('--to <revision>', 'a commit from the history (7-40 hex digits), or "previous"', parseRevision, 'previous')
    .requiredOption('--reason <text>', 'why (goes into the audit record)', parseText)
    .option('--dry-run', 'compute and print the plan, change nothing')
    .option('--accept-owned', 'proceed although a parent app or ApplicationSet owns the Application')
    .option('--accept-multi-source', 'proceed although the Application has several sources')
    .option('--as <user>', 'requester identity (default: $VCP_USER or your login)', parseIdentity)
    .action(async (instance: string, opts: { to: string; reason: string; dryRun?: boolean; acceptOwned?: boolean; acceptMultiSource?: boolean; as?: string }) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startRollback(client, config.temporal.taskQueue, {
          instance,
          target: opts.to,
          reason: opts.reason,
          options: { requestedBy: requester, dryRun: opts.dryRun, reason: opts.reason },
          acceptOwnedApplication: opts.acceptOwned,
          acceptMultiSource: opts.acceptMultiSource,
        });
        if (opts.dryRun) return printPlan(output(), await runResult(handle), planAsJson);
        await startedMessage(output(), config, handle, 'rollback');
      });
    });

  program
    .command('unpin <instance>')
    .description('return a pinned Application to its branch (asks for approval)')
    .option('--branch <name>', 'branch to follow (default: the one the rollback recorded)', parseBranch)
    .requiredOption('--reason <text>', 'why (goes into the audit record)', parseText)
    .option('--as <user>', 'requester identity', parseIdentity)
    .action(async (instance: string, opts: { branch?: string; reason: string; as?: string }) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startUnpin(client, config.temporal.taskQueue, { instance, branch: opts.branch, reason: opts.reason, options: { requestedBy: requester } });
        await startedMessage(output(), config, handle, 'unpin');
      });
    });

  program
    .command('diagnostics <instance>')
    .description('collect a diagnostic bundle into S3 and print a download link, signed with your AWS credentials')
    .option('--url-expiry <seconds>', 'download link lifetime (at most 604800)', parseUrlExpiry, DEFAULT_LINK_SECONDS)
    .option('--as <user>', 'requester identity', parseIdentity)
    .action(async (instance: string, opts: { urlExpiry: number; as?: string }) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startDiagnosticBundle(client, config.temporal.taskQueue, { instance, options: { requestedBy: requester } });
        const details = (await runResult<DiagnosticBundleDetails>(handle)).details!;
        // The run says where the bundle is; the link is signed here, so it never enters the history.
        const download = await signDownloadLink(config, details.archive, opts.urlExpiry);
        print(output(), { ...details, download }, () => bundleLines(details, download).map((line) => line.slice(2)).join('\n'));
      });
    });

  program
    .command('recover-dynamodb <instance>')
    .description("recreate the instance's DynamoDB tables: back up and verify, delete and recreate the claim, import, verify item by item (asks for approval)")
    .option('--tables <names>', 'not a subset: deleting the claim deletes every table it owns, so all are backed up, restored and verified; if given, must name them all (users,matches,feedback or full names), else refused', parseTableList)
    .option('--no-quiesce', 'keep the API and the matching CronJob running (their writes during the recovery are lost)')
    .option('--confirm-after-backup', 'ask for a second approval once the backup is verified, before the claim is deleted')
    .option('--resume-from <url>', "finish a recovery that failed after the delete, from its verified backup (s3://.../manifest.json); refused unless the claim is gone or was recreated from that backup", parseManifestUrl)
    .option('--from-other-instance', "with --resume-from: accept another instance's backup (tables map by base name, users-a to users-b)")
    .option('--chunk-max-items <n>', 'export: items per backup chunk at most (default 10000)', parseChunkMaxItems)
    .option('--segments <n>', 'export: parallel scan segments per table (default one per 25000 items, up to 16)', parseSegments)
    .option('--import-concurrency <n>', 'import: concurrent BatchWriteItem requests per segment (default 16)', parseImportConcurrency)
    .option('--reason <text>', 'why (goes into the audit record)', parseText)
    .option('--dry-run', 'discover and print the plan (tables, item counts, claim, writers), change nothing')
    .option('--as <user>', 'requester identity', parseIdentity)
    .action(
      async (
        instanceArg: string,
        opts: { tables?: string[]; quiesce: boolean; confirmAfterBackup?: boolean; resumeFrom?: string; fromOtherInstance?: boolean; chunkMaxItems?: number; segments?: number; importConcurrency?: number; reason?: string; dryRun?: boolean; as?: string },
      ) => {
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
      },
    );

  program
    .command('export-dynamodb <instance>')
    .description("export the instance's tables to S3 as a verified backup and print its URL (read-only: no approval, writers keep running)")
    .option('--tables <names>', 'only these tables (comma-separated: users,matches,feedback or full names)', parseTableList)
    .option('--chunk-max-items <n>', 'items per backup chunk at most (default 10000)', parseChunkMaxItems)
    .option('--segments <n>', 'parallel scan segments per table (default one per 25000 items, up to 16)', parseSegments)
    .option('--as <user>', 'requester identity', parseIdentity)
    .action(async (instanceArg: string, opts: { tables?: string[]; chunkMaxItems?: number; segments?: number; as?: string }) => {
      const instance = validateInstanceName(instanceArg);
      const tables = resolveTables(instance, opts.tables);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startDynamoDbExport(client, config.temporal.taskQueue, {
          instance,
          tables,
          export: tuning({ chunkMaxItems: opts.chunkMaxItems, segments: opts.segments }),
          options: { requestedBy: requester },
        });
        const details = (await runResult<DynamoDbExportDetails>(handle)).details!;
        print(output(), details, () => [`backup ${details.backup.url}`, ...exportLines(details)].join('\n'));
      });
    });

  program
    .command('import-dynamodb <instance>')
    .description("import a backup into the instance's tables: one of our manifests, or the guide's `aws dynamodb scan` output, from S3 or a local file (uploaded first) (asks for approval)")
    .requiredOption('--from <source>', 's3://.../manifest.json, s3://... of a scan output file (in the backup bucket or one listed in VCP_ALLOWED_SOURCE_BUCKETS), or a local scan output file')
    .option('--tables <names>', 'manifest: only these tables; scan file: the one table to import into (users,matches,feedback or full names)', parseTableList)
    .option('--allow-non-empty', 'import into tables that hold items: items with a key in the backup are overwritten, the others kept; afterwards every backup item must be there, equal, and no table smaller than planned')
    .option('--from-other-instance', "accept a manifest of another instance (tables map by base name, users-a to users-b)")
    .option('--import-concurrency <n>', 'concurrent BatchWriteItem requests per segment (default 16)', parseImportConcurrency)
    .option('--reason <text>', 'why (goes into the audit record)', parseText)
    .option('--dry-run', 'stage and verify the backup, print the plan, write nothing')
    .option('--as <user>', 'requester identity', parseIdentity)
    .action(async (instanceArg: string, opts: { from: string; tables?: string[]; allowNonEmpty?: boolean; fromOtherInstance?: boolean; importConcurrency?: number; reason?: string; dryRun?: boolean; as?: string }) => {
      const instance = validateInstanceName(instanceArg);
      const tables = resolveTables(instance, opts.tables);
      const source = importSource(opts.from);
      if (!('s3Url' in source && source.manifest) && tables?.length !== 1) {
        throw new InvalidInputError('an `aws dynamodb scan` output file holds one table: name the table to import into with --tables <table>');
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

  program
    .command('list')
    .description('list runbook runs (visibility query on the search attributes)')
    .option('--waiting', 'only runs waiting for approval')
    .option('--instance <instance>', 'only this instance')
    .addOption(new Option('--runbook <name>', 'only this runbook').choices(RUNBOOK_NAMES))
    .option('--limit <n>', 'at most this many (up to 10000)', parseLimit, 50)
    .action(async (opts: { waiting?: boolean; instance?: string; runbook?: string; limit: number }) => {
      if (opts.instance !== undefined) validateInstanceName(opts.instance);
      const clauses = ['RunbookName IS NOT NULL'];
      const quote = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
      if (opts.waiting) clauses.push(`RunbookStatus = "AwaitingApproval"`, 'ExecutionStatus = "Running"');
      if (opts.instance) clauses.push(`RunbookInstance = ${quote(opts.instance)}`);
      if (opts.runbook) clauses.push(`RunbookName = ${quote(opts.runbook)}`);
      await withClient(async (client) => {
        const runs: { workflowId: string; runId: string; runbook?: string; instance?: string; status: string; startTime: string }[] = [];
        for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
          runs.push({
            workflowId: wf.workflowId,
            runId: wf.runId,
            runbook: wf.typedSearchAttributes.get(RUNBOOK_NAME_KEY),
            instance: wf.typedSearchAttributes.get(RUNBOOK_INSTANCE_KEY),
            status: wf.typedSearchAttributes.get(RUNBOOK_STATUS_KEY) ?? wf.status.name,
            startTime: wf.startTime.toISOString(),
          });
          if (runs.length >= opts.limit) break;
        }
        print(output(), runs, () => (runs.length ? runs.map((r) => `${r.startTime}  ${String(r.status).padEnd(16)}  ${String(r.runbook ?? '').padEnd(18)}  ${r.workflowId}`).join('\n') : 'no runs'));
      });
    });

  program
    .command('show <workflowId>')
    .description('show a run: steps, approval, plan, and the result or failure once it ended (a bundle: with a download link signed with your AWS credentials)')
    .option('--url-expiry <seconds>', "a diagnostic bundle's download link lifetime (at most 604800)", parseUrlExpiry, DEFAULT_LINK_SECONDS)
    .action(async (workflowIdArg: string, opts: { urlExpiry: number }) => {
      const workflowId = validateWorkflowId(workflowIdArg);
      await withClient(async (client, config) => {
        const handle = client.workflow.getHandle(workflowId);
        const description = await handle.describe();
        const snapshot = await handle.query(progressQuery).catch(() => undefined);
        const closed = description.status.name !== 'RUNNING';
        const outcome = closed ? await handle.result().then((r: unknown) => ({ result: r }), (e: unknown) => ({ failure: e instanceof Error ? e.message : String(e) })) : {};
        const result = 'result' in outcome ? asRunbookResult(outcome.result) : undefined;
        const download = await linkForResult(config, result, opts.urlExpiry);
        print(output(), { workflowId, runId: description.runId, status: description.status.name, progress: snapshot, ...outcome, ...(download ? { download } : {}) }, () =>
          [
            `${workflowId} (${description.status.name})`,
            snapshot ? describeSnapshot(snapshot) : '  (no progress: is a worker running?)',
            result ? `  outcome: ${result.outcome}${result.reason ? ` (${result.reason})` : ''}` : '',
            ...resultLines(result, download),
            result?.auditLocation ? `  audit record: ${result.auditLocation}` : '',
            'failure' in outcome ? `  failure: ${String(outcome.failure)}` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
        if ('failure' in outcome) process.exitCode = EXIT.notSucceeded;
      });
    });

  program
    .command('watch <workflowId>')
    .description('follow a run until it ends: steps and progress bars on a terminal, a line per change otherwise (exit 0 succeeded, 3 ended otherwise)')
    .option('--interval <ms>', 'how often to poll the run', parseInterval, 1000)
    .option('--url-expiry <seconds>', "a diagnostic bundle's download link lifetime (at most 604800)", parseUrlExpiry, DEFAULT_LINK_SECONDS)
    .action(async (workflowIdArg: string, opts: { interval: number; urlExpiry: number }) => {
      const workflowId = validateWorkflowId(workflowIdArg);
      await withClient(async (client, config) => {
        const write = (line: string) => console.log(line);
        const view: WatchView =
          output() === 'json' ? new JsonView(workflowId, write) : process.stdout.isTTY ? new TerminalView(workflowId, process.stdout) : new PlainView(workflowId, write);
        try {
          const end = await watchRun(client, workflowId, { intervalMs: opts.interval, view, signLink: (result) => linkForResult(config, result, opts.urlExpiry) });
          if (!end.succeeded) process.exitCode = EXIT.notSucceeded;
        } catch (err) {
          if (err instanceof RunNotFoundError) throw new CliError(err.message, EXIT.error);
          throw err;
        }
      });
    });

  for (const decision of ['approve', 'reject'] as const) {
    const command = program
      .command(`${decision} <workflowId>`)
      .description(`${decision} a run waiting for approval, signed with your key`)
      .option('--as <user>', 'approver identity (default: $VCP_USER or your login)', parseIdentity);
    if (decision === 'approve') command.option('--comment <text>', 'comment for the audit record', parseText).option('--input <key=value...>', 'approval inputs the runbook asks for');
    else command.requiredOption('--comment <text>', 'why (goes into the audit record)', parseText);
    command.action((workflowId: string, opts: { comment?: string; input?: string[]; as?: string }) => decideCommand(workflowId, decision, opts, output()));
  }

  program
    .command('cancel <workflowId>')
    .description('cancel a run; its cleanups restore what it paused')
    .action(async (workflowIdArg: string) => {
      const workflowId = validateWorkflowId(workflowIdArg);
      await withClient(async (client) => {
        await client.workflow.getHandle(workflowId).cancel();
        print(output(), { workflowId, cancelRequested: true }, () => `cancellation requested for ${workflowId}`);
      });
    });

  const keys = program.command('keys').description('manage your approver signing key');
  keys
    .command('init')
    .description('create your Ed25519 approver key (never overwrites one)')
    .option('--as <user>', 'identity', parseIdentity)
    .action((opts: { as?: string }) => {
      const key = initKey(identity(opts.as));
      print(output(), { user: key.user, publicKey: key.publicKey, fingerprint: key.fingerprint, dir: defaultKeyDir() }, () => `key for ${key.user}: ${key.fingerprint}\nadd to the approvers file: {"user": "${key.user}", "groups": [], "publicKey": "${key.publicKey}"}`);
    });
  keys
    .command('show')
    .description('print your public key entry for the approvers file')
    .option('--as <user>', 'identity', parseIdentity)
    .action((opts: { as?: string }) => {
      const key = loadKey(identity(opts.as));
      print(output(), { user: key.user, publicKey: key.publicKey, fingerprint: key.fingerprint }, () => `{"user": "${key.user}", "groups": [], "publicKey": "${key.publicKey}"}  # ${key.fingerprint}`);
    });
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
    const code = err instanceof CliError ? err.exitCode : err instanceof InstanceBusyError ? EXIT.instanceBusy : err instanceof InvalidInputError ? EXIT.usage : EXIT.error;
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
