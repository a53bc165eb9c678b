/**
 * Workflows are started through their definitions (common/workflows.ts): IDs come from one place, and
 * a wrong argument is a compile error (each `@ts-expect-error` below fails `make lint` if the start it
 * marks were to compile).
 */
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { startRunbook, startRollback } from '../../client/runbooks';
import {
  ALERT_NONCE,
  diagnosticBundleWorkflow,
  dynamodbImportWorkflow,
  instanceStatusWorkflow,
  rollbackWorkflow,
  WORKFLOWS,
  workflowIdFor,
} from '../../common/workflows';
import { alertTarget } from '../../receiver/start';
import type { AlertRule } from '../../receiver/rules';

const requestedBy = { user: 'bob', via: 'test' as const };

describe('workflow definitions', () => {
  it('build every workflow ID: the instance lock for destructive runs, a plan ID for their dry runs, one per request for read-only runs', () => {
    expect(workflowIdFor(rollbackWorkflow, { instance: 'a', options: { requestedBy } }, 'n1')).toBe('destructive/a');
    expect(workflowIdFor(dynamodbImportWorkflow, { instance: 'a', options: { requestedBy, dryRun: true } }, 'n1')).toBe('plan/dynamodb-import/a/n1');
    expect(workflowIdFor(instanceStatusWorkflow, { instance: 'a' }, 'n1')).toBe('instance-status/a');
    expect(workflowIdFor(diagnosticBundleWorkflow, { instance: 'a' }, 'n1')).toBe('diagnostic-bundle/a/n1');
    expect(workflowIdFor(diagnosticBundleWorkflow, { instance: 'a' }, ALERT_NONCE)).toBe('diagnostic-bundle/a/alert');
  });

  it('give the receiver the same IDs as the client: an alert\'s rollback takes the instance lock', () => {
    const rule = (runbook: AlertRule['runbook']) => ({ runbook }) as AlertRule;
    expect(alertTarget(rule('rollback'), 'a')).toEqual({ runbookName: 'rollback', workflowId: 'destructive/a' });
    expect(alertTarget(rule('diagnostic-bundle'), 'a')).toEqual({ runbookName: 'diagnostic-bundle', workflowId: 'diagnostic-bundle/a/alert' });
  });

  it('name every workflow by the key it is listed under', () => {
    for (const [key, definition] of Object.entries(WORKFLOWS)) expect(definition.workflowType).toBe(key);
  });

  it('type-check each start\'s input (compile-time: never called)', () => {
    const typeChecksOnly = async (client: Client) => {
      // @ts-expect-error a rollback needs a target
      await startRunbook(client, rollbackWorkflow, { instance: 'a', reason: 'r', options: { requestedBy } }, { taskQueue: 'q' });
      // @ts-expect-error an unpin's input is not a rollback's
      await startRollback(client, 'q', { instance: 'a', branch: 'main', reason: 'r', options: { requestedBy } });
      // @ts-expect-error an import names its source
      await startRunbook(client, dynamodbImportWorkflow, { instance: 'a', options: { requestedBy } }, { taskQueue: 'q' });
      const handle = await startRunbook(client, instanceStatusWorkflow, { instance: 'a' }, { taskQueue: 'q' });
      // The result is the workflow's own type: a status report, not `unknown`.
      const healthy: boolean = (await handle.result()).healthy;
      return healthy;
    };
    expect(typeof typeChecksOnly).toBe('function');
  });
});
