/** What a diagnostic bundle collects and where its archive goes. Pure code (the workflow imports it). */
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS } from './diagnostics';
import type { CollectorName, DiagnosticBundleInput, DiagnosticLimits } from './diagnostics';
import { InvalidInputError } from './instance';

/** The limits with their defaults, each a positive integer, and the collectors asked for (all by default), each a known one. */
export function planBundle(input: Pick<DiagnosticBundleInput, 'limits' | 'collectors'>): { limits: DiagnosticLimits; collectors: CollectorName[] } {
  const limits = { ...DEFAULT_DIAGNOSTIC_LIMITS, ...input.limits };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) throw new InvalidInputError(`limits.${name} must be a positive integer`);
  }
  const unknown = (input.collectors ?? []).filter((c) => !(COLLECTORS as readonly string[]).includes(c));
  if (unknown.length > 0) throw new InvalidInputError(`unknown collectors: ${unknown.join(', ')} (known: ${COLLECTORS.join(', ')})`);
  return { limits, collectors: input.collectors ?? [...COLLECTORS] };
}

/** `diagnostics/<instance>/<time>-<run>.tar.gz`: sorted by time within an instance, unique per run. */
export function archiveKeyFor(instance: string, runId: string, at: Date): string {
  const stamp = at.toISOString().replace(/[:.]/g, '-');
  return `diagnostics/${instance}/${stamp}-${runId.slice(0, 8)}.tar.gz`;
}
