/**
 * `make demo`, last part: a failed matching run is made on the demo instance; triage finds it (with
 * the log tail and the runbook that fixes it), `runbook triage --fix` starts that runbook, the approver
 * approves, and a second triage finds the instance clean. Exits 0 when all of that held.
 */
import path from 'node:path';
import { createKubeClients, loadKubeConfig } from '../activities/kubernetes/client';
import { decide, waitForApprovalGate } from '../client/approvals';
import { connectClient, workflowUiUrl } from '../client/connection';
import { describeFix, startFix } from '../client/fixes';
import { loadKey } from '../client/keys';
import { startTriage } from '../client/runbooks';
import { loadConfig } from '../common/config';
import type { RunbookResult } from '../common/runbook';
import type { TriageReport } from '../common/triage';
import { failMatchingRun } from '../platform-sim/faults';

async function main(): Promise<void> {
  const instance = process.argv[2] ?? 'demo';
  const stateDir = process.argv[3] ?? '.stack/demo';
  const config = loadConfig();
  const uiBaseUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
  const keyDir = path.join(stateDir, 'keys');
  const approver = loadKey('approver', keyDir);
  const operator = loadKey('operator', keyDir);
  const requestedBy = { user: operator.user, via: 'demo' as const };
  const kube = createKubeClients(loadKubeConfig(config.kubernetes.kubeconfig));
  const { client, close } = await connectClient(config, new Map([[operator.user, operator.privateKey]]));
  const triage = async (): Promise<{ report: TriageReport; link: string }> => {
    const handle = await startTriage(client, config.temporal.taskQueue, { instance, options: { requestedBy } });
    const result = await handle.result();
    return { report: result.details!, link: workflowUiUrl(uiBaseUrl, config.temporal.namespace, handle.workflowId, (await handle.describe()).runId) };
  };
  try {
    console.log(`\n== 5. Triage of ${instance} after a failed matching run, and the fix it names (requested by operator, approved by approver)`);
    const job = await failMatchingRun(kube, instance, `manual-matching-demo-${Date.now().toString(36)}`);
    console.log(`  made the fault: Job ${job} failed (exit code 1), as a broken matching run does`);
    const before = await triage();
    for (const f of before.report.findings) {
      console.log(`  [${f.severity}] ${f.title} (${f.id})`);
      for (const e of f.evidence) console.log(`      - ${e.object}${e.field ? ` ${e.field}` : ''}${e.value ? `: ${e.value}` : ''}${e.logLine ? `: ${e.logLine}` : ''}`);
      if (f.fix) console.log(`      fix: runbook triage ${instance} --fix ${f.id}   (${describeFix(f.fix)})`);
    }
    console.log(`  Temporal UI: ${before.link}`);
    const failed = before.report.findings.find((f) => f.id === `matching/job-failed/${job}`);
    if (!failed?.fix) throw new Error(`triage did not find the failed matching run ${job}`);

    const handle = await startFix(client, config.temporal.taskQueue, instance, failed.fix, { requestedBy, reason: `fix for triage finding ${failed.id}` });
    const gate = await waitForApprovalGate(handle);
    console.log(`  started ${describeFix(failed.fix)} (${handle.workflowId}); plan ${gate.approval?.planDigest}`);
    const decision = await decide(handle, { approver: approver.user, privateKey: approver.privateKey, decision: 'approve', comment: 'approved in the demo' });
    console.log(`  approved by ${approver.user} (${approver.fingerprint}): ${decision.state}`);
    const result = (await handle.result()) as RunbookResult<{ job?: string; status?: string; exitCode?: number; logTail?: string[] }>;
    if (result.outcome !== 'succeeded') throw new Error(`${describeFix(failed.fix)} ended ${result.outcome}: ${result.reason ?? ''}`);
    const d = result.details!;
    console.log(`  ${result.outcome}: Job ${d.job} ${d.status}, exit code ${d.exitCode}; log tail: ${(d.logTail ?? []).slice(-2).join(' | ')}`);
    console.log(`  audit record: ${result.auditLocation}`);

    const after = await triage();
    const left = after.report.findings.filter((f) => f.severity !== 'info');
    console.log(`  triage again: ${left.length === 0 ? 'nothing above info' : left.map((f) => f.id).join(', ')}; Temporal UI: ${after.link}`);
    if (left.some((f) => f.id.startsWith('matching/'))) throw new Error('the matching finding is still there after the fix');
  } finally {
    kube.close();
    await close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
