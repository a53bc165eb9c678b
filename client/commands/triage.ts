/**
 * `runbook triage <instance>`: the guide's diagnosis as findings (exit 3 when any is above info);
 * `--bundle FILE` triages a downloaded diagnostic bundle offline with the same analyzers;
 * `--fix FINDING` starts the runbook a finding names, behind its approval like any other start.
 */
import { analyze } from '../../common/analyzers';
import { evidenceFromBundle } from '../../common/analyzers/bundle';
import { validateInstanceName } from '../../common/instance';
import type { Finding, TriageReport } from '../../common/triage';
import { readBundleFiles } from '../bundle-files';
import { describeFix, startFix } from '../fixes';
import { identityOption, reasonOption } from '../options';
import { startTriage } from '../runbooks';
import { CliError, EXIT, print, requestedBy, runResult, startedMessage, withClient } from './context';
import type { Cli } from './context';

export function registerTriage({ program, output }: Cli): void {
  program
    .command('triage [instance]')
    .description('diagnose an instance (or a downloaded bundle) as the guide does; exit 3 when a finding is above info')
    .option('--bundle <file>', 'triage a diagnostic bundle (tar.gz) offline instead of the live instance')
    .option('--fix <finding>', 'start the runbook that fixes this finding (by its id), behind its approval')
    .addOption(reasonOption())
    .addOption(identityOption())
    .action(async (instance: string | undefined, opts: { bundle?: string; fix?: string; reason?: string; as?: string }) => {
      if (opts.bundle) {
        if (opts.fix) throw new CliError('--fix acts on the live instance: run it without --bundle', EXIT.usage);
        const bundle = await readBundleFiles(opts.bundle).catch((err: unknown) => {
          throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
        });
        if (instance !== undefined && validateInstanceName(instance) !== bundle.instance) throw new CliError(`${opts.bundle} is a bundle of ${bundle.instance}, not ${instance}`, EXIT.usage);
        const report = analyze(evidenceFromBundle(bundle.instance, bundle.files, bundle.createdAt));
        print(output(), report, () => reportLines(report, `bundle ${opts.bundle} (${bundle.createdAt})`).join('\n'));
        if (!report.healthy) process.exitCode = EXIT.notSucceeded;
        return;
      }
      if (instance === undefined) throw new CliError('name the instance to triage (or --bundle FILE)', EXIT.usage);
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startTriage(client, config.temporal.taskQueue, { instance, options: { requestedBy: requester, reason: opts.reason } });
        const report = (await runResult(handle)).details!;
        if (!opts.fix) {
          print(output(), report, () => reportLines(report).join('\n'));
          if (!report.healthy) process.exitCode = EXIT.notSucceeded;
          return;
        }
        const finding = report.findings.find((f) => f.id === opts.fix);
        if (!finding) throw new CliError(`no finding ${opts.fix} on ${instance} now (findings: ${report.findings.map((f) => f.id).join(', ') || 'none'})`, EXIT.usage);
        if (!finding.fix) throw new CliError(`finding ${finding.id} names no runbook${finding.remedy ? `; by hand: ${finding.remedy}` : ''}`, EXIT.usage);
        const reason = opts.reason ?? `fix for triage finding ${finding.id}: ${finding.title}`;
        const started = await startFix(client, config.temporal.taskQueue, instance, finding.fix, { requestedBy: requester, reason });
        await startedMessage(output(), config, started, describeFix(finding.fix), { json: { finding: finding.id, runbook: finding.fix.runbook } });
      });
    });
}

export function reportLines(report: TriageReport, source = 'live'): string[] {
  const above = report.findings.filter((f) => f.severity !== 'info').length;
  return [
    `${report.instance} (${source}, ${report.checkedAt}): ${report.healthy ? 'healthy' : 'UNHEALTHY'}, ${above} finding${above === 1 ? '' : 's'} above info`,
    ...report.findings.flatMap((f) => findingLines(report.instance, f)),
    ...report.failedAnalyzers.map((a) => `  analyzer ${a.analyzer} could not run: ${a.error}`),
    ...(report.unreadable ?? []).map((what) => `  not checked: ${what}`),
  ];
}

function findingLines(instance: string, f: Finding): string[] {
  return [
    `  [${f.severity}] ${f.title}`,
    `      id: ${f.id}   guide: ${f.guideSection}`,
    ...f.evidence.map((e) => `      - ${e.object}${e.field ? ` ${e.field}` : ''}${e.value ? `: ${e.value}` : ''}${e.logLine ? `: ${e.logLine}` : ''}${e.event ? ` event: ${e.event}` : ''}`),
    ...(f.fix ? [`      fix: runbook triage ${instance} --fix ${f.id}   (${describeFix(f.fix)})`] : []),
    ...(f.remedy ? [`      by hand: ${f.remedy}`] : []),
  ];
}
