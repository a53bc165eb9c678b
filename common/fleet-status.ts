/**
 * The fleet status runbook's input, rows and report (the guide's check-argocd-status,
 * check-crossplane-status and validate-deployment, over every instance at once), and the pure parts
 * the workflow runs: which instances, how many read at once, each row's problems, the summary.
 * Pure code: safe to import from workflows.
 */
import { forEachLimit } from './concurrency';
import { argoApplicationName, dynamodbClaimName, InvalidInputError, validateInstanceName } from './instance';
import { applicationProblems, claimProblems, deploymentProblems, tableProblems } from './instance-status';
import type { ApplicationStatus, ClaimStatus, DeploymentStatus, TableStatus } from './instance-status';
import type { FleetWorkflowInput } from './workflows';

/** Names no instance: the run reads them all (or those with the prefix). */
export interface FleetStatusInput extends FleetWorkflowInput {
  /** Only instances whose name starts with this (a DNS-1123 label's beginning). */
  prefix?: string;
  /** At most this many instances read at once (FLEET_CONCURRENCY). */
  concurrency?: number;
}

/**
 * How many instances are read at once. Each instance is four reads (Application, claim, Deployments,
 * tables), so the default keeps about 32 activities in flight: well under the worker's slots and
 * the API server's per-client limits, while 50 instances take a handful of rounds.
 */
export const FLEET_CONCURRENCY = { default: 8, max: 32 } as const;

/** One instance's row: what the guide's three checks show, and what is wrong. */
export interface FleetRow {
  instance: string;
  application: Pick<ApplicationStatus, 'name' | 'exists' | 'syncStatus' | 'health' | 'targetRevision' | 'syncedRevision'>;
  claim: ClaimStatus;
  deployments: Pick<DeploymentStatus, 'name' | 'exists' | 'replicas' | 'availableReplicas' | 'available'>[];
  /** DescribeTable's status only: no item counts (a Scan per table is too slow across a fleet). */
  tables: Pick<TableStatus, 'tableName' | 'exists' | 'status'>[];
  problems: string[];
  healthy: boolean;
}

export interface FleetStatusReport {
  checkedAt: string;
  prefix?: string;
  concurrency: number;
  /** Sorted by instance name. */
  instances: FleetRow[];
  summary: { instances: number; healthy: number; unhealthy: number };
  /** Every instance is healthy (true for an empty fleet: nothing is wrong). */
  healthy: boolean;
}

const PREFIX = /^[a-z0-9][-a-z0-9]*$/;

/** The input as the workflow runs it; a bad prefix or concurrency is refused (InvalidInputError). */
export function validateFleetStatusInput(input: FleetStatusInput): { prefix?: string; concurrency: number } {
  const { prefix, concurrency = FLEET_CONCURRENCY.default } = input;
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length > 63 || !PREFIX.test(prefix))) {
    throw new InvalidInputError(`prefix ${JSON.stringify(prefix)} cannot begin an instance name (lowercase letters, digits or "-", starting with a letter or digit, at most 63)`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > FLEET_CONCURRENCY.max) {
    throw new InvalidInputError(`concurrency must be a whole number from 1 to ${FLEET_CONCURRENCY.max}, not ${JSON.stringify(concurrency)}`);
  }
  return { ...(prefix === undefined ? {} : { prefix }), concurrency };
}

/** The instances among the listed namespace names: valid instance names with the prefix, once each, sorted. */
export function selectInstances(names: readonly string[], prefix?: string): string[] {
  const valid = names.filter((name) => {
    try {
      validateInstanceName(name);
      return prefix === undefined || name.startsWith(prefix);
    } catch {
      return false;
    }
  });
  return [...new Set(valid)].sort();
}

/** What one instance's four reads gave: each its value, or why it could not be read. */
export interface InstanceReads {
  application: PromiseSettledResult<ApplicationStatus>;
  claim: PromiseSettledResult<ClaimStatus>;
  deployments: PromiseSettledResult<DeploymentStatus[]>;
  tables: PromiseSettledResult<TableStatus[]>;
}

/** A failure's own words: the innermost cause's first line (an activity failure wraps the activity's error). */
export function failureMessage(reason: unknown): string {
  let err = reason;
  while (err instanceof Error && err.cause instanceof Error) err = err.cause;
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n').find((l) => l.trim()) ?? message;
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

function valueOr<T>(read: PromiseSettledResult<T>, fallback: T, what: string, problems: string[]): T {
  if (read.status === 'fulfilled') return read.value;
  problems.push(`could not read ${what}: ${failureMessage(read.reason)}`);
  return fallback;
}

/** One instance's row from its reads: a read that failed is a problem of its own, never a crash of the whole fleet. */
export function fleetRow(instance: string, reads: InstanceReads): FleetRow {
  const names = { application: argoApplicationName(instance), claim: dynamodbClaimName(instance) };
  const unread: string[] = [];
  const application = valueOr(reads.application, undefined, `the Application ${names.application}`, unread);
  const claim = valueOr(reads.claim, undefined, `the DynamoDB claim ${names.claim}`, unread);
  const deployments = valueOr(reads.deployments, [], 'the Deployments', unread);
  const tables = valueOr(reads.tables, [], 'the tables', unread);
  const problems = [
    ...(application ? applicationProblems(application) : []),
    ...(claim ? claimProblems(claim) : []),
    ...deploymentProblems(deployments),
    ...tableProblems(tables),
    ...unread,
  ];
  return {
    instance,
    application: application
      ? pick(application, ['name', 'exists', 'syncStatus', 'health', 'targetRevision', 'syncedRevision'])
      : { name: names.application, exists: false },
    claim: claim ?? { name: names.claim, exists: false },
    deployments: deployments.map((d) => pick(d, ['name', 'exists', 'replicas', 'availableReplicas', 'available'])),
    tables: tables.map((t) => pick(t, ['tableName', 'exists', 'status'])),
    problems,
    healthy: problems.length === 0,
  };
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.filter((k) => value[k] !== undefined).map((k) => [k, value[k]])) as Pick<T, K>;
}

/**
 * Reads every instance with at most `concurrency` at once. `read` must not throw (fleetRow turns a
 * failed read into a problem); if it does, that instance's row says so and the others are still read.
 */
export async function readFleet(instances: readonly string[], concurrency: number, read: (instance: string) => Promise<FleetRow>): Promise<FleetRow[]> {
  const rows: FleetRow[] = [];
  await forEachLimit(instances, concurrency, async (instance) => {
    try {
      rows.push(await read(instance));
    } catch (err) {
      rows.push({
        instance,
        application: { name: argoApplicationName(instance), exists: false },
        claim: { name: dynamodbClaimName(instance), exists: false },
        deployments: [],
        tables: [],
        problems: [`could not read the instance: ${failureMessage(err)}`],
        healthy: false,
      });
    }
  });
  return rows;
}

/** The report: rows sorted by instance, how many are healthy. */
export function summarizeFleet(rows: readonly FleetRow[], meta: { checkedAt: string; prefix?: string; concurrency: number }): FleetStatusReport {
  const instances = [...rows].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  const healthy = instances.filter((r) => r.healthy).length;
  return {
    checkedAt: meta.checkedAt,
    ...(meta.prefix ? { prefix: meta.prefix } : {}),
    concurrency: meta.concurrency,
    instances,
    summary: { instances: instances.length, healthy, unhealthy: instances.length - healthy },
    healthy: healthy === instances.length,
  };
}
