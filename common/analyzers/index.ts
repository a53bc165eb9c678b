/**
 * Triage: every analyzer over one instance's evidence, findings worst first. One analyzer per section
 * of the guide's "Common Issues and Solutions"; pure, so the CLI runs them over a bundle offline.
 */
import { severityRank } from '../triage';
import type { Finding, TriageReport } from '../triage';
import { apiErrors, authentication, matching } from './application';
import { argoCdNotSyncing, podsNotStarting } from './deployment';
import type { TriageEvidence } from './evidence';
import { awsCredentials, tableCreation } from './infrastructure';

export type { TriageEvidence } from './evidence';
export type { TriageReport } from '../triage';

export const ANALYZERS = {
  'aws-credentials': awsCredentials,
  'table-creation': tableCreation,
  argocd: argoCdNotSyncing,
  pods: podsNotStarting,
  api: apiErrors,
  auth: authentication,
  matching,
} as const satisfies Record<string, (e: TriageEvidence) => Finding[]>;

export function analyze(evidence: TriageEvidence): TriageReport {
  const findings: Finding[] = [];
  const failedAnalyzers: TriageReport['failedAnalyzers'] = [];
  for (const [name, analyzer] of Object.entries(ANALYZERS)) {
    try {
      findings.push(...analyzer(evidence));
    } catch (err) {
      failedAnalyzers.push({ analyzer: name, error: err instanceof Error ? err.message : String(err) });
    }
  }
  findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.id.localeCompare(b.id));
  const worst = findings[0]?.severity ?? 'none';
  return {
    instance: evidence.instance,
    checkedAt: evidence.collectedAt,
    findings,
    worst,
    healthy: findings.every((f) => f.severity === 'info') && failedAnalyzers.length === 0,
    failedAnalyzers,
    unreadable: evidence.unreadable ?? [],
  };
}
