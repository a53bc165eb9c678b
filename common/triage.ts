/**
 * Triage's findings: what an analyzer saw, how bad it is, the evidence, the guide section it answers
 * and the runbook (or command) that fixes it. Pure code: analyzers run in activities over a live
 * instance and in the CLI over a diagnostic bundle's files; workflows carry findings.
 */
import type { RUNBOOKS } from './definitions';
import type { RunbookOptions } from './runbook';

/** `info` never fails a validation; a healthy instance has no finding above it. */
export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** The guide's sections triage answers, by their headings in the troubleshooting guide. */
export const GUIDE_SECTIONS = {
  awsCredentials: 'AWS Credentials Issues',
  tableCreation: 'DynamoDB Table Creation Failures',
  argoCdNotSyncing: 'ArgoCD Application Not Syncing',
  podsNotStarting: 'Pods Not Starting',
  apiErrors: 'API Errors',
  authentication: 'Authentication Issues',
  matching: 'Matching Algorithm Issues',
} as const;
export type GuideSection = (typeof GUIDE_SECTIONS)[keyof typeof GUIDE_SECTIONS];

/** One piece of what was seen: the object, and the field, log line or event that shows it. */
export interface Evidence {
  /** `Kind namespace/name` (or `Kind name` when cluster-scoped), or `table users-x`, `sts`. */
  object: string;
  field?: string;
  value?: string;
  logLine?: string;
  event?: string;
}

/** Deployments the restart runbook restarts: the instance's two, or the AWS provider's. */
export const RESTART_TARGETS = ['api', 'frontend', 'provider-aws'] as const;
export type RestartTarget = (typeof RESTART_TARGETS)[number];

/** The runbook that fixes a finding, with what it needs besides the instance. */
export type FixRunbook =
  | { runbook: typeof RUNBOOKS.restart; target: RestartTarget }
  | { runbook: typeof RUNBOOKS.sync }
  | { runbook: typeof RUNBOOKS.runMatchingJob }
  | { runbook: typeof RUNBOOKS.recreateClaim }
  | { runbook: typeof RUNBOOKS.rollback }
  | { runbook: typeof RUNBOOKS.dynamodbRecovery };

export interface Finding {
  /** Stable across runs for the same fault: `<analyzer>/<code>[/<object name>]`; `triage --fix` takes it. */
  id: string;
  analyzer: string;
  severity: Severity;
  /** One line an operator reads first. */
  title: string;
  evidence: Evidence[];
  guideSection: GuideSection;
  /** The runbook that fixes it (`runbook triage --fix <id>` starts it), if one does. */
  fix?: FixRunbook;
  /** Otherwise (or besides), what to do by hand. */
  remedy?: string;
}

export interface TriageInput {
  instance: string;
  options: RunbookOptions;
}

export interface TriageReport {
  instance: string;
  checkedAt: string;
  /** Worst first. */
  findings: Finding[];
  /** The worst finding's severity, or `none`. */
  worst: Severity | 'none';
  /** No finding above info and every analyzer ran: what `runbook validate` passes on. */
  healthy: boolean;
  /** Analyzers that could not run (unexpected evidence), by name: a triage that skipped one says so. */
  failedAnalyzers: { analyzer: string; error: string }[];
  /** What the worker may not read (RBAC): those checks were skipped. */
  unreadable: string[];
}
