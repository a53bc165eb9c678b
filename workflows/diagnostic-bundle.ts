/**
 * The guide's "Collecting Diagnostic Information", as one read-only runbook: every collector runs in
 * parallel as its own activity (a failing one is recorded, the rest still land), then one activity
 * streams everything into a tar.gz in S3 with a manifest and returns a pre-signed download link.
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
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS, MAX_PRESIGN_SECONDS, STAGING_LOST } from '../common/diagnostics';
import type { CollectorName, CollectorOutcome, DiagnosticArchive, DiagnosticBundleDetails, DiagnosticBundleInput, DiagnosticLimits } from '../common/diagnostics';
import { InvalidInputError, validateInstanceName } from '../common/instance';
import type { RunbookResult } from '../common/runbook';
import { Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';

function validateLimits(input: DiagnosticBundleInput): { limits: DiagnosticLimits; urlExpirySeconds: number } {
  const limits = { ...DEFAULT_DIAGNOSTIC_LIMITS, ...input.limits };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) throw new InvalidInputError(`limits.${name} must be a positive integer`);
  }
  const urlExpirySeconds = input.urlExpirySeconds ?? 3600;
  if (!Number.isInteger(urlExpirySeconds) || urlExpirySeconds <= 0 || urlExpirySeconds > MAX_PRESIGN_SECONDS) {
    throw new InvalidInputError(`urlExpirySeconds must be between 1 and ${MAX_PRESIGN_SECONDS} (SigV4 allows at most 7 days)`);
  }
  const unknown = (input.collectors ?? []).filter((c) => !(COLLECTORS as readonly string[]).includes(c));
  if (unknown.length > 0) throw new InvalidInputError(`unknown collectors: ${unknown.join(', ')} (known: ${COLLECTORS.join(', ')})`);
  return { limits, urlExpirySeconds };
}

/** Workers tried before the run gives up on staging (each lost worker costs a fresh collection). */
const STAGING_ATTEMPTS = 3;

/**
 * The archive runs on the staging worker's own queue: if nothing takes it within this time, that
 * worker is gone (a schedule-to-start timeout is not retried on the same queue).
 */
const ON_STAGING_WORKER = { scheduleToStartTimeout: '30 seconds', heartbeatTimeout: '30 seconds', retry: { maximumAttempts: 3 } } as const;

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

export async function diagnosticBundle(input: DiagnosticBundleInput): Promise<RunbookResult<DiagnosticBundleDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const { limits, urlExpirySeconds } = validateInput(() => validateLimits(input));
  const collectors = input.collectors ?? [...COLLECTORS];
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.diagnosticBundle,
    title: 'Diagnostic bundle',
    instance,
    options: input.options,
    destructive: false,
    startInput: input,
    steps: [
      { name: 'collect', title: `Collect (${collectors.length} collectors in parallel)` },
      { name: 'archive', title: 'Stream the tar.gz to S3 and sign a download link' },
    ],
  });
  return runbook.run(async () => {
    const bundleId = `${instance}/${info.runId}`;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const archiveKey = `diagnostics/${instance}/${stamp}-${info.runId.slice(0, 8)}.tar.gz`;
    const { diagnosticsStagingHost } = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', summary: 'This worker\'s staging queue' });
    runbook.setCounter('collectors total', collectors.length);

    /** One collector on this worker; its failure is its outcome. */
    const collect = async (collector: CollectorName): Promise<CollectorOutcome> => {
      const run = proxyLocalActivities<Activities>({ summary: `Collect ${collector}`, startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 3 } }).collectDiagnostics;
      try {
        return await run({ bundleId, instance, collector, limits });
      } catch (err) {
        return { collector, status: 'failed', files: [], notes: [], error: failureMessage(err), startedAt: new Date().toISOString(), durationMs: 0 };
      }
    };

    for (let attempt = 1; ; attempt++) {
      let done = 0;
      runbook.setCounter('collectors done', 0);
      // Cancelled when the attempt is abandoned, so nothing of it stays waiting on a lost worker's queue.
      const attemptScope = new CancellationScope();
      try {
        return await attemptScope.run(async () => {
          // Asked beside the collectors: local activities of one workflow task run on one worker.
          const stagingHost = diagnosticsStagingHost();
          const outcomes = await runbook.step('collect', () =>
            Promise.all(
              collectors.map(async (collector) => {
                const outcome = await collect(collector);
                runbook.setCounter('collectors done', ++done);
                return outcome;
              }),
            ),
          );
          if (outcomes.every((o) => o.status === 'failed')) {
            throw ApplicationFailure.create({ type: 'NothingCollected', message: `every collector failed: ${outcomes.map((o) => `${o.collector}: ${o.error}`).join('; ')}`, nonRetryable: true });
          }
          const { taskQueue } = await stagingHost;
          const archive: DiagnosticArchive = await runbook.step('archive', () =>
            proxyActivities<Activities>({ ...ON_STAGING_WORKER, taskQueue, summary: 'Build the tar.gz in S3', startToCloseTimeout: '15 minutes' }).buildDiagnosticArchive({
              bundleId,
              instance,
              archiveKey,
              outcomes,
              limits,
              urlExpirySeconds,
              inputs: { instance, collectors, limits, urlExpirySeconds, requestedBy: input.options.requestedBy },
            }),
          );
          runbook.note(`Bundle: s3://${archive.bucket}/${archive.key} (${archive.size} bytes, sha256 ${archive.sha256.slice(0, 16)}…)`);
          return {
            archive,
            collectors: outcomes.map((o) => ({ collector: o.collector, status: o.status, files: o.files.length, error: o.error })),
          };
        });
      } catch (err) {
        attemptScope.cancel();
        if (!stagingLost(err)) throw err;
        const reason = failureMessage(err);
        if (attempt >= STAGING_ATTEMPTS) {
          throw ApplicationFailure.create({ type: 'StagingWorkersLost', message: `lost the staging worker ${attempt} times, last: ${reason}`, nonRetryable: true });
        }
        runbook.note(`Attempt ${attempt}: the worker holding the staged files was lost (${reason}); collecting again`);
      }
    }
  });
}
