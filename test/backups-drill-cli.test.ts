/**
 * `runbook backups drill` as an operator runs it (a child process) against the real stack: a passed
 * drill exits 0 with its tables as JSON; a drill of a backup with a tampered chunk exits 3 and prints
 * each table and the chunk that failed; without --wait it prints the started run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../client/cli';
import { parseApprovalConfig } from '../common/approval-config';
import { parseS3Url } from '../common/dynamodb-backup';
import type { BackupManifest, DynamoDbExportDetails } from '../common/dynamodb-backup';
import type { BackupDrillDetails } from '../common/dynamodb-drill';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { seedForTest } from '../test-support/seed';
import { awsClients, config, uniqueInstance, withWorker } from '../test-support/stack';

const exec = promisify(execFile);
const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-drill-cli-keys-'));
const aws = awsClients();
beforeAll(() => ensureBackupBucket(aws.s3, config.aws.backupBucket));
afterAll(() => aws.close());

async function cli(args: string[], taskQueue: string): Promise<{ code: number; stdout: string; stderr: string }> {
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

describe('runbook backups drill', { timeout: 240_000 }, () => {
  it('exits 0 with the passed drill as JSON; without --wait prints the started run; exits 3 with each table and the failed chunk after a chunk is tampered with', async () => {
    const instance = uniqueInstance('cli-drill');
    await seedForTest(instance, { sizes: { users: 20, matches: 6, feedback: 4 } });
    const bob = JSON.parse((await cli(['keys', 'init', '--as', 'bob', '-o', 'json'], 'unused')).stdout) as { publicKey: string };
    const approvals = parseApprovalConfig({ approvers: [{ user: 'bob', groups: ['sre'], publicKey: bob.publicKey }] });
    await withWorker(
      async ({ client, taskQueue }) => {
        const exported = await cli(['export-dynamodb', instance, '--chunk-max-items', '5', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(exported.code, exported.stderr).toBe(EXIT.ok);
        const url = (JSON.parse(exported.stdout) as DynamoDbExportDetails).backup.url;
        const id = url.split('/').at(-2)!;

        const passed = await cli(['backups', 'drill', instance, '--backup', id, '--wait', '--as', 'bob', '-o', 'json'], taskQueue);
        expect(passed.code, passed.stderr).toBe(EXIT.ok);
        const details = JSON.parse(passed.stdout) as BackupDrillDetails;
        expect(details).toMatchObject({ passed: true, items: 30, backup: { url, id } });
        expect(details.tables.map((t) => t.restoredItems)).toEqual([20, 6, 4]);

        const started = await cli(['backups', 'drill', instance, '--as', 'bob'], taskQueue);
        expect(started.code, started.stderr).toBe(EXIT.ok);
        expect(started.stdout).toMatch(new RegExp(`^Restore drill started: backup-drill/${instance}/`));
        // Ended before the chunk is tampered with (and before this worker stops), its scratch tables deleted.
        const startedId = /^Restore drill started: (\S+)/.exec(started.stdout)![1]!;
        expect((await client.workflow.getHandle(startedId).result() as { outcome: string }).outcome).toBe('succeeded');

        const manifest = JSON.parse(await (await aws.s3.send(new GetObjectCommand({ Bucket: config.aws.backupBucket, Key: parseS3Url(url).key }))).Body!.transformToString()) as BackupManifest;
        const chunk = manifest.tables[0]!.segments[0]!.chunks[1]!;
        const body = Buffer.from(await (await aws.s3.send(new GetObjectCommand({ Bucket: config.aws.backupBucket, Key: chunk.key }))).Body!.transformToByteArray());
        await aws.s3.send(new PutObjectCommand({ Bucket: config.aws.backupBucket, Key: chunk.key, Body: gzipSync(gunzipSync(body).toString('utf8').replace('"S":"u-', '"S":"x-')) }));

        const failed = await cli(['backups', 'drill', instance, '--backup', url, '--wait', '--as', 'bob'], taskQueue);
        expect(failed.code).toBe(EXIT.notSucceeded);
        expect(failed.stdout).toContain(`restore drill of ${url}: FAILED`);
        expect(failed.stdout).toMatch(new RegExp(`users-${instance} → drill-[0-9a-f]{12}-users-${instance}: expected 20 items, restored -, not compared`));
        // Re-gzipped, the chunk may be refused for its size before its hash.
        expect(failed.stdout).toMatch(new RegExp(`error: verifyDrillBackupTable: chunk ${chunk.key}: (SHA-256|more than the \\d+ bytes the manifest says)`));
        expect(failed.stderr).toMatch(/the drill FAILED/);
      },
      { overrides: { approvals } },
    );
  });
});
