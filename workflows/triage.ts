/**
 * The guide's "Diagnosing Issues" for one instance, read-only: every analyzer of the guide's "Common
 * Issues and Solutions" over the live instance, in one activity that returns only the findings. The
 * findings show in the Temporal UI (the run's details) worst first, each with the runbook that fixes it.
 */
import { RUNBOOKS } from '../common/definitions';
import { validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import type { TriageInput, TriageReport } from '../common/triage';
import { SEVERITIES } from '../common/triage';
import { activity, Runbook } from './runbook/runbook';
import type { StepsOf } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const TRIAGE_STEPS = [{ name: 'analyze', title: 'Read the instance and run every analyzer' }] as const;
/** Findings listed in the UI's details; the result has them all. */
const FINDINGS_IN_DETAILS = 20;

const triageInstance = activity('triageInstance', 'Read the instance and analyze it');

export async function triage(input: TriageInput): Promise<RunbookResult<TriageReport>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const runbook: Runbook<StepsOf<typeof TRIAGE_STEPS>> = new Runbook({
    name: RUNBOOKS.triage,
    title: 'Triage',
    instance,
    options: input.options,
    destructive: false,
    startInput: input,
    steps: TRIAGE_STEPS,
  });
  return runbook.run(async () => {
    const report = await runbook.step('analyze', () => triageInstance(instance));
    for (const severity of SEVERITIES) runbook.setCounter(`${severity} findings`, report.findings.filter((f) => f.severity === severity).length);
    for (const f of report.findings.slice(0, FINDINGS_IN_DETAILS)) {
      runbook.note(`[${f.severity}] ${f.title} (${f.id})${f.fix ? ` → fix: runbook triage ${instance} --fix ${f.id}` : ''}`);
    }
    if (report.findings.length > FINDINGS_IN_DETAILS) runbook.note(`… and ${report.findings.length - FINDINGS_IN_DETAILS} more in the result`);
    for (const failed of report.failedAnalyzers) runbook.note(`analyzer ${failed.analyzer} could not run: ${failed.error}`);
    for (const what of report.unreadable) runbook.note(`not checked: ${what}`);
    return report;
  });
}
