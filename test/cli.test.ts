/**
 * The `runbook` CLI as an operator runs it (a child process), against the real stack: JSON shapes,
 * exit codes, signed approvals with keys the CLI manages.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../client/cli';
import { startDiagnosticBundle } from '../client/runbooks';
import type { ProgressBarSpec, WatchEnd } from '../client/watch';
import { parseApprovalConfig } from '../common/approval-config';
import type { ProgressSnapshot } from '../common/runbook';
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

/** A CLI process read while it runs (pipes, so not a TTY): for `watch`, which prints as the run goes. */
function cliLive(args: string[], taskQueue = 'unused') {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
    env: { ...process.env, VCP_KEY_DIR: keyDir, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1' },
  });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiters.filter((w) => w.pattern.test(stdout))) w.resolve();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return {
    done,
    /** Resolves once stdout matches; rejects if the process ends first. */
    waitFor: (pattern: RegExp) =>
      Promise.race([
        new Promise<void>((resolve) => (pattern.test(stdout) ? resolve() : waiters.push({ pattern, resolve }))),
        done.then((r) => (pattern.test(r.stdout) ? undefined : Promise.reject(new Error(`watch ended without printing ${pattern}:\n${r.stdout}${r.stderr}`)))),
      ]),
  };
}

function lines(stdout: string): string[] {
  return stdout.split('\n').filter(Boolean);
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

  it('watch: follows a rollback live through its approval to the end, a plain line per change, exit 0', async () => {
    const instance = uniqueInstance('cli-watch');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const alice = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'alice', '-o', 'json'])).stdout);
    const approvals = parseApprovalConfig({ approvers: [{ user: 'alice', groups: ['sre'], publicKey: alice.publicKey }] });
    await withWorker(
      async ({ taskQueue }) => {
        const started = await cli(['rollback', instance, '--reason', 'bad deploy', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(started.code).toBe(EXIT.ok);
        const { workflowId } = json<{ workflowId: string }>(started.stdout);
        const watch = cliLive(['watch', workflowId, '--interval', '200'], taskQueue);
        // Approving only once the watcher shows the wait proves it reports a run in progress.
        await watch.waitFor(/approval: waiting, 0\/1/);
        expect((await cli(['approve', workflowId, '--as', 'alice', '--comment', 'go'], taskQueue)).code).toBe(EXIT.ok);
        const { code, stdout, stderr } = await watch.done;
        expect({ code, stderr }).toEqual({ code: EXIT.ok, stderr: '' });
        const out = lines(stdout);
        // The status line is printed when the status changes; the first poll may already find the wait.
        const statuses = out.filter((l) => l.startsWith(`rollback of ${instance}: `)).map((l) => l.split(': ')[1]);
        expect(statuses[0]).toMatch(/^(Running|AwaitingApproval)$/);
        expect(statuses).toContain('AwaitingApproval');
        expect(statuses.at(-1)).toBe('Succeeded');
        expect(statuses.filter((st, i) => st === statuses[i - 1])).toEqual([]);
        for (const title of ['Read the Application and its history', 'Approval', 'Set the target revision (and request the sync)', 'Wait for the sync: Synced, Healthy, Deployments available']) {
          // Each state of a step is printed once, when it changes.
          expect(out.filter((l) => l === `  [done   ] ${title}`), title).toHaveLength(1);
        }
        expect(out).toContain('  [pending] Revert to the original revision (only on failure)');
        expect(out).toContain('  [skipped] Revert to the original revision (only on failure) (not needed)');
        expect(out.filter((l, i) => l === out[i - 1])).toEqual([]);
        expect(out.at(-1)).toBe(`${workflowId}: succeeded`);
      },
      { overrides: { approvals } },
    );
  });

  it('watch -o json: a diagnostic bundle as NDJSON with the collectors bar and the result; watching an ended run prints its final state', async () => {
    const instance = uniqueInstance('cli-watch-json');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDiagnosticBundle(client, taskQueue, { instance, options: { requestedBy: { user: 'bob', via: 'test' } } });
      const watched = await cli(['watch', handle.workflowId, '--interval', '200', '-o', 'json'], taskQueue);
      expect(watched.code).toBe(EXIT.ok);
      const events = lines(watched.stdout).map((l) => JSON.parse(l) as { event: string; progress?: ProgressSnapshot; bars?: ProgressBarSpec[] } & Partial<WatchEnd>);
      const progress = events.filter((e) => e.event === 'progress');
      expect(progress.length).toBeGreaterThan(0);
      expect(events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true);
      // Only changes are printed: no two consecutive snapshots are equal.
      expect(progress.filter((e, i) => i > 0 && JSON.stringify(e.progress) === JSON.stringify(progress[i - 1]!.progress))).toEqual([]);
      expect(progress.at(-1)!.progress!.steps.map((s) => [s.name, s.state])).toEqual([['collect', 'done'], ['archive', 'done']]);
      expect(progress.at(-1)!.bars).toEqual([{ label: 'collectors done', value: 12, total: 12 }]);
      expect(events.at(-1)).toMatchObject({ event: 'end', workflowId: handle.workflowId, status: 'COMPLETED', outcome: 'succeeded', succeeded: true, result: { outcome: 'succeeded', details: { archive: { bucket: config.aws.backupBucket } } } });

      const again = await cli(['watch', handle.workflowId], taskQueue);
      expect(again.code).toBe(EXIT.ok);
      expect(lines(again.stdout)).toEqual([
        `diagnostic-bundle of ${instance}: Succeeded`,
        '  [done   ] Collect (12 collectors in parallel)',
        '  [done   ] Stream the tar.gz to S3 and sign a download link',
        '  collectors done: 12/12',
        `${handle.workflowId}: succeeded`,
      ]);
    });
  });

  it('watch: a failed run exits 3 with its reason; an unknown workflow ID exits 1; a too short interval exits 2', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDiagnosticBundle(client, taskQueue, { instance: uniqueInstance('cli-watch-bad'), urlExpirySeconds: 10 ** 9, options: { requestedBy: { user: 'bob', via: 'test' } } });
      const failed = await cli(['watch', handle.workflowId, '--interval', '200'], taskQueue);
      expect(failed.code).toBe(EXIT.notSucceeded);
      expect(lines(failed.stdout).at(-1)).toMatch(new RegExp(`^${handle.workflowId}: failed \\(urlExpirySeconds must be between 1 and 604800`));

      const unknown = await cli(['watch', 'no-such-run/cli-watch'], taskQueue);
      expect(unknown.code).toBe(EXIT.error);
      expect(unknown.stderr).toMatch(/no run with workflow ID no-such-run\/cli-watch/);
      const unknownJson = await cli(['watch', 'no-such-run/cli-watch', '-o', 'json'], taskQueue);
      expect(unknownJson.code).toBe(EXIT.error);
      expect(json<{ exitCode: number }>(unknownJson.stdout).exitCode).toBe(EXIT.error);

      expect((await cli(['watch', handle.workflowId, '--interval', '5'], taskQueue)).code).toBe(EXIT.usage);
    });
  });
});
