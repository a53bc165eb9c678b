/**
 * The demo's two people: `operator` starts runbooks, `approver` approves them (four-eyes). Creates
 * their keys under the demo stack's state and the approvers file the demo worker loads.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { initKey } from '../client/keys';

const stateDir = process.argv[2];
if (!stateDir) throw new Error('usage: demo-identities.ts <stack state dir>');
const keyDir = path.join(stateDir, 'keys');
const operator = initKey('operator', keyDir);
const approver = initKey('approver', keyDir);
const approvers = {
  approvers: [
    { user: operator.user, groups: ['sre'], publicKey: operator.publicKey },
    { user: approver.user, groups: ['sre'], publicKey: approver.publicKey },
  ],
  policies: { default: { minApprovals: 1, fourEyes: true, timeoutMs: 30 * 60 * 1000, approvers: { users: [], groups: ['sre'] } } },
};
writeFileSync(path.join(stateDir, 'approvers.json'), JSON.stringify(approvers, null, 2) + '\n');
console.log(`demo identities: operator ${operator.fingerprint}, approver ${approver.fingerprint} (keys in ${keyDir})`);
