/**
 * After a rollback pinned the Application to a commit: once the fix is out, return it to following
 * its branch. Same care as the rollback: plan, approval, change, a sync started after the change,
 * Synced and Healthy.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { RUNBOOKS } from '../common/definitions';
import { InvalidInputError, validateInstanceName } from '../common/instance';
import { plannedState, validateReason } from '../common/rollback';
import type { UnpinInput } from '../common/rollback';
import type { RunbookResult } from '../common/runbook';
import { pollRollout, rolloutFailureReason, whenNoOperation } from './rollback';
import { activity, Runbook } from './runbook/runbook';
import { validateInput } from './runbook/validation';

const COMMIT = /^[0-9a-f]{7,40}$/;
const BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;

export interface UnpinDetails {
  application: string;
  from: string;
  to: string;
  syncedRevision?: string;
}

export async function unpin(input: UnpinInput): Promise<RunbookResult<UnpinDetails>> {
  const instance = validateInput(() => validateInstanceName(input.instance));
  const reason = validateInput(() => validateReason(input.reason));
  const timeoutMs = input.rolloutTimeoutMs ?? 10 * 60 * 1000;
  const info = workflowInfo();
  const runbook = new Runbook({
    name: RUNBOOKS.unpin,
    title: 'Unpin',
    instance,
    options: { ...input.options, reason },
    destructive: true,
    startInput: input,
    steps: [
      { name: 'read', title: 'Read the Application' },
      { name: 'approve', title: 'Approval' },
      { name: 'patch', title: 'Follow the branch again (and request the sync)' },
      { name: 'wait', title: 'Wait for the sync: Synced, Healthy, Deployments available' },
    ],
  });
  return runbook.run(async () => {
    const app = await runbook.step('read', () => activity('inspectApplication', 'Read the Argo CD Application')(instance));
    const branch = validateInput(() => {
      const wanted = input.branch ?? app.pinnedFrom;
      if (!wanted) throw new InvalidInputError(`${app.name} was not pinned by a rollback runbook; say which branch to follow`);
      if (!BRANCH.test(wanted) || COMMIT.test(wanted)) throw new InvalidInputError(`${JSON.stringify(wanted)} is not a branch name`);
      if (!COMMIT.test(app.desiredRevision)) throw new InvalidInputError(`${app.name} is not pinned: it follows ${app.desiredRevision}`);
      return wanted;
    });
    const plan = { application: app.name, from: app.desiredRevision, to: branch, prune: app.prune, planned: plannedState(app) };
    await runbook.step('approve', () => runbook.approve(plan));
    const change = await runbook.step('patch', () =>
      whenNoOperation(app.name, instance, timeoutMs, async () => {
        const live = await activity('inspectApplication', 'Re-read the Application')(instance);
        runbook.confirmUnchanged(`Application ${app.name}`, { ...plan.planned, owners: app.owners }, { ...plannedState(live), owners: live.owners });
        const result = await activity('setDesiredRevision', `Set ${app.name} to follow ${branch} and sync it`)({
          instance,
          changeId: `${info.workflowId}/${info.runId}/unpin`,
          expectedDesiredRevision: app.desiredRevision,
          toRevision: branch,
          requestSyncOf: branch,
          prune: plan.prune,
          initiatedBy: `vcp-runbooks:${input.options.requestedBy.user}`,
          reason,
          approval: runbook.approvalEvidence(),
          annotations: { 'vcp-runbooks.io/pinned-from': null, 'vcp-runbooks.io/pinned-by': null },
        });
        runbook.recordChange({ object: `applications.argoproj.io/argocd/${app.name}`, action: 'set spec.source.targetRevision and request operation.sync', before: app.desiredRevision, after: branch });
        return result;
      }),
    );
    try {
      const final = await runbook.step('wait', () =>
        pollRollout(timeoutMs, `Wait for ${app.name} to sync ${branch}`)({ instance, changeId: change.changeId, prune: plan.prune }),
      );
      return { application: app.name, from: app.desiredRevision, to: branch, syncedRevision: final.syncedRevision };
    } catch (err) {
      throw ApplicationFailure.create({
        type: 'UnpinFailed',
        message: `${app.name} now follows ${branch} but did not become Synced and Healthy (${rolloutFailureReason(err, timeoutMs)}); roll back again if needed`,
        nonRetryable: true,
      });
    }
  });
}
