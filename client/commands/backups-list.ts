/** `runbook backups list <instance>`: the instance's backups, newest first, as a table or JSON. Read-only. */
import type { BackupCatalog, BackupEntry } from '../../common/backup-catalog';
import { validateInstanceName } from '../../common/instance';
import { startBackupCatalog } from '../runbooks';
import { print, withClient } from './context';
import type { Cli } from './context';
import { backupsGroup } from './backups-group';

export function registerBackupsList(cli: Cli): void {
  backupsGroup(cli)
    .command('list <instance>')
    .description("list the instance's backups: time, tables, items, bytes, verified, newest restore drill, point-in-time or not, where (read-only)")
    .action(async (instanceArg: string) => {
      const instance = validateInstanceName(instanceArg);
      await withClient(async (client, config) => {
        const catalog = await (await startBackupCatalog(client, config.temporal.taskQueue, instance)).result();
        print(cli.output(), catalog, () => catalogLines(catalog).join('\n'));
      });
    });
}

function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function drillText(e: BackupEntry): string {
  if (!e.drill) return '-';
  return `${e.drill.passed ? 'passed' : 'FAILED'} ${e.drill.at.replace(/\.\d+Z$/, 'Z')}`;
}

function verifiedText(e: BackupEntry): string {
  if (e.state === 'incomplete') return 'incomplete';
  if (e.problem) return 'unreadable';
  return e.verified ? 'yes' : 'NO';
}

/** The catalog as a table a person reads: one row per backup, then where each one is. */
export function catalogLines(catalog: BackupCatalog): string[] {
  if (catalog.entries.length === 0) return [`no backups of ${catalog.instance} in s3://${catalog.bucket}/dynamodb-backups/${catalog.instance}/`];
  const header = ['ID', 'CREATED', 'TABLES', 'ITEMS', 'BYTES', 'VERIFIED', 'DRILL', 'POINT-IN-TIME'];
  const rows = catalog.entries.map((e) => [
    e.id,
    e.createdAt?.replace(/\.\d+Z$/, 'Z') ?? '?',
    String(e.tables.length),
    String(e.items),
    bytesText(e.bytes),
    verifiedText(e),
    drillText(e),
    e.pointInTime ? `yes (${e.consistency.replace(/^point-in-time at /, '')})` : e.state === 'complete' && !e.problem ? 'no (Scan)' : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    line(header),
    ...rows.map(line),
    '',
    ...catalog.entries.map((e) => `${e.id}  ${e.url}${e.problem ? `  (${e.problem})` : ''}${e.recovery && !e.recovery.restored ? '  (recovery backup, no finished restore)' : ''}`),
  ];
}
