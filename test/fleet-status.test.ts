/**
 * `runbook status --all` on the real stack (Argo CD, Crossplane + provider-aws, dynalite, kwok pods):
 * instances seeded under a prefix of this test's own, two of them broken for real (a Deployment
 * deleted under an Application that does not self-heal, so Argo CD reports it OutOfSync; a claim
 * whose Composition does not exist, so Crossplane never makes it Ready nor creates its tables), one a
 * bare instance namespace (no Application, no claim, no tables), read through the worker and the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { getOrUndefined } from '../activities/kubernetes/client';
import { EXIT } from '../client/cli';
import { startFleetStatus } from '../client/runbooks';
import { RUNBOOK_INSTANCE, RUNBOOK_NAME } from '../common/definitions';
import type { FleetRow, FleetStatusReport } from '../common/fleet-status';
import { APPLICATION, ARGOCD_NAMESPACE, conditionStatus, DYNAMODB_CLAIM, FRONTEND_DEPLOYMENT, INSTANCE_LABEL } from '../common/platform';
import type { Application, DynamoDbClaim } from '../common/platform';
import { seededRevisions, waitFor } from '../platform-sim/seed';
import { expectNothingStarted } from '../test-support/nothing-started';
import { seedForTest } from '../test-support/seed';
import { awsClients, temporalClient, uniqueInstance, withWorker } from '../test-support/stack';

const exec = promisify(execFile);
const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-fleet-keys-'));
const aws = awsClients();
afterAll(() => aws.close());

async function cli(args: string[], taskQueue: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(__dirname, '..', 'bin', 'runbook.js'), ...args], {
      env: { ...process.env, VCP_KEY_DIR: keyDir, VCP_TASK_QUEUE: taskQueue, NODE_NO_WARNINGS: '1' },
      // A CLI that hangs (a start no worker picks up) is killed rather than left behind.
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const tables = (instance: string, status: 'ACTIVE' | 'missing') =>
  ['users', 'matches', 'feedback'].map((base) => (status === 'ACTIVE' ? { tableName: `${base}-${instance}`, exists: true, status } : { tableName: `${base}-${instance}`, exists: false }));

function healthyRow(instance: string): FleetRow {
  return {
    instance,
    application: { name: `virtual-coffee-${instance}`, exists: true, syncStatus: 'Synced', health: 'Healthy', targetRevision: 'main', syncedRevision: seededRevisions()[2] },
    claim: { name: `${instance}-dynamodb`, exists: true, ready: 'True', synced: 'True' },
    deployments: [
      { name: 'virtual-coffee-api', exists: true, replicas: 2, availableReplicas: 2, available: true },
      { name: 'virtual-coffee-frontend', exists: true, replicas: 1, availableReplicas: 1, available: true },
    ],
    tables: tables(instance, 'ACTIVE'),
    problems: [],
    healthy: true,
  };
}

describe('fleet status (runbook status --all)', () => {
  it('lists every instance under the prefix with its Application, claim, Deployments and tables, and names what is wrong with each unhealthy one', async () => {
    const prefix = uniqueInstance('fleet');
    const [healthy, broken, unclaimed, bare] = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`, `${prefix}-d`];
    const outside = uniqueInstance('fleet');
    const small = { sizes: { users: 1, matches: 1, feedback: 0 } };
    await Promise.all([
      seedForTest(healthy, small),
      // Manual sync: Argo CD reports the Deployment deleted below instead of putting it back.
      seedForTest(broken, { ...small, automatedSync: false }),
      seedForTest(unclaimed, { ...small, compositionName: 'no-such-composition', wait: false }),
    ]);
    // An instance namespace and nothing else (a half-created or half-deleted instance), and one outside the prefix.
    for (const name of [bare, outside]) {
      await aws.kube.core.createNamespace({ body: { metadata: { name, labels: { [INSTANCE_LABEL]: name } } } });
      onTestFinished(async () => void (await getOrUndefined(aws.kube.core.deleteNamespace({ name }))));
    }
    await aws.kube.apps.deleteNamespacedDeployment({ name: FRONTEND_DEPLOYMENT, namespace: broken });
    await waitFor(`Argo CD to report virtual-coffee-${broken} OutOfSync`, async () => {
      const app = (await aws.kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${broken}` })) as Application;
      return app.status?.sync?.status === 'OutOfSync';
    });
    await waitFor(`Crossplane to report ${unclaimed}-dynamodb not Ready`, async () => {
      const claim = (await aws.kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: unclaimed, name: `${unclaimed}-dynamodb` })) as DynamoDbClaim;
      return conditionStatus(claim.status?.conditions, 'Ready') === 'False' && conditionStatus(claim.status?.conditions, 'Synced') === 'True';
    });
    // Seeded without waiting (its claim never gets Ready): its pods, which nothing above waited for.
    await waitFor(`the Deployments of ${unclaimed} available`, async () => {
      const deployments = await Promise.all(['virtual-coffee-api', FRONTEND_DEPLOYMENT].map((name) => aws.kube.apps.readNamespacedDeployment({ name, namespace: unclaimed })));
      return deployments.every((d) => (d.status?.availableReplicas ?? 0) === d.spec?.replicas && d.status?.replicas === d.spec?.replicas);
    });
    const healthyDeployments = healthyRow(broken).deployments;

    /**
     * The rows expected. Argo CD marks the deleted Deployment OutOfSync at once, but the Application's
     * health follows only at its next full reconcile (Healthy until then, Missing after): the row must
     * show whichever Argo CD reports, and name it as a problem once it is not Healthy.
     */
    const expected = (brokenHealth: string | undefined): FleetRow[] => [
      healthyRow(healthy),
      {
        ...healthyRow(broken),
        application: { ...healthyRow(broken).application, syncStatus: 'OutOfSync', health: brokenHealth },
        deployments: [healthyDeployments[0]!, { name: 'virtual-coffee-frontend', exists: false }],
        problems: [
          `Application virtual-coffee-${broken} is OutOfSync`,
          ...(brokenHealth === 'Healthy' ? [] : [`Application virtual-coffee-${broken} health is ${brokenHealth}`]),
          'Deployment virtual-coffee-frontend does not exist',
        ],
        healthy: false,
      },
      {
        ...healthyRow(unclaimed),
        claim: { name: `${unclaimed}-dynamodb`, exists: true, ready: 'False', synced: 'True', message: 'Claim is waiting for composite resource to become Ready' },
        tables: tables(unclaimed, 'missing'),
        problems: [
          `DynamoDB claim ${unclaimed}-dynamodb: Ready is False (Claim is waiting for composite resource to become Ready)`,
          ...tables(unclaimed, 'missing').map((t) => `table ${t.tableName} does not exist`),
        ],
        healthy: false,
      },
      {
        instance: bare,
        application: { name: `virtual-coffee-${bare}`, exists: false },
        claim: { name: `${bare}-dynamodb`, exists: false },
        deployments: [
          { name: 'virtual-coffee-api', exists: false },
          { name: 'virtual-coffee-frontend', exists: false },
        ],
        tables: tables(bare, 'missing'),
        problems: [
          `Argo CD Application virtual-coffee-${bare} does not exist`,
          `DynamoDB claim ${bare}-dynamodb does not exist`,
          'Deployment virtual-coffee-api does not exist',
          'Deployment virtual-coffee-frontend does not exist',
          ...tables(bare, 'missing').map((t) => `table ${t.tableName} does not exist`),
        ],
        healthy: false,
      },
    ];
    /** The broken instance's health as the report gives it: Healthy or Missing, nothing else. */
    const brokenHealth = (report: FleetStatusReport) => {
      const health = report.instances.find((r) => r.instance === broken)?.application.health;
      expect(['Healthy', 'Missing']).toContain(health);
      return health;
    };

    await withWorker(async ({ client, taskQueue }) => {
      // Through the worker: one instance at a time and several at once read the same.
      for (const concurrency of [1, 8]) {
        const handle = await startFleetStatus(client, taskQueue, { prefix, concurrency });
        const report = await handle.result();
        expect(report.instances).toEqual(expected(brokenHealth(report)));
        expect(report).toMatchObject({ prefix, concurrency, summary: { instances: 4, healthy: 1, unhealthy: 3 }, healthy: false });
        const description = await handle.describe();
        expect(handle.workflowId).toMatch(/^fleet-status\/[0-9a-f-]{36}$/);
        expect(description.typedSearchAttributes.get(RUNBOOK_NAME)).toBe('fleet-status');
        expect(description.typedSearchAttributes.get(RUNBOOK_INSTANCE)).toBeUndefined();
      }

      // Through the CLI: JSON and text, exit 3 while any instance is unhealthy, 0 when those shown are healthy.
      const asJson = await cli(['status', '--all', '--prefix', prefix, '--concurrency', '2', '-o', 'json'], taskQueue);
      expect(asJson.code, asJson.stderr).toBe(EXIT.notSucceeded);
      const report = JSON.parse(asJson.stdout) as FleetStatusReport;
      expect(report.instances).toEqual(expected(brokenHealth(report)));
      expect(report.summary).toEqual({ instances: 4, healthy: 1, unhealthy: 3 });

      const asText = await cli(['status', '--all', '--prefix', prefix], taskQueue);
      expect(asText.code, asText.stderr).toBe(EXIT.notSucceeded);
      const lines = asText.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^INSTANCE +STATUS +SYNC +HEALTH +REVISION +CLAIM +DEPLOYMENTS +TABLES$/);
      const revision = seededRevisions()[2].slice(0, 12);
      const rows = lines.slice(1, 5).map((l) => l.split(/ {2,}/));
      expect(['Healthy', 'Missing']).toContain(rows[1]?.[3]);
      expect(rows).toEqual([
        [healthy, 'healthy', 'Synced', 'Healthy', revision, 'Ready', '2/2 1/1', '3/3 ACTIVE'],
        [broken, 'UNHEALTHY', 'OutOfSync', rows[1]?.[3], revision, 'Ready', '2/2 missing', '3/3 ACTIVE'],
        [unclaimed, 'UNHEALTHY', 'Synced', 'Healthy', revision, 'Ready=False Synced=True', '2/2 1/1', '0/3 ACTIVE'],
        [bare, 'UNHEALTHY', 'missing', '-', '-', 'missing', 'missing missing', '0/3 ACTIVE'],
      ]);
      expect(lines).toContain(`4 instances named ${prefix}*: 1 healthy, 3 unhealthy`);
      expect(lines).toContain(`  ${broken}: Deployment virtual-coffee-frontend does not exist`);
      expect(lines).toContain(`  ${unclaimed}: DynamoDB claim ${unclaimed}-dynamodb: Ready is False (Claim is waiting for composite resource to become Ready)`);
      expect(lines).toContain(`  ${bare}: DynamoDB claim ${bare}-dynamodb does not exist`);

      const onlyHealthy = await cli(['status', '--all', '--prefix', healthy, '-o', 'json'], taskQueue);
      expect(onlyHealthy.code, onlyHealthy.stderr).toBe(EXIT.ok);
      expect((JSON.parse(onlyHealthy.stdout) as FleetStatusReport).instances).toEqual([healthyRow(healthy)]);

      const none = await cli(['status', '--all', '--prefix', `${prefix}-none`], taskQueue);
      expect({ code: none.code, stdout: none.stdout.trim() }).toEqual({ code: EXIT.ok, stdout: `no instances named ${prefix}-none*` });
    });
  }, 240_000);

  it('refuses a bad prefix or concurrency in the workflow itself, at once and for good', async () => {
    await withWorker(async ({ client, taskQueue }) => {
      for (const input of [{ prefix: 'Bad_Prefix' }, { concurrency: 0 }]) {
        // Bypass the CLI's own check: the workflow must fail fast, not retry its task forever.
        const handle = await client.workflow.start('fleetStatus', { taskQueue, workflowId: uniqueInstance('fleet-bad-input'), args: [input] });
        const failure = await handle.result().then(
          () => expect.unreachable('the workflow accepted a bad input'),
          (err: unknown) => err,
        );
        expect(failure).toBeInstanceOf(WorkflowFailedError);
        const cause = (failure as WorkflowFailedError).cause;
        expect(cause).toBeInstanceOf(ApplicationFailure);
        expect({ type: (cause as ApplicationFailure).type, nonRetryable: (cause as ApplicationFailure).nonRetryable }).toEqual({ type: 'InvalidInputError', nonRetryable: true });
      }
    });
  });

  it('the CLI refuses bad or conflicting options with exit 2 and starts nothing', async () => {
    const taskQueue = `fleet-cli-refusals-${uniqueInstance('q')}`;
    // An instance of its own: were a check to let a start through, it would run under an ID no one else uses.
    const instance = uniqueInstance('fleet-cli');
    const cases: [string[], RegExp][] = [
      [['status', '--all', '--prefix', 'Bad_Prefix'], /--prefix <prefix>' argument 'Bad_Prefix' is invalid\. prefix "Bad_Prefix" cannot begin an instance name/],
      [['status', '--all', '--prefix', ''], /cannot begin an instance name/],
      [['status', '--all', '--concurrency', '0'], /--concurrency <n>' argument '0' is invalid\. a whole number from 1 to 32/],
      [['status', '--all', '--concurrency', '33'], /a whole number from 1 to 32/],
      [['status', '--all', instance], /give an instance or --all, not both/],
      [['status', instance, '--prefix', 'fleet'], /--prefix and --concurrency go with --all/],
      [['status'], /give an instance, or --all for every instance/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args, taskQueue);
      expect({ args, code: result.code }).toEqual({ args, code: EXIT.usage });
      expect(result.stderr).toMatch(message);
    }
    const { client, close } = await temporalClient();
    try {
      await expectNothingStarted(client, { taskQueue });
    } finally {
      await close();
    }
  });
});
