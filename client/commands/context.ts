/**
 * What every `runbook` command shares: exit codes, output in text or JSON, the Temporal client with
 * start requests signed by the requester's key, and how a started run, a plan or a result is shown.
 */
import os from 'node:os';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { loadConfig } from '../../common/config';
import type { RunbooksConfig } from '../../common/config';
import type { Requester } from '../../common/start-request';
import type { RunbookResult } from '../../common/runbook';
import { connectClient, workflowUiUrl } from '../connection';
import { loadKey } from '../keys';
import { identity } from '../options';

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** The runbook ended without succeeding (failed, rejected, timed out, cancelled; not skipped, see client/watch.ts endedAsDesigned) or the instance is unhealthy. */
  notSucceeded: 3,
  approvalRefused: 4,
  instanceBusy: 5,
  temporalUnreachable: 6,
  /** `approve`/`reject`: the run did not reach its approval gate within `--wait`, or ended before it. */
  gateNotReached: 7,
  /** `backups pause|resume|delete`: the instance has no backup schedule. */
  scheduleNotFound: 8,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export type Output = 'text' | 'json';

/** What a command's module registers itself with. */
export interface Cli {
  program: Command;
  /** The global `--output`, as parsed. */
  output: () => Output;
}

export function print(output: Output, json: unknown, text: () => string): void {
  console.log(output === 'json' ? JSON.stringify(json, null, 2) : text());
}

/** The requester of a start from this CLI: `--as`, $VCP_USER or the login, on this host. */
export function requestedBy(as?: string): Requester {
  return { user: identity(as), via: 'cli', origin: os.hostname() };
}

/**
 * Start requests are signed with the requester's own key (the workers verify it), loaded when a start
 * names them; without a key the start is refused here, before anything reaches the server.
 */
export const signingKeys = {
  get(user: string): Uint8Array {
    try {
      return loadKey(user).privateKey;
    } catch (err) {
      throw new CliError(`${err instanceof Error ? err.message : String(err)}: the workers only run start requests signed by a key on their keyring`, EXIT.usage);
    }
  },
};

export async function withClient<T>(fn: (client: Client, config: RunbooksConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let connected;
  try {
    connected = await connectClient(config, signingKeys);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), EXIT.temporalUnreachable);
  }
  try {
    return await fn(connected.client, config);
  } finally {
    await connected.close();
  }
}

function uiLink(config: RunbooksConfig, handle: { workflowId: string }, runId: string): string {
  return workflowUiUrl(process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233', config.temporal.namespace, handle.workflowId, runId);
}

export async function startedMessage(output: Output, config: RunbooksConfig, handle: WorkflowHandle, what: string, extra: { json?: object } = {}): Promise<void> {
  const { runId } = await handle.describe();
  print(output, { workflowId: handle.workflowId, runId, ui: uiLink(config, handle, runId), ...extra.json }, () =>
    [
      `${what} started: ${handle.workflowId}`,
      `  watch:   runbook watch ${handle.workflowId}`,
      `  approve: runbook approve ${handle.workflowId}`,
      `  UI:      ${uiLink(config, handle, runId)}`,
    ].join('\n'),
  );
}

/** The run's result; a run that ended without succeeding exits 3 with its reason. */
export async function runResult<T>(handle: { workflowId: string; result(): Promise<RunbookResult<T>> }): Promise<RunbookResult<T>> {
  let result: RunbookResult<T>;
  try {
    result = await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new CliError(`${handle.workflowId} failed: ${err.cause?.message ?? err.message}`, EXIT.notSucceeded);
    throw err;
  }
  if (result.outcome !== 'succeeded' && result.outcome !== 'planned') {
    throw new CliError(`${handle.workflowId} ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`, EXIT.notSucceeded);
  }
  return result;
}

/** A dry run's plan: JSON as the run returned it, or as lines a person reads. */
export function printPlan<P>(output: Output, result: RunbookResult<unknown>, lines: (plan: P) => string[], extra: { json?: object } = {}): void {
  print(output, { plan: result.plan, planDigest: result.planDigest, ...extra.json }, () => [`plan ${result.planDigest}`, ...lines(result.plan as P)].join('\n'));
}

export const planAsJson = (plan: unknown) => JSON.stringify(plan, null, 2).split('\n');
