/** The receiver's rules file: alert name and labels -> runbook, parameters, approval policy, cooldown. */
import { parse } from 'yaml';
import type { ApprovalPolicyOverrides } from '../common/approval';

export type AlertRunbook = 'diagnostic-bundle' | 'rollback';

export interface AlertRule {
  name: string;
  match: { alertname?: string; labels?: Record<string, string> };
  runbook: AlertRunbook;
  instanceLabel: string;
  parameters: { target?: string };
  approvalPolicy?: ApprovalPolicyOverrides;
  cooldownSeconds: number;
}

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
    if (typeof r.name !== 'string' || !r.name) problems.push(`${where}.name is required`);
    if (r.runbook !== 'diagnostic-bundle' && r.runbook !== 'rollback') problems.push(`${where}.runbook must be diagnostic-bundle or rollback`);
    if (!r.match || (typeof r.match.alertname !== 'string' && !r.match.labels)) problems.push(`${where}.match needs alertname or labels`);
    const cooldown = r.cooldownSeconds ?? 600;
    if (!Number.isInteger(cooldown) || cooldown < 0) problems.push(`${where}.cooldownSeconds must be a non-negative integer`);
    return {
      name: String(r.name),
      match: r.match ?? {},
      runbook: r.runbook as AlertRunbook,
      instanceLabel: r.instanceLabel ?? 'namespace',
      parameters: r.parameters ?? {},
      approvalPolicy: r.approvalPolicy,
      cooldownSeconds: cooldown,
    };
  });
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
