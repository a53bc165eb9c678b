/**
 * A DynamoDB recovery slowed down enough that a test can act at each of its phases (mid-export,
 * during the claim deletion, mid-import), and what it must leave behind: every item of every table
 * as before, each change in the audit once, one claim deleted and one recreated.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { expect } from 'vitest';
import { countItemsByScan } from '../activities/aws/dynamodb';
import type { ActivityDeps } from '../activities';
import { startDynamoDbRecovery } from '../client/runbooks';
import { parseS3Url } from '../common/dynamodb-backup';
import type { DynamoDbRecoveryDetails, DynamoDbRecoveryInput } from '../common/dynamodb-backup';
import type { AuditRecord, RunbookResult } from '../common/runbook';
import { approvals } from './approvers';
import { instanceItems } from './dynamodb';
import type { ItemsByCanonicalText } from './dynamodb';
import { startDynamoDbFaultProxy } from './dynamodb-fault-proxy';
import type { DynamoDbFaultProxy } from './dynamodb-fault-proxy';
import { instanceState, readClaim } from './recovery';
import { seedForTest } from './seed';
import { awsClients, config, uniqueInstance } from './stack';
import type { WorkerOptions } from './stack';
import { startTcpFaultProxy } from './tcp-fault-proxy';
import type { TcpFaultProxy } from './tcp-fault-proxy';

const USERS = 1200;
const CHUNK_ITEMS = 50;
/** As the worker builds its clients (worker/dependencies.ts): a call on a dropped connection fails instead of hanging. */
const requestHandler = { connectionTimeout: 5_000, requestTimeout: 60_000, throwOnRequestTimeout: true };

export interface RecoveryRun {
  instance: string;
  /** The worker's S3 traffic goes through this proxy (when asked for): cut it to make S3 unreachable. */
  s3Proxy?: TcpFaultProxy;
  workerOptions: WorkerOptions;
  start(client: Client, taskQueue: string, extra?: Partial<DynamoDbRecoveryInput>): Promise<WorkflowHandle>;
  /** Several chunks of the users table are in S3, most still to come. */
  exportUnderWay(): Promise<boolean>;
  /** The claim planned for deletion is gone (deleted by the run; the recreated one has another UID). */
  claimDeleted(): Promise<boolean>;
  /** The recreated users table holds part of the backup. */
  importUnderWay(): Promise<boolean>;
  /** Checks what the run must leave behind, then stops watching. */
  expectNothingLostNothingTwice(result: RunbookResult<DynamoDbRecoveryDetails>): Promise<void>;
  close(): Promise<void>;
}

/**
 * Seeds an instance (users large enough to export and import in chunks over seconds) and starts
 * watching its claim. The worker's DynamoDB calls go through a proxy that delays scans and batch
 * writes, so each phase lasts seconds; its S3 calls optionally through a proxy a test can cut.
 */
export async function prepareRecovery(prefix: string, options: { s3Proxy?: boolean } = {}): Promise<RecoveryRun> {
  const aws = awsClients();
  const instance = uniqueInstance(prefix);
  await seedForTest(instance, { sizes: { users: USERS, matches: 20, feedback: 10 } });
  const itemsBefore = await instanceItems(aws.dynamodb, instance);
  const stateBefore = await instanceState(aws.kube, instance);
  const plannedUid = stateBefore.claimUid;
  const users = `users-${instance}`;

  const slow: DynamoDbFaultProxy = await startDynamoDbFaultProxy({ target: requiredEnv('AWS_ENDPOINT_URL_DYNAMODB'), delayMs: 250, operations: ['Scan', 'BatchWriteItem'] });
  const dynamodb = new DynamoDBClient({ region: config.aws.region, endpoint: slow.url, requestHandler });
  const s3Proxy = options.s3Proxy ? await startTcpFaultProxy({ target: requiredEnv('AWS_ENDPOINT_URL') }) : undefined;
  const s3 = s3Proxy ? s3ClientVia(s3Proxy) : undefined;
  const overrides: Partial<ActivityDeps> = { approvals, dynamodb, ...(s3 ? { s3 } : {}) };

  // Every incarnation of the claim seen while the run goes: one deleted and one recreated, no more.
  const claimUids = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const uid = await readClaim(aws.kube, instance).then((c) => c?.metadata.uid, () => undefined);
      if (uid) claimUids.add(uid);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const close = async () => {
    watching = false;
    await watcher;
    dynamodb.destroy();
    s3?.destroy();
    await slow.close();
    await s3Proxy?.close();
    aws.close();
  };

  return {
    instance,
    s3Proxy,
    workerOptions: { overrides },
    start: (client, taskQueue, extra = {}) =>
      startDynamoDbRecovery(client, taskQueue, {
        instance,
        options: { requestedBy: { user: 'bob', via: 'test' }, reason: 'restore after a bad migration' },
        claimTimeoutMs: 300_000,
        export: { chunkMaxItems: CHUNK_ITEMS, segments: 1 },
        ...extra,
      }),
    async exportUnderWay() {
      const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: config.aws.backupBucket, Prefix: `dynamodb-backups/${instance}/` }));
      const chunks = (listed.Contents ?? []).filter((o) => o.Key?.includes(`/${users}/`)).length;
      return chunks >= 4 && chunks < USERS / CHUNK_ITEMS - 4;
    },
    async claimDeleted() {
      return (await readClaim(aws.kube, instance))?.metadata.uid !== plannedUid;
    },
    async importUnderWay() {
      const n = await countItemsByScan(aws.dynamodb, users, () => undefined);
      return n >= 200 && n < USERS - 200;
    },
    async expectNothingLostNothingTwice(result) {
      watching = false;
      await watcher;
      expect(result.outcome, result.reason).toBe('succeeded');
      expectSameItems(await instanceItems(aws.dynamodb, instance), itemsBefore);
      // Writers and automated sync as they were; the claim recreated once.
      const stateAfter = await instanceState(aws.kube, instance);
      expect(stateAfter.writers).toEqual(stateBefore.writers);
      expect(stateAfter.automatedSync).toEqual(stateBefore.automatedSync);
      expect([...claimUids]).toEqual([plannedUid, stateAfter.claimUid]);
      for (const audit of [result.audit, await auditRecordIn(aws.s3, result.auditLocation)]) {
        const actions = audit.changes.map((c) => c.action);
        expect(actions).toEqual([
          'pause spec.syncPolicy.automated',
          'quiesce writers (API replicas 0, CronJob suspended)',
          'delete claim',
          'create claim from the captured spec',
          'restore writers',
          'restore spec.syncPolicy.automated',
        ]);
      }
    },
    close,
  };
}

/** An S3 client as the worker builds it, whose traffic goes through the proxy. */
export function s3ClientVia(proxy: TcpFaultProxy): S3Client {
  return new S3Client({ region: config.aws.region, endpoint: proxy.url, forcePathStyle: true, requestHandler });
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: source the stack's env file`);
  return value;
}

/** Every table holds exactly the items it held before, compared item by item. */
export function expectSameItems(after: Record<string, ItemsByCanonicalText>, before: Record<string, ItemsByCanonicalText>): void {
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  for (const table of Object.keys(before)) {
    expect(after[table]!.size, `${table} item count`).toBe(before[table]!.size);
    for (const [key, item] of before[table]!) expect(after[table]!.get(key), `${table} item ${key.slice(0, 60)}`).toEqual(item);
  }
}

async function auditRecordIn(s3: S3Client, location: string | undefined): Promise<AuditRecord> {
  if (!location) throw new Error('the run wrote no audit record');
  const { bucket, key } = parseS3Url(location);
  const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await body.Body!.transformToString()) as AuditRecord;
}
