/**
 * The guide's "Collecting Diagnostic Information", as one read-only runbook: every collector runs in
 * parallel as its own activity (a failing one is recorded, the rest still land), then one activity
 * streams everything into a tar.gz in S3 with a manifest and returns where it is (never a download
 * link: a result stays in the history, and a pre-signed URL is a credential; the CLI signs one).
 *
 * Collectors are local activities: short, read-only and idempotent, they run on the worker that
 * runs the workflow task, with no server round trip each, and stage their files on its disk. The
 * archive then runs on that same worker process through the process's own task queue. If that
 * worker is lost, its staged files are too, and the bundle is collected again on another worker:
 * before the collectors' results are recorded, Temporal itself hands the workflow task to another
 * worker; after, the archive finds nobody on the lost worker's queue and the run collects again.
 * Progress (collectors done) is published with each workflow task; while a long collection holds
 * one, the SDK completes it about every 8 seconds (80% of its timeout) with what has finished.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, proxyActivities, proxyLocalActivities, TimeoutFailure, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RUNBOOKS } from '../common/definitions';
import { archiveKeyFor, planBundle } from '../common/diagnostic-bundle-plan';
import { STAGING_LOST } from '../common/diagnostics';
import type { CollectorName, CollectorOutcome, DiagnosticArchive, DiagnosticBundleDetails, DiagnosticBundleInput, DiagnosticLimits } from '../common/diagnostics';
import { validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';

/** Workers tried before the run gives up on staging (each lost worker costs a fresh collection). */
const STAGING_ATTEMPTS = 3;

/**
 * The archive runs on the staging worker's own queue: if nothing takes it within this time, that
 * worker is gone (a schedule-to-start timeout is not retried on the same queue).
 */
const ON_STAGING_WORKER = { scheduleToStartTimeout: '30 seconds', heartbeatTimeout: '30 seconds', retry: { maximumAttempts: 3 } } as const;

type BundleStep = 'collect' | 'archive';

/** One bundle run, as its steps share it. */
interface Bundle {
  runbook: Runbook<BundleStep>;
  input: DiagnosticBundleInput;
  instance: string;
  collectors: CollectorName[];
  limits: DiagnosticLimits;
  /** Names the bundle's staging folder on the worker. */
  bundleId: string;
}

export async function diagnosticBundle(input: DiagnosticBundleInput): Promise<RunbookResult<DiagnosticBundleDetails>> {
  const b = setup(input);
  return b.runbook.run(() => collectAndArchive(b));
}

/** `input.urlExpirySeconds`, sent by older starters, is ignored: the bundle has no link to sign. */
function setup(input: DiagnosticBundleInput): Bundle {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const { limits, collectors } = validateInput(() => planBundle(input));
  const runbook = new Runbook<BundleStep>({
    name: RUNBOOKS.diagnosticBundle,
    title: 'Diagnostic bundle',
    instance,
    options: input.options,
    destructive: false,
    startInput: input,
    steps: [
      { name: 'collect', title: `Collect (${collectors.length} collectors in parallel)` },
      { name: 'archive', title: 'Stream the tar.gz to S3' },
    ],
  });
  return { runbook, input, instance, collectors, limits, bundleId: `${instance}/${workflowInfo().runId}` };
}

/** Collect on one worker and archive from there; if that worker is lost with the staged files, collect again on another. */
async function collectAndArchive(b: Bundle): Promise<DiagnosticBundleDetails> {
  const archiveKey = archiveKeyFor(b.instance, workflowInfo().runId, new Date());
  b.runbook.setCounter('collectors total', b.collectors.length);
  for (let attempt = 1; ; attempt++) {
    // Cancelled when the attempt is abandoned, so nothing of it stays waiting on a lost worker's queue.
    const attemptScope = new CancellationScope();
    try {
      return await attemptScope.run(() => collectOnOneWorker(b, archiveKey));
    } catch (err) {
      attemptScope.cancel();
      if (!stagingLost(err)) throw err;
      const reason = failureMessage(err);
      if (attempt >= STAGING_ATTEMPTS) {
        throw ApplicationFailure.create({ type: 'StagingWorkersLost', message: `lost the staging worker ${attempt} times, last: ${reason}`, nonRetryable: true });
      }
      b.runbook.note(`Attempt ${attempt}: the worker holding the staged files was lost (${reason}); collecting again`);
    }
  }
}

async function collectOnOneWorker(b: Bundle, archiveKey: string): Promise<DiagnosticBundleDetails> {
  const { diagnosticsStagingHost } = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', summary: 'This worker\'s staging queue' });
  // Asked beside the collectors: local activities of one workflow task run on one worker.
  const stagingHost = diagnosticsStagingHost();
  const outcomes = await collect(b);
  if (outcomes.every((o) => o.status === 'failed')) {
    throw ApplicationFailure.create({ type: 'NothingCollected', message: `every collector failed: ${outcomes.map((o) => `${o.collector}: ${o.error}`).join('; ')}`, nonRetryable: true });
  }
  const archive = await archiveBundle(b, outcomes, archiveKey, (await stagingHost).taskQueue);
  return {
    archive,
    collectors: outcomes.map((o) => ({ collector: o.collector, status: o.status, files: o.files.length, error: o.error })),
  };
}

/** The guide's `kubectl get|describe|logs ... > diagnostics/...`: every collector in parallel on this worker; a failure is its outcome. */
async function collect(b: Bundle): Promise<CollectorOutcome[]> {
  let done = 0;
  b.runbook.setCounter('collectors done', 0);
  return b.runbook.step('collect', () =>
    Promise.all(
      b.collectors.map(async (collector) => {
        const outcome = await collectOne(b, collector);
        b.runbook.setCounter('collectors done', ++done);
        return outcome;
      }),
    ),
  );
}

async function collectOne(b: Bundle, collector: CollectorName): Promise<CollectorOutcome> {
  const run = proxyLocalActivities<Activities>({ summary: `Collect ${collector}`, startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 3 } }).collectDiagnostics;
  try {
    return await run({ bundleId: b.bundleId, instance: b.instance, collector, limits: b.limits });
  } catch (err) {
    return { collector, status: 'failed', files: [], notes: [], error: failureMessage(err), startedAt: new Date().toISOString(), durationMs: 0 };
  }
}

/** One tar.gz with a manifest, streamed to S3 by the worker that holds the staged files. */
async function archiveBundle(b: Bundle, outcomes: CollectorOutcome[], archiveKey: string, taskQueue: string): Promise<DiagnosticArchive> {
  const { instance, collectors, limits } = b;
  const archive = await b.runbook.step('archive', () =>
    proxyActivities<Activities>({ ...ON_STAGING_WORKER, taskQueue, summary: 'Build the tar.gz in S3', startToCloseTimeout: '15 minutes' }).buildDiagnosticArchive({
      bundleId: b.bundleId,
      instance,
      archiveKey,
      outcomes,
      limits,
      inputs: { instance, collectors, limits, requestedBy: b.input.options.requestedBy },
    }),
  );
  b.runbook.note(`Bundle: s3://${archive.bucket}/${archive.key} (${archive.size} bytes, sha256 ${archive.sha256.slice(0, 16)}…)`);
  return archive;
}

/** The staging worker is gone (it stopped heartbeating, or nothing takes work from its queue), or the archive did not find the staged files. */
function stagingLost(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  const { cause } = err;
  if (cause instanceof TimeoutFailure) return cause.timeoutType === 'HEARTBEAT' || cause.timeoutType === 'SCHEDULE_TO_START';
  return cause instanceof ApplicationFailure && cause.type === STAGING_LOST;
}

function failureMessage(err: unknown): string {
  return err instanceof ActivityFailure && err.cause ? err.cause.message : err instanceof Error ? err.message : String(err);
}
