/**
 * The guide's check-argocd-status, check-crossplane-status and validate-deployment over every
 * instance at once, read-only: list the instances, then read each one's Application (sync, health,
 * revision), DynamoDB claim (Ready, Synced), Deployments and tables, a bounded number of instances
 * at a time, as one table. A read that fails is that instance's problem, not the run's failure.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { fleetRow, readFleet, selectInstances, summarizeFleet, validateFleetStatusInput } from '../common/fleet-status';
import type { FleetRow, FleetStatusInput, FleetStatusReport } from '../common/fleet-status';
import { activity } from './runbook/proxies';
import { validateInput } from './runbook/validation';

/**
 * Short retries: a status read that still fails after a few seconds is reported in its row (a
 * fleet-wide table is not worth minutes of waiting for one instance).
 */
const READ: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidInputError'] },
};

export async function fleetStatus(input: FleetStatusInput): Promise<FleetStatusReport> {
  const { prefix, concurrency } = validateInput(() => validateFleetStatusInput(input));
  const instances = await listInstances(prefix);
  const rows = await readFleet(instances, concurrency, readInstance);
  // Workflow time is replay-safe.
  return summarizeFleet(rows, { checkedAt: new Date().toISOString(), prefix, concurrency });
}

/** The instances: namespaces carrying the platform's instance label, those with the prefix. */
async function listInstances(prefix: string | undefined): Promise<string[]> {
  return selectInstances(await activity('listInstanceNamespaces', 'List the instance namespaces', READ)(), prefix);
}

/** One instance's four reads at once; each one that fails is named in the row's problems. */
async function readInstance(instance: string): Promise<FleetRow> {
  const [application, claim, deployments, tables] = await Promise.allSettled([
    activity('readApplicationStatus', `Application of ${instance}`, READ)(instance),
    activity('readClaimStatus', `DynamoDB claim of ${instance}`, READ)(instance),
    activity('describeDeployments', `Deployments of ${instance}`, READ)(instance),
    activity('describeTableStatuses', `Tables of ${instance}`, READ)(instance),
  ]);
  return fleetRow(instance, { application, claim, deployments, tables });
}
