/**
 * The guide's "Collecting Diagnostic Information", as one read-only runbook: every collector runs in
 * parallel as its own activity (a failing one is recorded, the rest still land), then one activity
 * streams everything into a tar.gz in S3 with a manifest and returns a pre-signed download link.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { RUNBOOKS } from '../common/definitions';
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS, MAX_PRESIGN_SECONDS } from '../common/diagnostics';
import type { CollectorOutcome, DiagnosticBundleDetails, DiagnosticBundleInput, DiagnosticLimits } from '../common/diagnostics';
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
    steps: [
      { name: 'collect', title: `Collect (${collectors.length} collectors in parallel)` },
      { name: 'archive', title: 'Stream the tar.gz to S3 and sign a download link' },
    ],
  });
  return runbook.run(async () => {
    const bundleId = `${instance}/${info.runId}`;
    let done = 0;
    runbook.setCounter('collectors done', 0);
    runbook.setCounter('collectors total', collectors.length);
    const outcomes: CollectorOutcome[] = await runbook.step('collect', () =>
      Promise.all(
        collectors.map(async (collector) => {
          const collect = proxyActivities<Activities>({
            summary: `Collect ${collector}`,
            startToCloseTimeout: '5 minutes',
            heartbeatTimeout: '1 minute',
            retry: { maximumAttempts: 3 },
          }).collectDiagnostics;
          const outcome = await collect({ bundleId, instance, collector, limits }).catch(
            (err: unknown): CollectorOutcome => ({
              collector,
              status: 'failed',
              files: [],
              notes: [],
              error: err instanceof Error ? err.message : String(err),
              startedAt: new Date().toISOString(),
              durationMs: 0,
            }),
          );
          runbook.setCounter('collectors done', ++done);
          return outcome;
        }),
      ),
    );
    if (outcomes.every((o) => o.status === 'failed')) {
      throw ApplicationFailure.create({ type: 'NothingCollected', message: `every collector failed: ${outcomes.map((o) => `${o.collector}: ${o.error}`).join('; ')}`, nonRetryable: true });
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const archive = await runbook.step('archive', () =>
      proxyActivities<Activities>({
        summary: 'Build the tar.gz in S3',
        startToCloseTimeout: '15 minutes',
        heartbeatTimeout: '1 minute',
        retry: { maximumAttempts: 3 },
      }).buildDiagnosticArchive({
        bundleId,
        instance,
        archiveKey: `diagnostics/${instance}/${stamp}-${info.runId.slice(0, 8)}.tar.gz`,
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
}
