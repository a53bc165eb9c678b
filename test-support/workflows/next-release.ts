/**
 * The next release of the drills' workflow code, for test/worker-versioning.test.ts: the approval
 * drill reads the live state once more before it starts, and says which release ran it. Its commands
 * differ from the start, so a run begun on the previous release's code cannot replay here: what a
 * deploy meets when in-flight runs move to new code.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RunbookResult } from '../../common/runbook';
import { approvalDrill as previousApprovalDrill } from './approval-drill';
import type { ApprovalDrillInput } from './approval-drill';
import type { DrillActivities } from './drill-activities';

export * from '../../workflows';

const { drillReadState } = proxyActivities<DrillActivities>({ startToCloseTimeout: '10 seconds' });

export const NEXT_RELEASE = 'next';

export async function approvalDrill(input: ApprovalDrillInput): Promise<RunbookResult<{ inputs: Record<string, string> }> & { release: string }> {
  await drillReadState(input.instance);
  return { ...(await previousApprovalDrill(input)), release: NEXT_RELEASE };
}
