/**
 * What the receiver asks Temporal for when an alert starts (or attaches to) a runbook: the one place
 * that builds the workflow's input (requester, reason, approval policy) and its start options, so an
 * identity or a signed start request is added here and nowhere else.
 */
import type { Client, WorkflowHandleWithSignaledRunId, WorkflowSignalWithStartOptions } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { WithWorkflowArgs } from '@temporalio/common';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME, RUNBOOK_TRIGGER } from '../common/definitions';
import { alertNotificationSignal } from '../common/runbook';
import type { AlertNotification, RunbookOptions } from '../common/runbook';
import { ALERT_NONCE, diagnosticBundleWorkflow, rollbackWorkflow, triageWorkflow, workflowIdFor } from '../common/workflows';
import type { AnyWorkflowDefinition, InputOf, WorkflowFunction } from '../common/workflows';
import type { AlertRule } from './rules';

/** The parts of an Alertmanager alert a start records. */
export interface FiringAlert {
  labels: Record<string, string>;
  fingerprint: string;
  startsAt: string;
}

/** The runbook (search attribute value) and workflow ID a rule's alert for an instance goes to. */
export function alertTarget(rule: AlertRule, instance: string): { runbookName: string; workflowId: string } {
  const definition = { rollback: rollbackWorkflow, triage: triageWorkflow, 'diagnostic-bundle': diagnosticBundleWorkflow }[rule.runbook];
  return { runbookName: definition.runbook, workflowId: workflowIdFor(definition, { instance }, ALERT_NONCE) };
}

/** A signal-with-start of one runbook, its input type-checked against the workflow's definition. */
export interface AlertStart {
  workflowId: string;
  send(client: Client): Promise<WorkflowHandleWithSignaledRunId>;
}

function signalWithStart<D extends AnyWorkflowDefinition>(
  definition: D,
  options: WithWorkflowArgs<WorkflowFunction<D>, WorkflowSignalWithStartOptions<[AlertNotification]>>,
): AlertStart {
  return {
    workflowId: options.workflowId,
    send: (client) => client.workflow.signalWithStart<WorkflowFunction<D>, [AlertNotification]>(definition.workflowType, options),
  };
}

/**
 * Signal-with-start of the rule's runbook: a run in progress on the instance receives the alert as
 * a signal instead of a second run starting. The run records who asked (the alert, by fingerprint
 * and episode) and carries the episode as RunbookTrigger, so a restarted receiver finds it.
 */
/** Who alert-started runs are requested by unless the receiver is given its own service identity. */
const DEFAULT_ALERT_IDENTITY = 'alertmanager';

export function alertStart(rule: AlertRule, instance: string, alert: FiringAlert, episode: string, taskQueue: string, receivedAt: Date, identity = DEFAULT_ALERT_IDENTITY): AlertStart {
  const { runbookName, workflowId } = alertTarget(rule, instance);
  const alertName = alert.labels.alertname ?? rule.name;
  const requestedBy: RunbookOptions['requestedBy'] = { user: identity, via: 'alert', alert: { name: alertName, fingerprint: alert.fingerprint, startsAt: alert.startsAt } };
  const reason = `alert ${alert.labels.alertname ?? ''} (rule ${rule.name})`;
  const options: RunbookOptions = { requestedBy, reason, approvalPolicy: rule.approvalPolicy };
  const common = {
    taskQueue,
    workflowId,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    signal: alertNotificationSignal,
    signalArgs: [{ name: alertName, fingerprint: alert.fingerprint, startsAt: alert.startsAt, receivedAt: receivedAt.toISOString() }] as [AlertNotification],
    typedSearchAttributes: [
      { key: RUNBOOK_NAME, value: runbookName },
      { key: RUNBOOK_INSTANCE, value: instance },
      { key: RUNBOOK_TRIGGER, value: episode },
    ],
    staticSummary: `${runbookName} of ${instance}, started by alert ${alertName}`,
  };
  if (rule.runbook === 'rollback') {
    const input: InputOf<typeof rollbackWorkflow> = { instance, target: rule.parameters.target ?? 'previous', reason, options };
    return signalWithStart(rollbackWorkflow, { ...common, args: [input] });
  }
  if (rule.runbook === 'triage') {
    const input: InputOf<typeof triageWorkflow> = { instance, options };
    return signalWithStart(triageWorkflow, { ...common, args: [input] });
  }
  const input: InputOf<typeof diagnosticBundleWorkflow> = { instance, options };
  return signalWithStart(diagnosticBundleWorkflow, { ...common, args: [input] });
}
