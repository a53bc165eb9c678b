/**
 * Step names are checked by the compiler: a runbook's `step` and `skip` take only the names its
 * definition lists, so a typo fails `make lint` (tsc checks this file) instead of throwing in a
 * workflow task that Temporal would retry forever. Each `@ts-expect-error` below is itself an error
 * if the line it marks compiles, so this file fails to type-check should wrong names be accepted.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RecoveryStep } from '../../workflows/dynamodb/recovery-steps';
import type { Runbook } from '../../workflows/runbook/runbook';

/** Never called: what matters is whether its calls compile. */
function callsTheCompilerChecks(recovery: Runbook<RecoveryStep>): void {
  void recovery.step('delete-claim', () => Promise.resolve());
  recovery.skip('quiesce', 'opted out');
  // @ts-expect-error 'delte-claim' is not a step of the recovery
  void recovery.step('delte-claim', () => Promise.resolve());
  // @ts-expect-error a step of another runbook (the rollback's) is not one of the recovery's
  recovery.skip('revert', 'not needed');
}

/** Never called: steps declared inline are inferred as exactly their names. */
function inferredFromTheDefinition(RunbookClass: typeof Runbook) {
  const runbook = new RunbookClass({
    name: 'drill',
    title: 'Drill',
    instance: 'demo',
    options: { requestedBy: { user: 'bob', via: 'test' } },
    destructive: false,
    startInput: { options: { requestedBy: { user: 'bob', via: 'test' } } },
    steps: [
      { name: 'plan', title: 'Plan' },
      { name: 'change', title: 'Change' },
    ],
  });
  // @ts-expect-error 'chnage' is not a step of this definition
  void runbook.step('chnage', () => Promise.resolve());
  return runbook;
}

describe('typed runbook steps', () => {
  it('the recovery takes exactly the steps its UI lists', () => {
    expectTypeOf<RecoveryStep>().toEqualTypeOf<
      'discover' | 'approve' | 'pause-sync' | 'quiesce' | 'export' | 'verify-backup' | 'confirm' | 'delete-claim' | 'recreate-claim' | 'import' | 'verify-restore'
    >();
  });

  it('a runbook declared inline takes the names of its steps, and only those', () => {
    expectTypeOf<ReturnType<typeof inferredFromTheDefinition>>().toEqualTypeOf<Runbook<'plan' | 'change'>>();
    expect([callsTheCompilerChecks, inferredFromTheDefinition]).toHaveLength(2);
  });
});
