/** Approver keys and an approvers config for tests: alice and carol (sre) may approve; bob requests. */
import { generateApproverKey } from '../common/approval';
import { parseApprovalConfig } from '../common/approval-config';
import type { WorkflowHandle } from '@temporalio/client';
import { decide } from '../client/approvals';
export { waitForApprovalGate as awaitApprovalGate } from '../client/approvals';

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

/** The test identities' keys, by name, for signing start requests. */
export const testRequesterKeys: ReadonlyMap<string, Uint8Array> = new Map(Object.entries(keys).map(([user, key]) => [user, key.privateKey]));

/** Signing keys for a test's own identities. */
export function requesterKeysOf(identities: Record<string, { privateKey: Uint8Array }>): ReadonlyMap<string, Uint8Array> {
  return new Map(Object.entries(identities).map(([user, key]) => [user, key.privateKey]));
}


export function approveAs(handle: WorkflowHandle, who: 'alice' | 'carol', decision: 'approve' | 'reject' = 'approve', comment = '') {
  return decide(handle, { approver: who, privateKey: keys[who].privateKey, decision, comment });
}
