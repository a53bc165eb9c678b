/** The diagnostic bundle's pure planning (common/diagnostic-bundle-plan.ts): limits, collectors, where the archive goes. */
import { describe, expect, it } from 'vitest';
import { archiveKeyFor, planBundle } from '../../common/diagnostic-bundle-plan';
import { COLLECTORS, DEFAULT_DIAGNOSTIC_LIMITS } from '../../common/diagnostics';
import type { CollectorName } from '../../common/diagnostics';
import { InvalidInputError } from '../../common/instance';

describe('the diagnostic bundle plan', () => {
  it('collects everything within the default limits unless told otherwise', () => {
    expect(planBundle({})).toEqual({ limits: DEFAULT_DIAGNOSTIC_LIMITS, collectors: [...COLLECTORS] });
    expect(planBundle({ limits: { logTailLines: 50 }, collectors: ['api-logs'] })).toEqual({ limits: { ...DEFAULT_DIAGNOSTIC_LIMITS, logTailLines: 50 }, collectors: ['api-logs'] });
  });

  it('refuses a limit that is not a positive integer and an unknown collector, naming them', () => {
    expect(() => planBundle({ limits: { maxLogBytes: 0 } })).toThrow(InvalidInputError);
    expect(() => planBundle({ limits: { maxBundleBytes: 1.5 } })).toThrow(/limits\.maxBundleBytes must be a positive integer/);
    expect(() => planBundle({ collectors: ['api-logs', 'secrets' as CollectorName] })).toThrow(/unknown collectors: secrets \(known: resources, /);
  });

  it('puts the archive under the instance, by time, unique per run, with no character a key or a shell would trip on', () => {
    expect(archiveKeyFor('demo', '01a23bd9-8134-7acd', new Date('2026-12-03T12:20:39.742Z'))).toBe('diagnostics/demo/2026-12-03T12-20-39-742Z-01a23bd9.tar.gz');
  });
});
