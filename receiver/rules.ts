/**
 * The receiver's rules file: alert name and labels -> runbook, parameters, approval policy, cooldown,
 * and the rule's circuit breaker (runs started per hour).
 */
import { parse } from 'yaml';
import type { ApprovalPolicyOverrides } from '../common/approval';

/** Runbooks an alert may start: read-only ones, and the rollback (which always waits for its approval). */
export const ALERT_RUNBOOKS = ['triage', 'diagnostic-bundle', 'rollback'] as const;
type AlertRunbook = (typeof ALERT_RUNBOOKS)[number];

export interface AlertRule {
  name: string;
  match: { alertname?: string; labels?: Record<string, string> };
  runbook: AlertRunbook;
  instanceLabel: string;
  parameters: { target?: string };
  approvalPolicy?: ApprovalPolicyOverrides;
  cooldownSeconds: number;
  /** Circuit breaker: runs this rule may start in any sliding hour; past it, alerts are ignored. */
  maxRunsPerHour: number;
}

const DEFAULT_COOLDOWN_SECONDS = 600;
/** Enough for a real incident across a few instances, few enough that a storm cannot flood the workers. */
const DEFAULT_MAX_RUNS_PER_HOUR = 10;
const RULE_KEYS = new Set(['name', 'match', 'runbook', 'instanceLabel', 'parameters', 'approvalPolicy', 'cooldownSeconds', 'maxRunsPerHour']);

export class RulesError extends Error {
  override readonly name = 'RulesError';
}

export function parseRules(text: string, source = 'rules file'): AlertRule[] {
  const doc = (parse(text) ?? {}) as { rules?: unknown };
  if (!Array.isArray(doc.rules)) throw new RulesError(`${source}: "rules" must be a list`);
  const problems: string[] = [];
  const rules = doc.rules.map((raw: unknown, i): AlertRule => {
    const r = (raw ?? {}) as Partial<AlertRule>;
    const where = `${source}: rules[${i}]`;
    // A misspelt key would otherwise fall back to its default without a word (a breaker left at 10).
    for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) problems.push(`${where}: unknown key ${JSON.stringify(key)}`);
    if (typeof r.name !== 'string' || !r.name) problems.push(`${where}.name is required`);
    if (!(ALERT_RUNBOOKS as readonly unknown[]).includes(r.runbook)) problems.push(`${where}.runbook must be one of ${ALERT_RUNBOOKS.join(', ')}`);
    if (!r.match || (typeof r.match.alertname !== 'string' && !r.match.labels)) problems.push(`${where}.match needs alertname or labels`);
    const cooldown = r.cooldownSeconds ?? DEFAULT_COOLDOWN_SECONDS;
    if (!Number.isInteger(cooldown) || cooldown < 0) problems.push(`${where}.cooldownSeconds must be a non-negative integer`);
    const maxRunsPerHour = r.maxRunsPerHour ?? DEFAULT_MAX_RUNS_PER_HOUR;
    if (!Number.isInteger(maxRunsPerHour) || maxRunsPerHour < 1 || maxRunsPerHour > 1000) problems.push(`${where}.maxRunsPerHour must be an integer from 1 to 1000`);
    return {
      name: String(r.name),
      match: r.match ?? {},
      runbook: r.runbook as AlertRunbook,
      instanceLabel: r.instanceLabel ?? 'namespace',
      parameters: r.parameters ?? {},
      approvalPolicy: r.approvalPolicy,
      cooldownSeconds: cooldown,
      maxRunsPerHour,
    };
  });
  const names = rules.map((r) => r.name);
  // The breaker counts per rule name: two rules sharing one would share one budget.
  for (const name of new Set(names)) if (names.indexOf(name) !== names.lastIndexOf(name)) problems.push(`${source}: rule name ${JSON.stringify(name)} is used twice`);
  if (problems.length > 0) throw new RulesError(problems.join('\n'));
  return rules;
}

export function matchRule(rules: AlertRule[], labels: Record<string, string>): AlertRule | undefined {
  return rules.find(
    (rule) =>
      (rule.match.alertname === undefined || rule.match.alertname === labels.alertname) &&
      Object.entries(rule.match.labels ?? {}).every(([k, v]) => labels[k] === v),
  );
}
