/**
 * The pure parts of `runbook status --all` (common/fleet-status.ts): which instances, the input's
 * checks, each row's problems (a failed read is a problem, not a crash), the concurrency bound, the
 * summary and its text table; and the fleet's workflow IDs, which name no instance.
 */
import type { Client } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { fleetStatusLines } from '../../client/commands/status';
import { startFleetStatus } from '../../client/runbooks';
import { FLEET_CONCURRENCY, fleetRow, readFleet, selectInstances, summarizeFleet, validateFleetStatusInput } from '../../common/fleet-status';
import type { FleetRow, FleetStatusInput, InstanceReads } from '../../common/fleet-status';
import { InvalidInputError } from '../../common/instance';
import type { ApplicationStatus, ClaimStatus, DeploymentStatus, TableStatus } from '../../common/instance-status';
import { fleetStatusWorkflow, instanceStatusWorkflow, workflowIdFor } from '../../common/workflows';

const ok = <T>(value: T): PromiseFulfilledResult<T> => ({ status: 'fulfilled', value });
const failed = (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason });

function healthyReads(instance: string): { [K in keyof InstanceReads]: InstanceReads[K] extends PromiseSettledResult<infer T> ? T : never } {
  return {
    application: { name: `virtual-coffee-${instance}`, exists: true, syncStatus: 'Synced', health: 'Healthy', targetRevision: 'main', syncedRevision: 'abc123def4567890', automatedSync: true },
    claim: { name: `${instance}-dynamodb`, exists: true, ready: 'True', synced: 'True' },
    deployments: [
      { name: 'virtual-coffee-api', exists: true, replicas: 2, availableReplicas: 2, readyReplicas: 2, available: true, images: ['api:1'] },
      { name: 'virtual-coffee-frontend', exists: true, replicas: 1, availableReplicas: 1, readyReplicas: 1, available: true, images: ['fe:1'] },
    ],
    tables: ['users', 'matches', 'feedback'].map((base): TableStatus => ({ tableName: `${base}-${instance}`, exists: true, status: 'ACTIVE' })),
  };
}

function settle(reads: ReturnType<typeof healthyReads>, overrides: Partial<InstanceReads> = {}): InstanceReads {
  return { application: ok(reads.application), claim: ok(reads.claim), deployments: ok(reads.deployments), tables: ok(reads.tables), ...overrides };
}

describe('fleet status input', () => {
  it('defaults the concurrency and accepts a prefix that can begin an instance name', () => {
    expect(validateFleetStatusInput({})).toEqual({ concurrency: FLEET_CONCURRENCY.default });
    expect(validateFleetStatusInput({ prefix: 'team-a-', concurrency: 1 })).toEqual({ prefix: 'team-a-', concurrency: 1 });
    expect(validateFleetStatusInput({ concurrency: FLEET_CONCURRENCY.max })).toEqual({ concurrency: FLEET_CONCURRENCY.max });
  });

  it.each([
    [{ prefix: 'Team' }, /prefix "Team" cannot begin an instance name/],
    [{ prefix: '' }, /prefix "" cannot begin an instance name/],
    [{ prefix: '-a' }, /cannot begin an instance name/],
    [{ prefix: 'a'.repeat(64) }, /cannot begin an instance name/],
    [{ prefix: 'a/b' }, /cannot begin an instance name/],
    [{ concurrency: 0 }, /concurrency must be a whole number from 1 to 32, not 0/],
    [{ concurrency: FLEET_CONCURRENCY.max + 1 }, /not 33/],
    [{ concurrency: 2.5 }, /not 2.5/],
  ])('refuses %j', (input, message) => {
    expect(() => validateFleetStatusInput(input)).toThrow(InvalidInputError);
    expect(() => validateFleetStatusInput(input)).toThrow(message);
  });
});

describe('selectInstances', () => {
  it('keeps valid instance names with the prefix, once each, sorted', () => {
    const names = ['b-2', 'a-1', 'kube-system-not-an-instance'.toUpperCase(), 'b-1', 'b-2', 'c-1'];
    expect(selectInstances(names)).toEqual(['a-1', 'b-1', 'b-2', 'c-1']);
    expect(selectInstances(names, 'b-')).toEqual(['b-1', 'b-2']);
    expect(selectInstances(names, 'z')).toEqual([]);
  });
});

describe('fleetRow', () => {
  it('is healthy with no problems when every read is, keeping only the columns the table shows', () => {
    const row = fleetRow('a', settle(healthyReads('a')));
    expect(row).toEqual({
      instance: 'a',
      application: { name: 'virtual-coffee-a', exists: true, syncStatus: 'Synced', health: 'Healthy', targetRevision: 'main', syncedRevision: 'abc123def4567890' },
      claim: { name: 'a-dynamodb', exists: true, ready: 'True', synced: 'True' },
      deployments: [
        { name: 'virtual-coffee-api', exists: true, replicas: 2, availableReplicas: 2, available: true },
        { name: 'virtual-coffee-frontend', exists: true, replicas: 1, availableReplicas: 1, available: true },
      ],
      tables: [
        { tableName: 'users-a', exists: true, status: 'ACTIVE' },
        { tableName: 'matches-a', exists: true, status: 'ACTIVE' },
        { tableName: 'feedback-a', exists: true, status: 'ACTIVE' },
      ],
      problems: [],
      healthy: true,
    });
  });

  it('names each problem: Application out of sync and degraded, claim not ready, a Deployment short, a table missing and one not ACTIVE', () => {
    const reads = healthyReads('a');
    const application: ApplicationStatus = { ...reads.application, syncStatus: 'OutOfSync', health: 'Degraded' };
    const claim: ClaimStatus = { name: 'a-dynamodb', exists: true, ready: 'False', synced: 'True', message: 'cannot create table' };
    const deployments: DeploymentStatus[] = [{ ...reads.deployments[0]!, availableReplicas: 1, available: false }, { name: 'virtual-coffee-frontend', exists: false }];
    const tables: TableStatus[] = [{ tableName: 'users-a', exists: false }, { tableName: 'matches-a', exists: true, status: 'CREATING' }, reads.tables[2]!];
    const row = fleetRow('a', { application: ok(application), claim: ok(claim), deployments: ok(deployments), tables: ok(tables) });
    expect(row.problems).toEqual([
      'Application virtual-coffee-a is OutOfSync',
      'Application virtual-coffee-a health is Degraded',
      'DynamoDB claim a-dynamodb: Ready is False (cannot create table)',
      'Deployment virtual-coffee-frontend does not exist',
      'Deployment virtual-coffee-api has 1/2 replicas available',
      'table users-a does not exist',
      'table matches-a is CREATING',
    ]);
    expect(row.healthy).toBe(false);
  });

  it('names a missing Application and claim', () => {
    const row = fleetRow('a', settle(healthyReads('a'), { application: ok({ name: 'virtual-coffee-a', exists: false }), claim: ok({ name: 'a-dynamodb', exists: false }) }));
    expect(row.problems).toEqual(['Argo CD Application virtual-coffee-a does not exist', 'DynamoDB claim a-dynamodb does not exist']);
  });

  it('turns a read that failed into a problem with the innermost cause\'s first line, and keeps the other reads', () => {
    const forbidden = new ActivityFailure(
      'Activity task failed',
      'readClaimStatus',
      '1',
      RetryState.MAXIMUM_ATTEMPTS_REACHED,
      'worker',
      ApplicationFailure.create({ message: 'HTTP-Code: 403\nMessage: forbidden\nBody: {...}' }),
    );
    const row = fleetRow('a', settle(healthyReads('a'), { claim: failed(forbidden), tables: failed(new Error('x'.repeat(300))) }));
    expect(row.claim).toEqual({ name: 'a-dynamodb', exists: false });
    expect(row.tables).toEqual([]);
    expect(row.application.exists).toBe(true);
    expect(row.problems).toEqual(['could not read the DynamoDB claim a-dynamodb: HTTP-Code: 403', `could not read the tables: ${'x'.repeat(199)}…`]);
    expect(row.healthy).toBe(false);
  });
});

describe('readFleet', () => {
  it('never reads more instances at once than the bound, reads each once, and uses the whole bound', async () => {
    const instances = Array.from({ length: 23 }, (_, i) => `i-${String(i).padStart(2, '0')}`);
    let running = 0;
    let most = 0;
    const seen: string[] = [];
    const rows = await readFleet(instances, 4, async (instance) => {
      running++;
      most = Math.max(most, running);
      seen.push(instance);
      // Uneven durations, so lanes finish out of order.
      await new Promise((resolve) => setTimeout(resolve, (instance.charCodeAt(3) % 3) * 3));
      running--;
      return fleetRow(instance, settle(healthyReads(instance)));
    });
    expect(most).toBe(4);
    expect([...seen].sort()).toEqual(instances);
    expect(rows.map((r) => r.instance).sort()).toEqual(instances);
  });

  it('reads one at a time with a bound of 1, and every instance at once when the bound exceeds them', async () => {
    for (const [bound, expected] of [[1, 1], [10, 3]] as const) {
      let running = 0;
      let most = 0;
      await readFleet(['a', 'b', 'c'], bound, async (instance) => {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return fleetRow(instance, settle(healthyReads(instance)));
      });
      expect(most).toBe(expected);
    }
  });

  it('keeps reading the others when one instance\'s read throws, and reports that instance unhealthy', async () => {
    const rows = await readFleet(['a', 'b', 'c'], 2, (instance) =>
      instance === 'b' ? Promise.reject(new Error('boom\nstack')) : Promise.resolve(fleetRow(instance, settle(healthyReads(instance)))),
    );
    const b = rows.find((r) => r.instance === 'b');
    expect(b).toMatchObject({ healthy: false, problems: ['could not read the instance: boom'], application: { name: 'virtual-coffee-b', exists: false } });
    expect(rows.filter((r) => r.healthy).map((r) => r.instance).sort()).toEqual(['a', 'c']);
  });
});

describe('summarizeFleet', () => {
  const row = (instance: string, healthy: boolean): FleetRow => ({ ...fleetRow(instance, settle(healthyReads(instance))), healthy, problems: healthy ? [] : ['something'] });

  it('sorts rows by instance and counts healthy and unhealthy ones', () => {
    const report = summarizeFleet([row('c', true), row('a', false), row('b', true)], { checkedAt: 't', prefix: 'x', concurrency: 3 });
    expect(report.instances.map((r) => r.instance)).toEqual(['a', 'b', 'c']);
    expect(report.summary).toEqual({ instances: 3, healthy: 2, unhealthy: 1 });
    expect(report.healthy).toBe(false);
    expect(report).toMatchObject({ checkedAt: 't', prefix: 'x', concurrency: 3 });
  });

  it('is healthy when every instance is, and when there are none', () => {
    expect(summarizeFleet([row('a', true)], { checkedAt: 't', concurrency: 1 }).healthy).toBe(true);
    expect(summarizeFleet([], { checkedAt: 't', concurrency: 1 })).toEqual({ checkedAt: 't', concurrency: 1, instances: [], summary: { instances: 0, healthy: 0, unhealthy: 0 }, healthy: true });
  });

  it('prints one line per instance, the counts, then each problem under its instance', () => {
    const reads = healthyReads('b');
    const bad = fleetRow('b', settle(reads, { tables: ok([{ tableName: 'users-b', exists: false }, ...reads.tables.slice(1)]) }));
    const lines = fleetStatusLines(summarizeFleet([bad, fleetRow('a', settle(healthyReads('a')))], { checkedAt: 't', prefix: 'a', concurrency: 8 }));
    expect(lines).toEqual([
      'INSTANCE  STATUS     SYNC    HEALTH   REVISION      CLAIM  DEPLOYMENTS  TABLES',
      'a         healthy    Synced  Healthy  abc123def456  Ready  2/2 1/1      3/3 ACTIVE',
      'b         UNHEALTHY  Synced  Healthy  abc123def456  Ready  2/2 1/1      2/3 ACTIVE',
      '',
      '2 instances named a*: 1 healthy, 1 unhealthy',
      '  b: table users-b does not exist',
    ]);
    expect(fleetStatusLines(summarizeFleet([], { checkedAt: 't', prefix: 'zz', concurrency: 8 }))).toEqual(['no instances named zz*']);
  });
});

describe('fleet workflow IDs', () => {
  it('are one per request and name no instance; an instance runbook without an instance is refused', () => {
    const input: FleetStatusInput = { prefix: 'a', concurrency: 2 };
    expect(workflowIdFor(fleetStatusWorkflow, input, 'n1')).toBe('fleet-status/n1');
    expect(workflowIdFor(fleetStatusWorkflow, {}, 'n2')).toBe('fleet-status/n2');
    expect(() => workflowIdFor(instanceStatusWorkflow, {}, 'n1')).toThrow(InvalidInputError);
  });

  it('take no instance: a fleet start naming one does not compile (compile-time: never called)', () => {
    const typeChecksOnly = async (client: Client) => {
      // @ts-expect-error a fleet status names no instance (no pseudo-instance either)
      await startFleetStatus(client, 'q', { instance: 'fleet' });
      const report = await (await startFleetStatus(client, 'q', { prefix: 'a' })).result();
      const unhealthy: number = report.summary.unhealthy;
      return unhealthy;
    };
    expect(typeof typeChecksOnly).toBe('function');
  });
});
