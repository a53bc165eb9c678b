/**
 * When a standard five-field cron schedule (minute hour day-of-month month day-of-week, as CronJobs
 * take it, in UTC) last fired: enough for "no successful run since the last scheduled one". Names
 * (MON, JAN), lists, ranges, steps and the @hourly/@daily/@weekly/@monthly/@yearly macros.
 */

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const NAMES: Record<string, number> = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6, JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 };

export class CronSyntaxError extends Error {
  override readonly name = 'CronSyntaxError';
}

function field(text: string, min: number, max: number): Set<number> {
  const values = new Set<number>();
  const value = (v: string) => {
    const n = NAMES[v.toUpperCase()] ?? Number(v);
    if (!Number.isInteger(n) || n < min || n > max + (max === 6 ? 1 : 0)) throw new CronSyntaxError(`${v} is out of range ${min}-${max}`);
    return max === 6 && n === 7 ? 0 : n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new CronSyntaxError(`bad step in ${part}`);
    let [from, to] = [min, max];
    if (range !== '*' && range !== '?') {
      const [a, b] = range!.split('-');
      from = value(a!);
      to = b === undefined ? (stepText === undefined ? from : max) : value(b);
    }
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return values;
}

export interface CronSchedule {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Cron's rule: when both day fields are restricted, a day matches either. */
  eitherDay: boolean;
}

export function parseCron(schedule: string): CronSchedule {
  const fields = (MACROS[schedule.trim()] ?? schedule).trim().split(/\s+/);
  if (fields.length !== 5) throw new CronSyntaxError(`"${schedule}" does not have five fields`);
  const [m, h, dom, mon, dow] = fields as [string, string, string, string, string];
  return {
    minutes: field(m, 0, 59),
    hours: field(h, 0, 23),
    days: field(dom, 1, 31),
    months: field(mon, 1, 12),
    weekdays: field(dow, 0, 6),
    eitherDay: dom !== '*' && dom !== '?' && dow !== '*' && dow !== '?',
  };
}

function matches(s: CronSchedule, t: Date): boolean {
  if (!s.minutes.has(t.getUTCMinutes()) || !s.hours.has(t.getUTCHours()) || !s.months.has(t.getUTCMonth() + 1)) return false;
  const dom = s.days.has(t.getUTCDate());
  const dow = s.weekdays.has(t.getUTCDay());
  return s.eitherDay ? dom || dow : dom && dow;
}

/** The latest time at or before `now` the schedule fired, looking back at most `lookbackDays`. */
export function previousFireTime(schedule: string, now: Date, lookbackDays = 400): Date | undefined {
  const s = parseCron(schedule);
  const t = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const stop = t.getTime() - lookbackDays * 86_400_000;
  while (t.getTime() >= stop) {
    if (matches(s, t)) return t;
    // Skip whole hours and days that cannot match, so a year's lookback stays fast.
    if (!s.months.has(t.getUTCMonth() + 1) || !(s.eitherDay ? s.days.has(t.getUTCDate()) || s.weekdays.has(t.getUTCDay()) : s.days.has(t.getUTCDate()) && s.weekdays.has(t.getUTCDay()))) {
      t.setUTCHours(0, 0, 0, 0);
      t.setTime(t.getTime() - 60_000);
    } else if (!s.hours.has(t.getUTCHours())) {
      t.setUTCMinutes(0, 0, 0);
      t.setTime(t.getTime() - 60_000);
    } else t.setTime(t.getTime() - 60_000);
  }
  return undefined;
}
