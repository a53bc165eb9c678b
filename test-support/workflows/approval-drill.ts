/** A minimal destructive runbook built on the shared machinery: plan, pause, approve, change. */
import { proxyActivities } from '@temporalio/workflow';
import type { RunbookOptions, RunbookResult } from '../../common/runbook';
import { Runbook } from '../../workflows/runbook/runbook';
import type { DrillActivities } from './drill-activities';

const { drillReadState, drillPauseSync, drillResumeSync, drillDestructiveChange } = proxyActivities<DrillActivities>({
  startToCloseTimeout: '10 seconds',
});

export interface ApprovalDrillInput {
  instance: string;
  options: RunbookOptions;
}

export async function approvalDrill(input: ApprovalDrillInput): Promise<RunbookResult<{ inputs: Record<string, string> }>> {
  const { instance } = input;
  const runbook = new Runbook({
    name: 'approval-drill',
    title: 'Approval drill',
    instance,
    steps: [
      { name: 'plan', title: 'Read the live state and plan' },
      { name: 'pause', title: 'Pause automated sync' },
      { name: 'approve', title: 'Approval' },
      { name: 'change', title: 'Destructive change' },
    ],
    options: input.options,
    destructive: true,
    startInput: input,
  });
  return runbook.run(async () => {
    const planned = await runbook.step('plan', () => drillReadState(instance));
    const plan = { instance, change: `replace ${planned.state}` };
    if (!runbook.dryRun) {
      await runbook.step('pause', async () => {
        runbook.onCleanup('resume sync', () => drillResumeSync(instance));
        await drillPauseSync(instance);
      });
    }
    const approved = await runbook.step('approve', () => runbook.approve(plan));
    await runbook.step('change', async () => {
      runbook.confirmUnchanged('drill state', planned, await drillReadState(instance));
      await drillDestructiveChange(instance, approved.inputs);
      runbook.recordChange({ object: `drill/${instance}`, action: 'replace', before: planned.state, after: approved.inputs });
    });
    return { inputs: approved.inputs };
  });
}
