/**
 * The `runbook` CLI as an operator runs it (a child process), against the real stack: JSON shapes,
 * exit codes, signed approvals with keys the CLI manages.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BatchWriteItemCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemToWire } from '../activities/aws/dynamodb-items';
import { EXIT } from '../client/cli';
import { startDiagnosticBundle } from '../client/runbooks';
import type { ProgressBarSpec, WatchEnd } from '../client/watch';
import { parseApprovalConfig } from '../common/approval-config';
import type { DynamoDbRecoveryPlan } from '../common/dynamodb-backup';
import { destructiveWorkflowId } from '../common/workflows';
import type { ProgressSnapshot } from '../common/runbook';
import type { DynamoDbExportDetails } from '../common/dynamodb-backup';
import { seededRevisions } from '../platform-sim/seed';
import { exists, expectNothingStarted } from '../test-support/nothing-started';
import { seedForTest } from '../test-support/seed';
import { tableItems } from '../test-support/dynamodb';
import { ensureBackupBucket } from '../scripts/seed/aws';
import type { TriageReport } from '../common/triage';
import { failMatchingRun } from '../platform-sim/faults';
import { awsClients, config, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';
import type { DiagnosticBundleDetails } from '../common/diagnostics';
import type { DownloadLink } from '../common/diagnostics';

const exec = promisify(execFile);
const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-cli-keys-'));

async function cli(args: string[], taskQueue = 'unused', env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
      env: { ...process.env, VCP_KEY_DIR: keyDir, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1', ...env },
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

async function emptyTable(tableName: string, items: Iterable<Record<string, AttributeValue>>): Promise<void> {
  const keyNames = ((await aws.dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table!.KeySchema ?? []).map((k) => k.AttributeName!);
  const deletes = [...items].map((item) => ({ DeleteRequest: { Key: Object.fromEntries(keyNames.map((k) => [k, item[k]!])) } }));
  for (let i = 0; i < deletes.length; i += 25) await aws.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: deletes.slice(i, i + 25) } }));
}

/** Alice approves, bob requests: the CLI's own keys on the worker's keyring. */
async function aliceApprovesBobRequests() {
  const alice = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'alice', '-o', 'json'])).stdout);
  const bob = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'bob', '-o', 'json'])).stdout);
  return parseApprovalConfig({
    approvers: [
      { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
      { user: 'bob', groups: ['sre'], publicKey: bob.publicKey },
    ],
  });
}

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
      expect(json<{ healthy: boolean; application: { syncedRevision: string } }>(ok.stdout)).toMatchObject({ healthy: true, application: { syncedRevision: seededRevisions()[2] } });
      const missing = await cli(['status', uniqueInstance('cli-missing'), '-o', 'json'], taskQueue);
      expect(missing.code).toBe(EXIT.notSucceeded);
      expect(json<{ healthy: boolean }>(missing.stdout).healthy).toBe(false);
      const bad = await cli(['status', 'Bad_Name'], taskQueue);
      expect(bad.code).toBe(EXIT.usage);
      expect(bad.stderr).toMatch(/not a DNS-1123 label/);
    });
  });

  it('triage finds a failed matching run (exit 3), --fix starts the runbook it names behind its approval, and validate passes once it is fixed', async () => {
    const instance = uniqueInstance('cli-triage');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const job = await failMatchingRun(aws.kube, instance);
    const approvals = await aliceApprovesBobRequests();
    await withWorker(
      async ({ taskQueue }) => {
        const found = await cli(['triage', instance, '--as', 'bob', '-o', 'json'], taskQueue);
        expect(found.code).toBe(EXIT.notSucceeded);
        const report = json<TriageReport>(found.stdout);
        expect(report.findings.map((f) => [f.id, f.severity])).toContainEqual([`matching/job-failed/${job}`, 'error']);
        const failing = await cli(['validate', instance, '--as', 'bob', '-o', 'json'], taskQueue);
        expect(failing.code).toBe(EXIT.notSucceeded);
        expect(json<{ passed: boolean; checks: { check: string; passed: boolean }[] }>(failing.stdout)).toMatchObject({ passed: false, checks: [{ check: 'status', passed: true }, { check: 'triage', passed: false }] });

        // A finding that is not there, or one without a runbook, starts nothing.
        const unknown = await cli(['triage', instance, '--fix', 'matching/job-failed/nope', '--as', 'bob'], taskQueue);
        expect(unknown.code).toBe(EXIT.usage);
        expect(unknown.stderr).toMatch(/no finding matching\/job-failed\/nope/);

        const started = await cli(['triage', instance, '--fix', `matching/job-failed/${job}`, '--as', 'bob', '-o', 'json'], taskQueue);
        expect(started.code).toBe(EXIT.ok);
        const { workflowId, runbook } = json<{ workflowId: string; runbook: string }>(started.stdout);
        expect({ workflowId, runbook }).toEqual({ workflowId: `destructive/${instance}`, runbook: 'run-matching-job' });
        // Behind its approval like any start: the requester cannot approve it, another identity can.
        expect((await cli(['approve', workflowId, '--as', 'bob'], taskQueue)).code).toBe(EXIT.approvalRefused);
        expect((await cli(['approve', workflowId, '--as', 'alice', '--comment', 'run it again'], taskQueue)).code).toBe(EXIT.ok);
        const watched = await cli(['watch', workflowId], taskQueue);
        expect(watched.code).toBe(EXIT.ok);

        const passing = await cli(['validate', instance, '--as', 'bob'], taskQueue);
        expect(passing.stdout).toMatch(new RegExp(`^${instance}: PASS`));
        expect(passing.code).toBe(EXIT.ok);
      },
      { overrides: { approvals } },
    );
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
        expect(shown.result).toMatchObject({ outcome: 'succeeded', details: { to: seededRevisions()[1] } });
      },
      { overrides: { approvals } },
    );
  });

  it('recover-dynamodb --dry-run: prints the plan (claim, tables with item counts, writers) as JSON and as text, starts no destructive run', async () => {
    const instance = uniqueInstance('cli-ddb-plan');
    await seedForTest(instance, { sizes: { users: 5, matches: 2, feedback: 3 } });
    // Even a dry run is started by an authenticated requester: bob's CLI key is on the keyring.
    const approvals = await aliceApprovesBobRequests();
    await withWorker(async ({ client, taskQueue }) => {
      const planned = await cli(['recover-dynamodb', instance, '--dry-run', '--reason', 'corrupted by a migration', '--as', 'bob', '-o', 'json'], taskQueue);
      expect(planned.code, planned.stderr).toBe(EXIT.ok);
      const { plan, planDigest } = json<{ plan: DynamoDbRecoveryPlan; planDigest: string }>(planned.stdout);
      expect(planDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(plan).toMatchObject({
        instance,
        claim: { name: `${instance}-dynamodb`, namespace: instance, deletionPolicy: 'Delete' },
        totalItems: 10,
        writers: { quiesce: true, apiDeployment: { name: 'virtual-coffee-api', replicas: 2 }, cronJob: { suspended: false } },
        autoSync: { application: `virtual-coffee-${instance}`, automated: true, pausedDuringRun: true },
        backup: { bucket: config.aws.backupBucket },
        confirmAfterBackup: false,
      });
      expect(plan.claim.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(plan.tables.map((t) => [t.tableName, t.items])).toEqual([[`users-${instance}`, 5], [`matches-${instance}`, 2], [`feedback-${instance}`, 3]]);
      expect(plan.tables[0]!.gsis).toEqual(['email-index']);

      const text = await cli(['recover-dynamodb', instance, '--dry-run', '--tables', 'users,matches,feedback', '--no-quiesce', '--confirm-after-backup', '--as', 'bob'], taskQueue);
      expect(text.code, text.stderr).toBe(EXIT.ok);
      const out = lines(text.stdout);
      expect(out[0]).toMatch(/^plan sha256:[0-9a-f]{64}$/);
      expect(out.filter((l) => l.startsWith(`  users-${instance}: `))).toEqual([
        expect.stringMatching(/: 5 items, 1 segment, GSIs email-index, TTL \S+.*, PITR \S+, \d+ tags; deleted with the claim, restored and verified item by item$/),
      ]);
      // Every table the claim owns is listed: deleting the claim deletes them all.
      expect(out.filter((l) => l.startsWith(`  matches-${instance}: 2 items,`) || l.startsWith(`  feedback-${instance}: 3 items,`))).toHaveLength(2);
      expect(out).toContain('  writers keep running (--no-quiesce): their writes during the recovery are lost');
      expect(out).toContain('  a second approval is asked once the backup is verified');

      // A plan holds no lock: the instance's destructive ID was never used (read by ID: strongly consistent).
      expect(await exists(client, destructiveWorkflowId(instance))).toBe(false);
      let runs: { workflowId: string }[] = [];
      for (let i = 0; i < 50 && runs.length < 2; i++) {
        runs = json<typeof runs>((await cli(['list', '--instance', instance, '-o', 'json'], taskQueue)).stdout);
        if (runs.length < 2) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(runs.map((r) => r.workflowId.split('/')[0])).toEqual(['plan', 'plan']);
    }, { overrides: { approvals } });
  });

  it('recover-dynamodb: approved by another identity, watched to the end with the backup URL and every table equal to its backup', async () => {
    const instance = uniqueInstance('cli-ddb-recover');
    await seedForTest(instance, { sizes: { users: 6, matches: 3, feedback: 2 } });
    const before = await tableItems(aws.dynamodb, `users-${instance}`);
    const approvals = await aliceApprovesBobRequests();
    await withWorker(
      async ({ taskQueue }) => {
        const started = await cli(['recover-dynamodb', instance, '--chunk-max-items', '2', '--segments', '2', '--import-concurrency', '4', '--reason', 'tables corrupted', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(started.code, started.stderr).toBe(EXIT.ok);
        const { workflowId } = json<{ workflowId: string }>(started.stdout);
        expect(workflowId).toBe(`destructive/${instance}`);
        const watch = cliLive(['watch', workflowId, '--interval', '200'], taskQueue);
        await watch.waitFor(/approval: waiting, 0\/1/);
        expect((await cli(['approve', workflowId, '--as', 'alice', '--comment', 'backup first, go'], taskQueue)).code).toBe(EXIT.ok);
        const { code, stdout, stderr } = await watch.done;
        expect({ code, stderr }).toEqual({ code: EXIT.ok, stderr: '' });
        const out = lines(stdout);
        expect(out.at(-1)).toBe(`${workflowId}: succeeded`);
        const backup = out.find((l) => l.startsWith('  backup: '));
        expect(backup).toMatch(new RegExp(`^  backup: s3://${config.aws.backupBucket}/dynamodb-backups/${instance}/\\S+/manifest\\.json \\(11 items, \\d+ chunks`));
        for (const [base, n] of [['users', 6], ['matches', 3], ['feedback', 2]] as const) {
          expect(out).toContain(`  ${base}-${instance}: ${n} in the backup, ${n} restored, item digest matches`);
        }
        expect(out.some((l) => /^  durations: export \d+\.\ds, .*; writes stopped \d+\.\ds$/.test(l))).toBe(true);
        expect(out).toContain('  [done   ] Import the data and re-apply TTL, tags and PITR');

        // `show` renders the same result after the fact.
        const shown = await cli(['show', workflowId], taskQueue);
        expect(shown.code).toBe(EXIT.ok);
        const shownLines = lines(shown.stdout);
        expect(shownLines).toContain('  outcome: succeeded');
        expect(shownLines).toContain(backup);
        expect(shownLines).toContain(`  users-${instance}: 6 in the backup, 6 restored, item digest matches`);
        expect(shownLines.some((l) => l.startsWith(`  audit record: s3://${config.aws.backupBucket}/audit/`))).toBe(true);
      },
      { overrides: { approvals } },
    );
    const after = await tableItems(aws.dynamodb, `users-${instance}`);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  }, 300_000);

  it('export-dynamodb prints the backup; import-dynamodb uploads a local `aws dynamodb scan` file (encrypted) and, once approved, restores an emptied table exactly', async () => {
    const instance = uniqueInstance('cli-ddb-io');
    await seedForTest(instance, { sizes: { users: 3, matches: 2, feedback: 7 } });
    const feedback = `feedback-${instance}`;
    const approvals = await aliceApprovesBobRequests();
    await withWorker(
      async ({ taskQueue }) => {
        const exported = await cli(['export-dynamodb', instance, '--tables', 'feedback', '--chunk-max-items', '3', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(exported.code, exported.stderr).toBe(EXIT.ok);
        const details = json<DynamoDbExportDetails>(exported.stdout);
        expect(details.backup.url).toMatch(new RegExp(`^s3://${config.aws.backupBucket}/dynamodb-backups/${instance}/\\S+/manifest\\.json$`));
        expect(details.backup).toMatchObject({ items: 7, chunks: 3 });
        expect(details.tables).toEqual([{ tableName: feedback, items: 7, digest: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown }]);
        // The text form of the same read-only command: the URL first, then each table.
        const text = await cli(['export-dynamodb', instance, '--tables', feedback, '--as', 'bob'], taskQueue);
        expect(text.code, text.stderr).toBe(EXIT.ok);
        expect(lines(text.stdout)[0]).toMatch(/^backup s3:\/\/\S+\/manifest\.json$/);
        expect(lines(text.stdout)).toContain(`  ${feedback}: 7 items, digest ${details.tables[0]!.digest.slice(0, 16)}`);

        // What `aws dynamodb scan --table-name feedback-... > feedback.json` writes, then the table is emptied.
        const original = await tableItems(aws.dynamodb, feedback);
        const file = path.join(mkdtempSync(path.join(tmpdir(), 'vcp-cli-scan-')), 'feedback backup.json');
        const items = [...original.values()];
        writeFileSync(file, JSON.stringify({ Items: items.map(itemToWire), Count: items.length, ScannedCount: items.length, ConsumedCapacity: null }, null, 4));
        await emptyTable(feedback, items);
        expect((await tableItems(aws.dynamodb, feedback)).size).toBe(0);

        const started = await cli(['import-dynamodb', instance, '--from', file, '--tables', 'feedback', '--reason', 'restore feedback', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(started.code, started.stderr).toBe(EXIT.ok);
        const { workflowId, from, uploaded } = json<{ workflowId: string; from: string; uploaded: { file: string; bytes: number } }>(started.stdout);
        expect(workflowId).toBe(`destructive/${instance}`);
        expect(from).toMatch(new RegExp(`^s3://${config.aws.backupBucket}/uploads/${instance}/[0-9a-f-]{36}-feedback_backup\\.json$`));
        const head = await aws.s3.send(new HeadObjectCommand({ Bucket: config.aws.backupBucket, Key: from.slice(`s3://${config.aws.backupBucket}/`.length) }));
        expect({ sse: head.ServerSideEncryption, bytes: head.ContentLength }).toEqual({ sse: 'AES256', bytes: uploaded.bytes });

        const watch = cliLive(['watch', workflowId, '--interval', '200'], taskQueue);
        await watch.waitFor(/approval: waiting, 0\/1/);
        expect((await cli(['approve', workflowId, '--as', 'alice'], taskQueue)).code).toBe(EXIT.ok);
        const { code, stdout, stderr } = await watch.done;
        expect({ code, stderr }).toEqual({ code: EXIT.ok, stderr: '' });
        const out = lines(stdout);
        expect(out).toContain(`  ${feedback}: 7 in the backup, 7 imported, item digest matches`);
        expect(out.at(-1)).toBe(`${workflowId}: succeeded`);

        const restored = await tableItems(aws.dynamodb, feedback);
        expect(restored.size).toBe(original.size);
        for (const [key, item] of original) expect(restored.get(key)).toEqual(item);
      },
      { overrides: { approvals } },
    );
  }, 240_000);

  it('DynamoDB commands refuse bad input with exit 2 and a clear message, and start or upload nothing', async () => {
    const instance = uniqueInstance('cli-ddb-bad');
    const dir = mkdtempSync(path.join(tmpdir(), 'vcp-cli-bad-'));
    const scanFile = path.join(dir, 'users.json');
    writeFileSync(scanFile, JSON.stringify({ Items: [], Count: 0, ScannedCount: 0 }));
    const cases: [string[], RegExp][] = [
      [['recover-dynamodb', instance, '--segments', '0'], /option '--segments <n>' argument '0' is invalid\. a whole number from 1 to 1024/],
      [['recover-dynamodb', instance, '--chunk-max-items', '2.5'], /argument '2\.5' is invalid/],
      [['recover-dynamodb', instance, '--resume-from', 'https://example.com/manifest.json'], /is not an s3:\/\/bucket\/key URL/],
      [['recover-dynamodb', instance, '--resume-from', `s3://${config.aws.backupBucket}/dynamodb-backups/x/chunk-000001.ndjson.gz`], /the s3:\/\/ URL of a backup's manifest\.json/],
      [['recover-dynamodb', instance, '--resume-from', `s3://${config.aws.backupBucket}/x/manifest.json`, '--segments', '2'], /which --resume-from skips/],
      [['recover-dynamodb', instance, '--tables', 'users,orders'], new RegExp(`table "orders" is not one of ${instance}'s tables`)],
      [['recover-dynamodb', instance, '--tables', 'users'], new RegExp(`--tables leaves out matches-${instance}, feedback-${instance}; omit --tables`)],
      [['recover-dynamodb', instance, '--from-other-instance'], /--from-other-instance applies to the backup of --resume-from/],
      [['export-dynamodb', 'Bad_Name'], /not a DNS-1123 label/],
      [['import-dynamodb', instance, '--from', path.join(dir, 'missing.json'), '--tables', 'users'], /missing\.json: no such file/],
      [['import-dynamodb', instance, '--from', dir, '--tables', 'users'], /not a regular file/],
      [['import-dynamodb', instance, '--from', scanFile], /holds one table: name the table to import into with --tables/],
      [['import-dynamodb', instance, '--from', scanFile, '--tables', 'users,matches'], /holds one table/],
      [['import-dynamodb', instance, '--from', `s3://${config.aws.backupBucket}/exports/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-summary.json`], /a DynamoDB native export holds one table: name the table to import into with --tables/],
      [['recover-dynamodb', instance, '--resume-from', `s3://${config.aws.backupBucket}/exports/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-summary.json`], /is a DynamoDB native export: it holds one table and no claim spec/],
      [['import-dynamodb', instance, '--from', 'https://example.com/users.json', '--tables', 'users'], /only s3:\/\/ URLs and local files/],
      [['import-dynamodb', instance, '--tables', 'users'], /required option '--from <source>' not specified/],
    ];
    // A queue of this test's own that no worker polls: anything started stays there to be found.
    const taskQueue = `cli-ddb-bad-${instance}`;
    const results = await Promise.all(cases.map(([args]) => cli(args, taskQueue)));
    cases.forEach(([args, message], i) => {
      expect({ args, code: results[i]!.code }).toEqual({ args, code: EXIT.usage });
      expect(results[i]!.stderr, args.join(' ')).toMatch(message);
    });
    const { client, close } = await temporalClient();
    try {
      await expectNothingStarted(client, { taskQueue, workflowIds: [destructiveWorkflowId(instance)] });
    } finally {
      await close();
    }
    const uploads = await aws.s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: `uploads/${instance}/` }));
    expect(uploads.KeyCount ?? 0).toBe(0);
  });

  it('watch: follows a rollback live through its approval to the end, a plain line per change, exit 0', async () => {
    const instance = uniqueInstance('cli-watch');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    const alice = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'alice', '-o', 'json'])).stdout);
    const bob = json<{ publicKey: string }>((await cli(['keys', 'init', '--as', 'bob', '-o', 'json'])).stdout);
    const approvals = parseApprovalConfig({
      approvers: [
        { user: 'alice', groups: ['sre'], publicKey: alice.publicKey },
        { user: 'bob', groups: ['developers'], publicKey: bob.publicKey },
      ],
    });
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
      // The link is the watcher's own, signed for the watch; the run's result holds none.
      expect(events.at(-1)!.download?.url).toMatch(/X-Amz-Signature=/);
      expect(JSON.stringify(events.at(-1)!.result)).not.toMatch(/X-Amz-Signature/);

      const again = await cli(['watch', handle.workflowId], taskQueue);
      expect(again.code).toBe(EXIT.ok);
      expect(lines(again.stdout)).toEqual([
        `diagnostic-bundle of ${instance}: Succeeded`,
        '  [done   ] Collect (12 collectors in parallel)',
        '  [done   ] Stream the tar.gz to S3',
        '  collectors done: 12/12',
        expect.stringMatching(new RegExp(`^  bundle: s3://${config.aws.backupBucket}/diagnostics/${instance}/\\S+\\.tar\\.gz \\(\\d+ files, \\d+ bytes, sha256 [0-9a-f]{64}\\)$`)),
        expect.stringMatching(/^  download until \S+: http\S+X-Amz-Signature=\S+$/),
        `${handle.workflowId}: succeeded`,
      ]);
    });
  });

  it('watch: a failed run exits 3 with its reason; an unknown workflow ID exits 1; a too short interval exits 2', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      const handle = await startDiagnosticBundle(client, taskQueue, { instance: uniqueInstance('cli-watch-bad'), limits: { maxLogBytes: 0 }, options: { requestedBy: { user: 'bob', via: 'test' } } });
      const failed = await cli(['watch', handle.workflowId, '--interval', '200'], taskQueue);
      expect(failed.code).toBe(EXIT.notSucceeded);
      expect(lines(failed.stdout).at(-1)).toMatch(new RegExp(`^${handle.workflowId}: failed \\(limits\\.maxLogBytes must be a positive integer`));

      const unknown = await cli(['watch', 'no-such-run/cli-watch'], taskQueue);
      expect(unknown.code).toBe(EXIT.error);
      expect(unknown.stderr).toMatch(/no run with workflow ID no-such-run\/cli-watch/);
      const unknownJson = await cli(['watch', 'no-such-run/cli-watch', '-o', 'json'], taskQueue);
      expect(unknownJson.code).toBe(EXIT.error);
      expect(json<{ exitCode: number }>(unknownJson.stdout).exitCode).toBe(EXIT.error);

      expect((await cli(['watch', handle.workflowId, '--interval', '5'], taskQueue)).code).toBe(EXIT.usage);
    });
  });

  it('every option is checked before anything starts or uploads: each bad value exits 2 with the reason, no workflow starts, nothing lands in S3', async () => {
    const instance = uniqueInstance('cli-bad-opts');
    const dir = mkdtempSync(path.join(tmpdir(), 'vcp-cli-opts-'));
    const notScan = path.join(dir, 'users.json');
    writeFileSync(notScan, JSON.stringify({ users: [{ id: 'u1' }] }));
    const bigNotScan = path.join(dir, 'big.json');
    writeFileSync(bigNotScan, `{"Count": 1, "Rows": [${'{"id": {"S": "u"}},'.repeat(100_000)}{}]}`);
    const control = 'fine\u001b[2Jreally';
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [['rollback', instance, '--reason', 'r', '--to', 'HEAD~1'], /--to <revision>' argument 'HEAD~1' is invalid\. target "HEAD~1" is neither "previous" nor a commit hash/],
      [['rollback', instance, '--reason', 'r', '--to', ''], /--to <revision>' argument '' is invalid\. target is required/],
      [['rollback', instance, '--reason', ''], /--reason <text>' argument '' is invalid\. a non-empty text/],
      [['rollback', instance, '--reason', control], /--reason <text>' argument .* is invalid\. text without control characters/],
      [['rollback', instance, '--reason', 'x'.repeat(1001)], /is invalid\. at most 1000 characters/],
      [['rollback', instance, '--reason', 'r', '--as', ''], /--as <user>' argument '' is invalid\. an identity of 1 to 64/],
      [['rollback', instance, '--reason', 'r', '--as', 'eve\nroot'], /--as <user>' argument 'eve\nroot' is invalid\. an identity/],
      [['rollback', instance, '--reason', 'r', '--as', '../../etc/x'], /is invalid\. an identity/],
      [['rollback', instance, '--reason', 'r'], /\$VCP_USER "bob\\u0007" is not an identity .*; name yourself with --as/, { VCP_USER: 'bob\u0007' }],
      [['unpin', instance, '--reason', 'r', '--branch', 'feature..x'], /--branch <name>' argument 'feature\.\.x' is invalid\. a git branch name: no "\.\."/],
      [['unpin', instance, '--reason', 'r', '--branch=-rf'], /a git branch name: not starting with -/],
      [['unpin', instance, '--reason', 'r', '--branch', 'main branch'], /a git branch name: letters, digits/],
      [['unpin', instance, '--reason', 'r', '--branch', '4f2c9d1'], /a branch, not a commit hash/],
      [['diagnostics', instance, '--url-expiry', '0'], /--url-expiry <seconds>' argument '0' is invalid\. a whole number of seconds from 1 to 604800/],
      [['diagnostics', instance, '--url-expiry', '604801'], /a whole number of seconds from 1 to 604800/],
      [['diagnostics', instance, '--as', ''], /an identity of 1 to 64/],
      [['recover-dynamodb', instance, '--segments', '1000000'], /--segments <n>' argument '1000000' is invalid\. a whole number from 1 to 1024/],
      [['recover-dynamodb', instance, '--chunk-max-items', '1000000'], /a whole number from 1 to 100000/],
      [['recover-dynamodb', instance, '--import-concurrency', '257'], /a whole number from 1 to 256/],
      [['recover-dynamodb', instance, '--reason', 'a\tb'], /text without control characters/],
      [['export-dynamodb', instance, '--segments', '2000'], /a whole number from 1 to 1024/],
      [['export-dynamodb', instance, '--method', 'snapshot'], /--method <method>' argument 'snapshot' is invalid\. Allowed choices are scan, native, auto/],
      [['import-dynamodb', instance, '--from', '/proc/self/environ', '--tables', 'users'], /--from \/proc\/self\/environ: not `aws dynamodb scan` output .*nothing was uploaded/],
      [['import-dynamodb', instance, '--from', notScan, '--tables', 'users'], /users\.json: not `aws dynamodb scan` output/],
      [['import-dynamodb', instance, '--from', bigNotScan, '--tables', 'users'], /big\.json: not `aws dynamodb scan` output/],
      [['list', '--limit', '0'], /--limit <n>' argument '0' is invalid\. a whole number from 1 to 10000/],
      [['list', '--limit', 'lots'], /a whole number from 1 to 10000/],
      [['list', '--instance', 'Bad_Name'], /not a DNS-1123 label/],
      [['list', '--runbook', 'nope'], /--runbook <name>' argument 'nope' is invalid\. Allowed choices are/],
      [['watch', 'x', '--url-expiry', '-1'], /--url-expiry <seconds>' argument '-1' is invalid/],
      [['show', 'x', '--url-expiry', '99999999'], /a whole number of seconds from 1 to 604800/],
      [['approve', 'x', '--comment', 'ok\u0007'], /--comment <text>' argument .* is invalid\. text without control characters/],
      [['approve', 'x', '--input', 'bad key=1'], /--input takes key=value with a name for a key/],
      [['reject', 'x', '--comment', ' '], /a non-empty text/],
      [['keys', 'init', '--as', '..'], /an identity of 1 to 64/],
    ];
    const { client, close } = await temporalClient();
    const uploads = async () => (await aws.s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: 'uploads/' }))).Contents?.map((o) => o.Key) ?? [];
    try {
      // A worker runs, so a command that did start something would have it run (and show below).
      await withWorker(async ({ taskQueue }) => {
        const uploadsBefore = await uploads();
        const results: { code: number; stdout: string; stderr: string }[] = [];
        for (const [args, , env] of cases) results.push(await cli(args, taskQueue, env));
        cases.forEach(([args, message], i) => {
          expect({ args, code: results[i]!.code, stderr: results[i]!.stderr }).toMatchObject({ args, code: EXIT.usage });
          expect(results[i]!.stderr, args.join(' ')).toMatch(message);
        });
        await expectNothingStarted(client, { taskQueue, workflowIds: [destructiveWorkflowId(instance)] });
        expect(await uploads()).toEqual(uploadsBefore);
      });
    } finally {
      await close();
    }
  }, 240_000);

  it('diagnostics prints a download link signed with the caller\'s credentials that downloads the archive from moto; show signs one too', async () => {
    const instance = uniqueInstance('cli-diag-link');
    await seedForTest(instance, { sizes: { users: 1, matches: 1, feedback: 1 }, automatedSync: false });
    const approvals = await aliceApprovesBobRequests();
    await withWorker(async ({ taskQueue }) => {
      const started = Date.now();
      const run = await cli(['diagnostics', instance, '--url-expiry', '120', '--as', 'bob', '-o', 'json'], taskQueue);
      expect(run.code, run.stderr).toBe(EXIT.ok);
      const out = json<DiagnosticBundleDetails & { download: DownloadLink }>(run.stdout);
      expect(out.download.url).toMatch(/X-Amz-Expires=120&/);
      expect(Date.parse(out.download.expiresAt) - started).toBeGreaterThan(110_000);
      expect(Date.parse(out.download.expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
      const response = await fetch(out.download.url);
      expect(response.status).toBe(200);
      const bytes = Buffer.from(await response.arrayBuffer());
      expect({ size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual({ size: out.archive.size, sha256: out.archive.sha256 });

      const text = await cli(['diagnostics', instance, '--as', 'bob'], taskQueue);
      expect(text.code, text.stderr).toBe(EXIT.ok);
      expect(lines(text.stdout)[0]).toMatch(new RegExp(`^bundle: s3://${config.aws.backupBucket}/diagnostics/${instance}/\\S+\\.tar\\.gz \\(\\d+ files`));
      expect(lines(text.stdout)[1]).toMatch(/^download until \S+: http\S+X-Amz-Expires=3600&\S+$/);

      const [bundle] = json<{ workflowId: string }[]>((await cli(['list', '--instance', instance, '--runbook', 'diagnostic-bundle', '--limit', '1', '-o', 'json'], taskQueue)).stdout);
      const shown = await cli(['show', bundle!.workflowId, '--url-expiry', '60'], taskQueue);
      expect(shown.code, shown.stderr).toBe(EXIT.ok);
      const link = lines(shown.stdout).find((l) => l.startsWith('  download until '))!;
      expect(link).toMatch(/X-Amz-Expires=60&/);
      expect((await fetch(link.slice(link.indexOf('http')))).status).toBe(200);
    }, { overrides: { approvals } });
  });
});
