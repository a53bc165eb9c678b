/**
 * `runbook status <instance>`: the guide's "Check overall instance status"; `runbook status --all`:
 * its check-argocd-status, check-crossplane-status and validate-deployment over every instance, as
 * one table. Both exit 3 when something is unhealthy.
 */
import type { Client } from '@temporalio/client';
import type { RunbooksConfig } from '../../common/config';
import type { FleetRow, FleetStatusReport } from '../../common/fleet-status';
import { parseFleetConcurrency, parsePrefix } from '../options';
import { startFleetStatus, startInstanceStatus } from '../runbooks';
import { CliError, EXIT, print, withClient } from './context';
import type { Cli, Output } from './context';

interface StatusOptions {
  all?: boolean;
  prefix?: string;
  concurrency?: number;
}

export function registerStatus({ program, output }: Cli): void {
  program
    .command('status [instance]')
    .description('check an instance: Application, Deployments, tables, backup bucket; or --all instances in one table (exit 3 when unhealthy)')
    .option('--all', 'every instance: Application sync/health/revision, claim Ready/Synced, Deployments, tables')
    .option('--prefix <prefix>', 'with --all: only instances whose name starts with this', parsePrefix)
    .option('--concurrency <n>', 'with --all: instances read at once (default 8)', parseFleetConcurrency)
    .action(async (instance: string | undefined, opts: StatusOptions) => {
      if (opts.all && instance !== undefined) throw new CliError('give an instance or --all, not both', EXIT.usage);
      if (!opts.all && (opts.prefix !== undefined || opts.concurrency !== undefined)) throw new CliError('--prefix and --concurrency go with --all', EXIT.usage);
      if (!opts.all && instance === undefined) throw new CliError('give an instance, or --all for every instance', EXIT.usage);
      await withClient((client, config) => (instance === undefined ? fleetStatus(client, config, output(), opts) : instanceStatus(client, config, output(), instance)));
    });
}

async function instanceStatus(client: Client, config: RunbooksConfig, output: Output, instance: string): Promise<void> {
  const report = await (await startInstanceStatus(client, config.temporal.taskQueue, instance)).result();
  print(output, report, () =>
    [
      `${instance}: ${report.healthy ? 'healthy' : 'UNHEALTHY'}`,
      `  Application ${report.application.name}: ${report.application.exists ? `${report.application.syncStatus}/${report.application.health} at ${report.application.syncedRevision ?? '?'}` : 'missing'}`,
      ...report.deployments.map((d) => `  Deployment ${d.name}: ${d.exists ? `${d.availableReplicas}/${d.replicas} available` : 'missing'}`),
      ...report.tables.map((t) => `  table ${t.tableName}: ${t.exists ? `${t.status}, ${t.itemCount} items` : 'missing'}`),
      ...report.problems.map((p) => `  problem: ${p}`),
    ].join('\n'),
  );
  if (!report.healthy) process.exitCode = EXIT.notSucceeded;
}

async function fleetStatus(client: Client, config: RunbooksConfig, output: Output, opts: StatusOptions): Promise<void> {
  const handle = await startFleetStatus(client, config.temporal.taskQueue, { prefix: opts.prefix, concurrency: opts.concurrency });
  const report = await handle.result();
  print(output, report, () => fleetStatusLines(report).join('\n'));
  if (!report.healthy) process.exitCode = EXIT.notSucceeded;
}

const HEADER = ['INSTANCE', 'STATUS', 'SYNC', 'HEALTH', 'REVISION', 'CLAIM', 'DEPLOYMENTS', 'TABLES'];

function cells(row: FleetRow): string[] {
  const app = row.application;
  const claim = row.claim.exists ? (row.claim.ready === 'True' && row.claim.synced === 'True' ? 'Ready' : `Ready=${row.claim.ready} Synced=${row.claim.synced}`) : 'missing';
  const deployments = row.deployments.map((d) => (d.exists ? `${d.availableReplicas}/${d.replicas}` : 'missing')).join(' ') || '?';
  const active = row.tables.filter((t) => t.exists && t.status === 'ACTIVE').length;
  return [
    row.instance,
    row.healthy ? 'healthy' : 'UNHEALTHY',
    app.exists ? (app.syncStatus ?? '?') : 'missing',
    app.exists ? (app.health ?? '?') : '-',
    app.syncedRevision?.slice(0, 12) ?? '-',
    claim,
    deployments,
    row.tables.length ? `${active}/${row.tables.length} ACTIVE` : '?',
  ];
}

/** The report as a person reads it: one row per instance, the counts, then each unhealthy instance's problems. */
export function fleetStatusLines(report: FleetStatusReport): string[] {
  const { summary } = report;
  const scope = report.prefix ? ` named ${report.prefix}*` : '';
  if (summary.instances === 0) return [`no instances${scope}`];
  const rows = [HEADER, ...report.instances.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()),
    '',
    `${summary.instances} instances${scope}: ${summary.healthy} healthy, ${summary.unhealthy} unhealthy`,
    ...report.instances.flatMap((r) => r.problems.map((p) => `  ${r.instance}: ${p}`)),
  ];
}
