/** Approver keys and an approvers config for tests: alice and carol (sre) may approve; bob requests. */
import { generateApproverKey } from '../common/approval';
import { parseApprovalConfig } from '../common/approval-config';
import type { WorkflowHandle } from '@temporalio/client';
import { decide } from '../client/approvals';
import { progressQuery } from '../common/runbook';

export const keys = { alice: generateApproverKey(), carol: generateApproverKey(), bob: generateApproverKey() };

export const approversFileJson = {
  approvers: [
    { user: 'alice', groups: ['sre'], publicKey: keys.alice.publicKey },
    { user: 'carol', groups: ['sre'], publicKey: keys.carol.publicKey },
    { user: 'bob', groups: ['developers'], publicKey: keys.bob.publicKey },
  ],
  policies: { default: { timeoutMs: 120_000, remindBeforeTimeoutMs: [], approvers: { users: [], groups: ['sre'] } } },
};

export const approvals = parseApprovalConfig(approversFileJson);

export async function awaitApprovalGate(handle: WorkflowHandle, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = await handle.query(progressQuery).catch(() => undefined);
    if (snapshot?.status === 'AwaitingApproval') return;
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} never reached the approval gate (status ${snapshot?.status ?? 'unknown'})`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

export function approveAs(handle: WorkflowHandle, who: 'alice' | 'carol', decision: 'approve' | 'reject' = 'approve', comment = '') {
  return decide(handle, { approver: who, privateKey: keys[who].privateKey, decision, comment });
}
