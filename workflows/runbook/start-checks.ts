/**
 * What a run checks of its requester and approval policy, against the keyring and policies the
 * workers read (an activity): who started it, and that the start's overrides only tighten.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { effectivePolicy, PolicyLoosened } from '../../common/approval';
import type { ApprovalPolicy, ApprovalPolicyOverrides, ApproverKeyring } from '../../common/approval';
import type { RunbookOptions } from '../../common/runbook';
import { StartRequestRefused, verifyStartRequest } from '../../common/start-request';
import type { AuthenticatedRequester } from '../../common/start-request';
import type { RunbookDefinition } from './definition';
import { activity } from './proxies';

export function loadApprovalConfig(runbook: string): Promise<{ keyring: ApproverKeyring; policy: ApprovalPolicy }> {
  return activity('loadApprovalConfig', 'Load the approvers keyring and policy')(runbook);
}

/** The keyring as it is now and the effective policy (configured, tightened by the start's overrides). */
export async function approvalSettings(runbook: string, overrides: ApprovalPolicyOverrides | undefined): Promise<{ keyring: ApproverKeyring; policy: ApprovalPolicy }> {
  const { keyring, policy: configured } = await loadApprovalConfig(runbook);
  return { keyring, policy: refuseAsFailure(() => effectivePolicy(configured, overrides, keyring)) };
}

/** The start request verified against the keyring, and the policy overrides checked, before anything runs. */
export async function authenticateStart(runbook: string, startInput: { options: RunbookOptions }): Promise<AuthenticatedRequester> {
  const info = workflowInfo();
  const { keyring, policy } = await approvalSettings(runbook, startInput.options.approvalPolicy);
  return refuseAsFailure(() => verifyStartRequest(keyring, info.workflowId, startInput, info.runStartTime.getTime(), policy.allowUnsigned));
}

/**
 * Who started the run. By default its signed start request; a runbook may bring its own check (a
 * scheduled run verifies its schedule's signed request). A read-only run started by another run (a
 * scheduled backup's export) was authenticated by that run: only the worker's workflow code can
 * start a child. A destructive child still needs its own signed start request.
 */
export async function authenticateRun(
  definition: RunbookDefinition<string>,
): Promise<{ requester: AuthenticatedRequester; parent?: { workflowId: string; runId: string } }> {
  if (definition.authenticate) return { requester: await definition.authenticate() };
  const parent = workflowInfo().parent;
  if (parent && !definition.destructive) {
    return { requester: { user: definition.options.requestedBy.user, authenticated: false }, parent: { workflowId: parent.workflowId, runId: parent.runId } };
  }
  return { requester: await authenticateStart(definition.name, definition.startInput) };
}

/** A refused start or policy is the caller's error: fail the run at once with the reason, never retry. */
function refuseAsFailure<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof StartRequestRefused || err instanceof PolicyLoosened) {
      throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
    }
    throw err;
  }
}
