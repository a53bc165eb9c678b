/** The guide's "Application Issues": API errors, authentication, and the matching job. */
import { RUNBOOKS } from '../definitions';
import { API_DEPLOYMENT, API_REQUIRED_ENV, CONFIG_MAP, MATCHING_CRONJOB, OAUTH_SETTINGS } from '../platform';
import { GUIDE_SECTIONS } from '../triage';
import type { Evidence, Finding } from '../triage';
import { CronSyntaxError, previousFireTime } from './cron';
import { known, objectRef } from './evidence';
import type { LogTail, TriageEvidence } from './evidence';

/** An access-log line answered 5xx, or an exception / error the API logged. */
const SERVER_ERROR = /"?\b(?:GET|POST|PUT|PATCH|DELETE|HEAD)\s+\S+(?:\s+HTTP\/[\d.]+"?)?\s+5\d\d\b|Traceback \(most recent call last\)|\b\w+(?:Exception|Error):|^\s*(?:ERROR|FATAL|CRITICAL)\b/;
const AUTH_ERROR = /\b(?:GET|POST|PUT|PATCH|DELETE)\s+\S+\s+401\b|\bauth(?:entication)?\b.*\b(?:error|fail(?:ed|ure)?|denied|invalid)\b|\b(?:invalid|expired)\s+(?:jwt|token|signature)\b|\bjwt\b.*\b(?:error|invalid|expired)\b|\boauth\b.*\b(?:error|fail(?:ed|ure)?)\b/i;
/** Shown per finding: enough to see the pattern, not the whole tail. */
const SHOWN_LINES = 3;
/** No successful run this long after a scheduled time (unless the CronJob says otherwise) is a missed run. */
const DEFAULT_RUN_GRACE_MS = 10 * 60 * 1000;

function matchingLines(tails: LogTail[], pattern: RegExp): { tail: LogTail; line: string }[] {
  return tails.flatMap((tail) => tail.lines.filter((line) => pattern.test(line)).map((line) => ({ tail, line })));
}

function logEvidence(e: TriageEvidence, hits: { tail: LogTail; line: string }[]): Evidence[] {
  return hits.slice(-SHOWN_LINES).map(({ tail, line }) => ({ object: objectRef('Pod', tail.pod, e.instance), field: `logs ${tail.container}${tail.previous ? ' (previous)' : ''}`, logLine: line }));
}

const apiLogs = (e: TriageEvidence) => e.logs.filter((l) => !l.job && !l.previous && l.pod.startsWith(`${API_DEPLOYMENT}-`));

export function apiErrors(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.apiErrors;
  const analyzer = 'api';
  const findings: Finding[] = [];
  const errors = matchingLines(apiLogs(e), SERVER_ERROR);
  if (errors.length > 0) {
    findings.push({
      id: `api/server-errors/${API_DEPLOYMENT}`,
      analyzer,
      severity: 'warning',
      title: `The API logged ${errors.length} server error${errors.length === 1 ? '' : 's'} (5xx or exceptions) in its recent logs`,
      evidence: logEvidence(e, errors),
      guideSection: section,
      fix: { runbook: RUNBOOKS.restart, target: 'api' },
      remedy: 'Read the errors first: a restart helps a stuck process, not a bad release or a missing table',
    });
  }
  const api = e.deployments.find((d) => d.metadata?.name === API_DEPLOYMENT);
  if (!api && known(e, 'workloads')) {
    findings.push({ id: `api/deployment-missing/${API_DEPLOYMENT}`, analyzer, severity: 'critical', title: `Deployment ${API_DEPLOYMENT} does not exist`, evidence: [{ object: objectRef('Deployment', API_DEPLOYMENT, e.instance), value: 'not found' }], guideSection: section, fix: { runbook: RUNBOOKS.sync } });
  } else if (api) {
    const container = api.spec?.template?.spec?.containers?.find((c) => c.name === 'api') ?? api.spec?.template?.spec?.containers?.[0];
    const names = new Set([...(container?.env ?? []).map((v) => v.name)]);
    const fromWhole = (container?.envFrom ?? []).length > 0;
    const missing = API_REQUIRED_ENV.filter((name) => !names.has(name));
    // envFrom may provide them: only what no source can provide is certain to be missing.
    if (missing.length > 0 && !fromWhole) {
      findings.push({
        id: `api/env-missing/${API_DEPLOYMENT}`,
        analyzer,
        severity: 'error',
        title: `The API is missing environment variable${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`,
        evidence: [{ object: objectRef('Deployment', API_DEPLOYMENT, e.instance), field: `spec.template.spec.containers[${container?.name ?? 'api'}].env`, value: `has ${[...names].join(', ') || 'none'}; needs ${API_REQUIRED_ENV.join(', ')}` }],
        guideSection: section,
        ...(e.application?.status?.sync?.status === 'OutOfSync' ? { fix: { runbook: RUNBOOKS.sync } } : { remedy: 'Add them to the Deployment in git, then sync' }),
      });
    }
  }
  const unavailable = e.tables.filter((t) => !t.exists || t.status !== 'ACTIVE');
  if (unavailable.length > 0) {
    findings.push({
      id: `api/tables-unavailable/${e.instance}`,
      analyzer,
      severity: 'error',
      title: `The API's table${unavailable.length === 1 ? '' : 's'} ${unavailable.map((t) => t.tableName).join(', ')} ${unavailable.length === 1 ? 'is' : 'are'} not ACTIVE`,
      evidence: unavailable.map((t) => ({ object: `table ${t.tableName}`, field: 'TableStatus', value: t.exists ? (t.status ?? 'unknown') : 'does not exist' })),
      guideSection: section,
      remedy: 'See the table-creation findings; a table that lost its data is restored with runbook recover-dynamodb',
    });
  }
  return findings;
}

export function authentication(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.authentication;
  const analyzer = 'auth';
  const findings: Finding[] = [];
  const errors = matchingLines(apiLogs(e), AUTH_ERROR);
  if (errors.length > 0) {
    findings.push({
      id: `auth/log-errors/${API_DEPLOYMENT}`,
      analyzer,
      severity: 'warning',
      title: `The API logged ${errors.length} authentication error${errors.length === 1 ? '' : 's'}`,
      evidence: logEvidence(e, errors),
      guideSection: section,
      remedy: `Check the OAuth settings in ConfigMap ${CONFIG_MAP} and the identity provider`,
    });
  }
  const ref = objectRef('ConfigMap', CONFIG_MAP, e.instance);
  if (!e.configMap) {
    if (!known(e, 'configMap')) return findings;
    findings.push({ id: `auth/configmap-missing/${CONFIG_MAP}`, analyzer, severity: 'error', title: `ConfigMap ${CONFIG_MAP} does not exist: the API has no OAuth settings`, evidence: [{ object: ref, value: 'not found' }], guideSection: section, fix: { runbook: RUNBOOKS.sync } });
    return findings;
  }
  const missing = OAUTH_SETTINGS.filter((key) => !e.configMap?.[key]);
  if (missing.length > 0) {
    findings.push({
      id: `auth/oauth-settings/${CONFIG_MAP}`,
      analyzer,
      severity: 'error',
      title: `ConfigMap ${CONFIG_MAP} lacks the OAuth setting${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`,
      evidence: missing.map((key) => ({ object: ref, field: `data.${key}`, value: key in (e.configMap ?? {}) ? 'empty' : 'absent' })),
      guideSection: section,
      ...(e.application?.status?.sync?.status === 'OutOfSync' ? { fix: { runbook: RUNBOOKS.sync } } : { remedy: 'Add the settings in git, then sync' }),
    });
  }
  return findings;
}

export function matching(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.matching;
  const analyzer = 'matching';
  const ref = objectRef('CronJob', MATCHING_CRONJOB, e.instance);
  const cron = e.cronJob;
  if (!cron) {
    if (!known(e, 'cronJob')) return [];
    return [{ id: `matching/cronjob-missing/${MATCHING_CRONJOB}`, analyzer, severity: 'error', title: `CronJob ${MATCHING_CRONJOB} does not exist: no matches will be made`, evidence: [{ object: ref, value: 'not found' }], guideSection: section, fix: { runbook: RUNBOOKS.sync } }];
  }
  const findings: Finding[] = [];
  if (cron.spec?.suspend) {
    findings.push({
      id: `matching/suspended/${MATCHING_CRONJOB}`,
      analyzer,
      severity: 'warning',
      title: `CronJob ${MATCHING_CRONJOB} is suspended: scheduled matching does not run`,
      evidence: [{ object: ref, field: 'spec.suspend', value: 'true' }],
      guideSection: section,
      fix: { runbook: RUNBOOKS.runMatchingJob },
      remedy: 'Run it now with the fix; resume the schedule in git (spec.suspend: false) when intended',
    });
  }
  const jobs = e.jobs
    .filter((j) => j.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === MATCHING_CRONJOB) || j.metadata?.annotations?.['cronjob.kubernetes.io/instantiate'] === 'manual')
    .sort((a, b) => Date.parse(String(a.metadata?.creationTimestamp ?? 0)) - Date.parse(String(b.metadata?.creationTimestamp ?? 0)));
  const last = jobs.at(-1);
  const failed = last?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
  if (last && failed) {
    const name = last.metadata?.name ?? '?';
    const pods = e.pods.filter((p) => p.metadata?.labels?.['job-name'] === name);
    const exitCodes = pods.flatMap((p) => (p.status?.containerStatuses ?? []).flatMap((s) => (s.state?.terminated ? [s.state.terminated.exitCode] : [])));
    const tail = e.logs.filter((l) => l.job === name).flatMap((l) => l.lines.map((line) => ({ pod: l.pod, container: l.container, line })));
    findings.push({
      id: `matching/job-failed/${name}`,
      analyzer,
      severity: 'error',
      title: `The last matching Job ${name} failed${exitCodes.length > 0 ? ` (exit code ${exitCodes.at(-1)})` : ''}`,
      evidence: [
        { object: objectRef('Job', name, e.instance), field: 'status.conditions[Failed]', value: `${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`.trim() },
        ...tail.slice(-5).map(({ pod, container, line }) => ({ object: objectRef('Pod', pod, e.instance), field: `logs ${container}`, logLine: line })),
      ],
      guideSection: section,
      fix: { runbook: RUNBOOKS.runMatchingJob },
      remedy: 'Read the log tail before running it again',
    });
  }
  // A manual run (the fix) counts as much as a scheduled one; the CronJob records only its own.
  const lastManualSuccess = jobs
    .filter((j) => j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'))
    .map((j) => Date.parse(String(j.status?.completionTime ?? j.metadata?.creationTimestamp)))
    .reduce((a, b) => Math.max(a, b), 0);
  const lastScheduledSuccess = cron.status?.lastSuccessfulTime ? Date.parse(String(cron.status.lastSuccessfulTime)) : 0;
  const lastSuccess = Math.max(lastManualSuccess, lastScheduledSuccess);
  const missed = missedRun(e, cron.spec?.schedule, cron.spec?.startingDeadlineSeconds, cron.metadata?.creationTimestamp, lastSuccess > 0 ? new Date(lastSuccess) : undefined);
  if (missed) {
    findings.push({
      id: `matching/missed-run/${MATCHING_CRONJOB}`,
      analyzer,
      severity: 'warning',
      title: `No successful matching run since the one scheduled at ${missed.toISOString()}`,
      evidence: [
        { object: ref, field: 'spec.schedule', value: cron.spec?.schedule ?? '' },
        { object: ref, field: 'last successful run (status.lastSuccessfulTime or a manual Job)', value: lastSuccess > 0 ? new Date(lastSuccess).toISOString() : 'never' },
      ],
      guideSection: section,
      fix: { runbook: RUNBOOKS.runMatchingJob },
    });
  }
  return findings;
}

/** The scheduled time that has had no successful run after it for longer than the grace, if any. */
function missedRun(e: TriageEvidence, schedule: string | undefined, deadlineSeconds: number | undefined, created: Date | string | undefined, lastSuccess: Date | string | undefined): Date | undefined {
  if (!schedule) return undefined;
  const now = new Date(e.collectedAt);
  const grace = deadlineSeconds !== undefined ? deadlineSeconds * 1000 : DEFAULT_RUN_GRACE_MS;
  let fired: Date | undefined;
  try {
    fired = previousFireTime(schedule, new Date(now.getTime() - grace));
  } catch (err) {
    if (err instanceof CronSyntaxError) return undefined;
    throw err;
  }
  if (!fired) return undefined;
  // A CronJob created after that time had nothing to run yet.
  if (created && Date.parse(String(created)) > fired.getTime()) return undefined;
  if (lastSuccess && Date.parse(String(lastSuccess)) >= fired.getTime()) return undefined;
  return fired;
}
