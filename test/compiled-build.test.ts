/**
 * The image cannot be built here, so this runs what its build stage runs (`npm run build`: tsc with
 * tsconfig.build.json, then worker/build.ts) into a folder of its own under dist/, and then the
 * compiled entry points the image and deploy/ run, with plain node (no tsx: a .ts file could not
 * load): the CLI's help and a `status` of a seeded instance answered by the compiled worker (a
 * versioned worker serving the prebundled workflows, made current as deploy/ROLLOUT.md says), and
 * the receiver's health and readiness endpoints with its default rules from dist/.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../client/cli';
import { initKey } from '../client/keys';
import { seedForTest } from '../test-support/seed';
import { ensureBackupBucket } from '../scripts/seed/aws';
import { awsClients, config, uniqueInstance } from '../test-support/stack';
import { defaultBuildId, PREBUILT_BUNDLE_FILE } from '../worker/workflow-bundle';
import { freePort } from '../test-support/free-port';

const exec = promisify(execFile);
const root = path.join(__dirname, '..');
/**
 * Under dist/ (ignored by git and ESLint) so the compiled files resolve node_modules as dist/'s do,
 * but not dist/ itself: bin/runbook.js prefers dist/client/cli.js, and tests running alongside would
 * pick up a half-written build.
 */
const outDir = path.join(root, 'dist', `.build-test-${randomBytes(4).toString('hex')}`);
/** One deployment for this file's runs; a fresh build folder gives each run's bundle a new build ID. */
const DEPLOYMENT = 'vcp-runbooks-compiled-test';

/** The environment of a process started as the image would start it: the stack's, without any loader vitest set. */
function processEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return { ...env, NODE_NO_WARNINGS: '1', ...extra };
}

beforeAll(async () => {
  // package.json's build script, with tsc's output redirected (test/unit/dockerfile.test.ts pins the script).
  await exec('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root });
  await exec(process.execPath, [path.join(outDir, 'worker', 'build.js')], { cwd: root });
}, 600_000);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('the compiled build (npm run build), run with node from dist/', () => {
  it('holds the product folders\' JavaScript, the prebundled workflows and the receiver\'s default rules; no TypeScript, tests or scripts', () => {
    const { include } = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const top = readdirSync(outDir, { withFileTypes: true });
    expect(top.filter((e) => e.isDirectory()).map((e) => e.name).sort()).toEqual([...include].sort());
    expect(top.filter((e) => e.isFile()).map((e) => e.name)).toEqual([PREBUILT_BUNDLE_FILE]);
    for (const entry of ['worker/main.js', 'client/cli.js', 'receiver/main.js', 'receiver/default-rules.yaml']) expect(existsSync(path.join(outDir, entry)), entry).toBe(true);
    const files = readdirSync(outDir, { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('the compiled CLI prints its help, and its `status` of a seeded instance is answered by the compiled worker, versioned and made current', async () => {
    const cli = (args: string[], env: Record<string, string> = {}) =>
      exec(process.execPath, [path.join(outDir, 'client', 'cli.js'), ...args], { env: processEnv(env) }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout + err.stderr }),
      );
    const help = await cli(['--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toMatch(/^  status \[options\] \[instance\] /m);

    const instance = uniqueInstance('compiled');
    await seedForTest(instance, { sizes: { users: 2, matches: 1, feedback: 1 }, automatedSync: false });
    // status checks the backup bucket too: this file must not depend on another having made it.
    const aws = awsClients();
    await ensureBackupBucket(aws.s3, config.aws.backupBucket).finally(() => aws.close());
    const taskQueue = `compiled-${randomBytes(4).toString('hex')}`;
    const approvers = path.join(mkdtempSync(path.join(tmpdir(), 'vcp-compiled-')), 'approvers.json');
    writeFileSync(approvers, '{}');
    const worker = startProcess(path.join(outDir, 'worker', 'main.js'), {
      VCP_TASK_QUEUE: taskQueue,
      VCP_WORKER_DEPLOYMENT: DEPLOYMENT,
      VCP_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
      VCP_APPROVERS_FILE: approvers,
      VCP_STAGING_DIR: mkdtempSync(path.join(tmpdir(), 'vcp-compiled-staging-')),
    });
    try {
      const started = await worker.waitFor(/worker started[\s\S]*?buildId: '([^']+)'/);
      // The prebundled workflows, not a bundle made at start; the default build ID is that file's hash.
      expect(worker.output()).toContain(path.join(outDir, PREBUILT_BUNDLE_FILE));
      expect(worker.output()).not.toContain('Workflow bundle created');
      const buildId = started[1]!;
      expect(buildId).toBe(defaultBuildId(readFileSync(path.join(outDir, PREBUILT_BUNDLE_FILE), 'utf8')));
      await setCurrentVersion(buildId);

      const status = await cli(['status', instance, '-o', 'json'], { VCP_TASK_QUEUE: taskQueue });
      expect(status.code, status.stdout).toBe(EXIT.ok);
      expect(JSON.parse(status.stdout)).toMatchObject({ healthy: true });
    } finally {
      // SIGTERM is the runtime's shutdown signal: the worker drains and exits 0.
      expect(await worker.stop()).toBe(0);
    }
  });

  it('the compiled receiver answers its health and readiness endpoints, with its default rules from dist/', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-compiled-keys-'));
    initKey('alert-receiver', keyDir);
    const port = await freePort();
    const receiver = startProcess(path.join(outDir, 'receiver', 'main.js'), {
      VCP_ALERT_TOKEN: randomBytes(16).toString('hex'),
      VCP_ALERT_LISTEN: `127.0.0.1:${port}`,
      VCP_ALERT_SIGNING_KEY_FILE: path.join(keyDir, 'alert-receiver.json'),
    });
    try {
      await receiver.waitFor(/alert receiver listening/);
      expect(JSON.parse(receiver.output().split('\n').find((l) => l.includes('alert receiver listening'))!)).toMatchObject({
        rulesFile: path.join(outDir, 'receiver', 'default-rules.yaml'),
      });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const deadline = Date.now() + 30_000;
      let ready = 0;
      while ((ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status) !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
      expect(ready).toBe(200);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });
});

/** deploy/ROLLOUT.md's promotion step, asked again until the server has seen the worker's first poll. */
async function setCurrentVersion(buildId: string): Promise<void> {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('TEMPORAL_CLI is not set: run the tests with `make test`');
  const address = ['--address', config.temporal.connection.address!, '--namespace', config.temporal.namespace];
  // Earlier runs' queues (their workers gone) belong to the version current until now.
  const args = ['worker', 'deployment', 'set-current-version', '--deployment-name', DEPLOYMENT, '--build-id', buildId, '--yes', '--ignore-missing-task-queues', ...address];
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await exec(cli, args);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** A compiled entry point run with node; its stdout and stderr together. */
function startProcess(entry: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [entry], { cwd: root, env: processEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    output: () => output,
    /** The first match of the output, once it appears; fails if the process exits first or after 60 s. */
    async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      const deadline = Date.now() + 60_000;
      let exitCode: number | null | undefined;
      void exited.then((code) => (exitCode = code));
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (exitCode !== undefined) throw new Error(`${entry} exited (${exitCode}) before printing ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`${entry} did not print ${pattern} within 60 s:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop(): Promise<number | null> {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
