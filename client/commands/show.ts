/** `runbook show <workflowId>`: a run's steps, approval and plan, and its result once it ended (exit codes as `watch`). */
import { progressQuery } from '../../common/runbook';
import type { ProgressSnapshot } from '../../common/runbook';
import { linkForResult } from '../download-link';
import { urlExpiryOption, validateWorkflowId } from '../options';
import { asRunbookResult, resultLines } from '../results';
import { endedAsDesigned, outcomeWithReason } from '../watch';
import { EXIT, print, withClient } from './context';
import type { Cli } from './context';

function describeSnapshot(s: ProgressSnapshot): string {
  const lines = [`${s.runbook} of ${s.instance}: ${s.status}`];
  for (const step of s.steps) lines.push(`  [${step.state.padEnd(7)}] ${step.title}${step.note ? ` (${step.note})` : ''}`);
  for (const [k, v] of Object.entries(s.counters)) lines.push(`  ${k}: ${v}`);
  if (s.approval) {
    lines.push(`  approval: ${s.approval.state}, ${s.approval.approvals.filter((a) => a.decision === 'approve').length}/${s.approval.minApprovals}, deadline ${s.approval.deadline}`);
    lines.push(`  plan digest: ${s.approval.planDigest}`);
    for (const a of s.approval.approvals) lines.push(`    ${a.decision} by ${a.approver}${a.signatureVerified ? ' (signature verified)' : ' (UNSIGNED)'}${a.comment ? `: ${a.comment}` : ''}`);
  }
  if (s.plan !== undefined) lines.push('  plan:', ...JSON.stringify(s.plan, null, 2).split('\n').map((l) => `    ${l}`));
  return lines.join('\n');
}

export function registerShow({ program, output }: Cli): void {
  program
    .command('show <workflowId>')
    .description(
      'show a run: steps, approval, plan, and the result or failure once it ended (a bundle: with a download link signed with your AWS credentials); ' +
        'exit 0 running, succeeded, a dry run planned, or skipped by design with its reason printed; 3 ended otherwise',
    )
    .addOption(urlExpiryOption())
    .action(async (workflowIdArg: string, opts: { urlExpiry: number }) => {
      const workflowId = validateWorkflowId(workflowIdArg);
      await withClient(async (client, config) => {
        const handle = client.workflow.getHandle(workflowId);
        const description = await handle.describe();
        const snapshot = await handle.query(progressQuery).catch(() => undefined);
        const closed = description.status.name !== 'RUNNING';
        const outcome = closed ? await handle.result().then((r: unknown) => ({ result: r }), (e: unknown) => ({ failure: e instanceof Error ? e.message : String(e) })) : {};
        const result = 'result' in outcome ? asRunbookResult(outcome.result) : undefined;
        const download = await linkForResult(config, result, opts.urlExpiry);
        print(output(), { workflowId, runId: description.runId, status: description.status.name, progress: snapshot, ...outcome, ...(download ? { download } : {}) }, () =>
          [
            `${workflowId} (${description.status.name})`,
            snapshot ? describeSnapshot(snapshot) : '  (no progress: is a worker running?)',
            result ? `  outcome: ${outcomeWithReason(result.outcome, result.reason)}` : '',
            ...resultLines(result, download),
            result?.auditLocation ? `  audit record: ${result.auditLocation}` : '',
            'failure' in outcome ? `  failure: ${String(outcome.failure)}` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
        // A run that failed, or returned an outcome such as rejected or cancelled, did not do what it is for; a skipped one did.
        if ('failure' in outcome || (result && !endedAsDesigned(result.outcome))) process.exitCode = EXIT.notSucceeded;
      });
    });
}
