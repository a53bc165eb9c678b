/**
 * Stopping and starting the servers of the test stack (scripts/stack/restart.sh), for tests that
 * prove a runbook in flight survives a restart of a server it depends on.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RESTART_SCRIPT = path.join(__dirname, '..', 'scripts', 'stack', 'restart.sh');

/** The servers a runbook depends on whose state survives a restart (moto's does not: see tcp-fault-proxy.ts). */
export type StackServer = 'temporal' | 'kube-apiserver' | 'dynalite' | 'argocd-application-controller' | 'platform-sim';

/**
 * Restarting servers disturbs every run on the stack, so only a stack that belongs to this test run
 * may be restarted: `make test` starts its own and sets VCP_ALLOW_SERVER_RESTARTS=1.
 */
export const serverRestartsAllowed = process.env.VCP_ALLOW_SERVER_RESTARTS === '1' && Boolean(process.env.VCP_STATE_DIR);

async function restartScript(args: string[]): Promise<void> {
  if (!serverRestartsAllowed) throw new Error('restarting servers needs a stack of this test run: VCP_ALLOW_SERVER_RESTARTS=1 and VCP_STATE_DIR (the stack env file sets it)');
  try {
    await run(RESTART_SCRIPT, args, { env: process.env, timeout: 240_000 });
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`scripts/stack/restart.sh ${args.join(' ')} failed: ${stderr?.trim() ?? String(err)}`, { cause: err });
  }
}

/** Stops the server and leaves it down (its state stays on disk). */
export function stopServer(server: StackServer): Promise<void> {
  return restartScript(['--stop', server]);
}

/** Starts a stopped server with the flags the stack started it with; resolves once it answers. */
export function startServer(server: StackServer): Promise<void> {
  return restartScript(['--start', server]);
}

/**
 * Stops the server, waits for `whileDown` (a condition the test observes, e.g. that the run has met
 * the outage), and starts it again. The server is started again even when `whileDown` fails.
 */
export async function restartServer(server: StackServer, whileDown: () => Promise<unknown> = () => Promise.resolve()): Promise<void> {
  await stopServer(server);
  try {
    await whileDown();
  } finally {
    await startServer(server);
  }
}
