/** `runbook backups schedules`: every instance's backup schedule, its next runs and how its last run ended. */
import type { BackupScheduleView } from '../backup-schedules';
import { listBackupSchedules } from '../backup-schedules';
import { backupsGroup } from './backups-group';
import { print, withClient } from './context';
import type { Cli } from './context';

function retention(s: BackupScheduleView): string {
  const parts = [s.keep !== undefined ? `keep ${s.keep}` : '', s.keepDays !== undefined ? `keep ${s.keepDays}d` : ''].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none';
}

function lastRun(s: BackupScheduleView): string {
  const r = s.lastRun;
  if (!r) return 'none yet';
  return `${r.scheduledAt} ${r.outcome ?? r.status}${r.reason ? ` (${r.reason})` : ''}`;
}

/** One schedule, a line per fact (`backups schedule` prints this after creating or updating it). */
export function scheduleLines(s: BackupScheduleView): string[] {
  return [
    `  instance:   ${s.instance}`,
    `  every:      ${s.every} (catch-up window ${s.catchupWindow}, overlap: skip)`,
    `  state:      ${s.paused ? 'PAUSED' : 'active'}${s.note ? ` (${s.note})` : ''}`,
    `  retention:  ${retention(s)}${s.drill ? '; drill each backup' : ''}`,
    `  method:     ${s.method}`,
    `  next runs:  ${s.paused ? '(paused)' : s.nextRuns.slice(0, 3).join(', ') || 'none'}`,
    `  last run:   ${lastRun(s)}`,
  ];
}

function table(schedules: BackupScheduleView[]): string {
  if (schedules.length === 0) return 'no backup schedules';
  const rows = [
    ['INSTANCE', 'EVERY', 'STATE', 'KEEP', 'KEEP-DAYS', 'DRILL', 'NEXT RUN', 'LAST RUN'],
    ...schedules.map((s) => [
      s.instance,
      s.every,
      s.paused ? `paused${s.note ? `: ${s.note}` : ''}` : 'active',
      s.keep?.toString() ?? '-',
      s.keepDays?.toString() ?? '-',
      s.drill ? 'yes' : 'no',
      s.paused ? '-' : (s.nextRuns[0] ?? '-'),
      lastRun(s),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function registerBackupsSchedules(cli: Cli): void {
  backupsGroup(cli)
    .command('schedules')
    .description('list the backup schedules: interval, paused (and why), retention, next runs, last run result')
    .action(async () => {
      await withClient(async (client) => {
        const schedules = await listBackupSchedules(client);
        print(cli.output(), schedules, () => table(schedules));
      });
    });
}
