/**
 * The `runbook` CLI as an operator runs it (a child process), against the real stack: JSON shapes,
 * exit codes, signed approvals with keys the CLI manages.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../client/cli';
import { parseApprovalConfig } from '../common/approval-config';
import { SEEDED_REVISIONS } from '../platform-sim/seed';
import { seedForTest } from '../test-support/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const exec = promisify(execFile);
const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-cli-keys-'));

async function cli(args: string[], taskQueue = 'unused'): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
      env: { ...process.env, VCP_KEY_DIR: keyDir, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function json<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

const aws = awsClients();
beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

describe('runbook CLI', () => {
  it('manages approver keys and prints help with exit 0', async () => {
    const init = await cli(['keys', 'init', '--as', 'alice', '-o', 'json']);
    expect(init.code).toBe(EXIT.ok);
    const key = json<{ user: string; publicKey: string; fingerprint: string }>(init.stdout);
    expect(key.user).toBe('alice');
    expect(key.fingerprint).toMatch(/^ed25519:[0-9a-f]{16}$/);
    const again = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'alice', '-o', 'json'])).stdout);
    expect(again.publicKey).toBe(key.publicKey);
    expect(json<{ publicKey: string }>((await cli(['keys', 'show', '--as', 'alice', '-o', 'json'])).stdout).publicKey).toBe(key.publicKey);
    expect((await cli(['keys', 'show', '--as', 'nobody'])).code).toBe(EXIT.error);
    const help = await cli(['--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toContain('rollback [options] <instance>');
  });

  it('status: a healthy instance exits 0 with the JSON report; an unknown one exits 3; a bad name exits 2', async () => {
    const instance = uniqueInstance('cli-status');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    await withWorker(async ({ taskQueue }) => {
      const ok = await cli(['status', instance, '-o', 'json'], taskQueue);
      expect(ok.code).toBe(EXIT.ok);
      expect(json<{ healthy: boolean; application: { syncedRevision: string } }>(ok.stdout)).toMatchObject({ healthy: true, application: { syncedRevision: SEEDED_REVISIONS[2] } });
      const missing = await cli(['status', uniqueInstance('cli-missing'), '-o', 'json'], taskQueue);
      expect(missing.code).toBe(EXIT.notSucceeded);
      expect(json<{ healthy: boolean }>(missing.stdout).healthy).toBe(false);
      const bad = await cli(['status', 'Bad_Name'], taskQueue);
      expect(bad.code).toBe(EXIT.usage);
      expect(bad.stderr).toMatch(/not a DNS-1123 label/);
    });
  });

  it('rollback: start, list as waiting, refuse the requester\'s own approval (exit 4), approve as another, show the result; a second start exits 5', async () => {
    const instance = uniqueInstance('cli-rollback');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const alice = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'alice', '-o', 'json'])).stdout);
    const bob = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'bob', '-o', 'json'])).stdout);
    const approvals = parseApprovalConfig({
      approvers: [
        { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
        { user: 'bob', groups: ['sre'], publicKey: bob.publicKey },
      ],
    });
    await withWorker(
      async ({ taskQueue }) => {
        const started = await cli(['rollback', instance, '--reason', 'bad deploy', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(started.code).toBe(EXIT.ok);
        const { workflowId } = json<{ workflowId: string }>(started.stdout);
        expect(workflowId).toBe(`destructive/${instance}`);

        let waiting: { workflowId: string; status: string }[] = [];
        for (let i = 0; i < 100 && waiting.length === 0; i++) {
          waiting = json<typeof waiting>((await cli(['list', '--waiting', '--instance', instance, '-o', 'json'], taskQueue)).stdout);
          if (waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 300));
        }
        expect(waiting).toEqual([expect.objectContaining({ workflowId, status: 'AwaitingApproval' })]);

        const busy = await cli(['rollback', instance, '--reason', 'again', '--as', 'bob'], taskQueue);
        expect(busy.code).toBe(EXIT.instanceBusy);
        expect(busy.stderr).toMatch(new RegExp(`instance ${instance} is held by rollback run ${workflowId}`));

        const own = await cli(['approve', workflowId, '--as', 'bob'], taskQueue);
        expect(own.code).toBe(EXIT.approvalRefused);
        expect(own.stderr).toMatch(/approval refused: four-eyes policy: bob requested this run/);

        const approved = await cli(['approve', workflowId, '--as', 'alice', '--comment', 'go', '-o', 'json'], taskQueue);
        expect(approved.code).toBe(EXIT.ok);
        expect(json<{ state: string }>(approved.stdout).state).toBe('approved');

        let shown: { status: string; result?: { outcome: string; details: { to: string } } } = { status: 'RUNNING' };
        for (let i = 0; i < 200 && shown.status === 'RUNNING'; i++) {
          shown = json<typeof shown>((await cli(['show', workflowId, '-o', 'json'], taskQueue)).stdout);
          if (shown.status === 'RUNNING') await new Promise((resolve) => setTimeout(resolve, 300));
        }
        expect(shown.status).toBe('COMPLETED');
        expect(shown.result).toMatchObject({ outcome: 'succeeded', details: { to: SEEDED_REVISIONS[1] } });
      },
      { overrides: { approvals } },
    );
  });
});
