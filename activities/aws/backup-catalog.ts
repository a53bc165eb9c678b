/**
 * The backup catalog read from S3, the backups running workflows use (Temporal visibility), and the
 * retention delete. Read results are summaries (tables, counts, records), never chunk lists or data.
 */
import { DeleteObjectsCommand, ListObjectsV2Command, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo, Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { BACKUP_USING_WORKFLOW_TYPES, backupsInUse, catalogEntry, instanceBackupsFolder, newestFirst, selectForRetention } from '../../common/backup-catalog';
import type { BackupCatalog, BackupDeletion, BackupFolder, BackupUse, RetentionPolicy, RunningWorkflow } from '../../common/backup-catalog';
import type { BackupManifest, DrillRecord, VerificationRecord } from '../../common/dynamodb-backup';
import { forEachLimit } from '../../common/concurrency';
import { validateInstanceName } from '../../common/instance';
import { sha256Hex } from './dynamodb-export';
import { getObjectBytes } from './backup-chunks';

export interface BackupCatalogDeps {
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
}

/** Reads in flight at once (manifests, records, restore listings): S3 is fine with more, the worker's memory is the bound. */
const READ_CONCURRENCY = 8;
/** DeleteObjects takes at most 1000 keys. */
const DELETE_BATCH = 1000;

/** The workflow type the retention delete runs for; no other workflow may ask it to delete backups. */
export const RETENTION_WORKFLOW_TYPE = 'backupRetention';

interface ListedObject {
  key: string;
  size: number;
}

async function listObjects(deps: BackupCatalogDeps, prefix: string, maxKeys?: number): Promise<ListedObject[]> {
  const objects: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: deps.backupBucket, Prefix: prefix, ContinuationToken: token, ExpectedBucketOwner: deps.expectedBucketOwner, MaxKeys: maxKeys }),
    );
    for (const o of page.Contents ?? []) if (o.Key) objects.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.IsTruncated && maxKeys === undefined ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

async function readJson<T>(deps: BackupCatalogDeps, key: string): Promise<T | undefined> {
  try {
    return JSON.parse((await getObjectBytes(deps.s3, deps.backupBucket, key, deps.expectedBucketOwner)).toString('utf8')) as T;
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof NoSuchKey || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)) return undefined;
    throw err;
  }
}

/** One folder's summary: the manifest (and its SHA-256), its verification records, the newest drill, restore records. */
async function readFolder(deps: BackupCatalogDeps, folderPrefix: string, id: string, objects: ListedObject[]): Promise<BackupFolder> {
  const inFolder = (sub: string) => objects.filter((o) => o.key.startsWith(`${folderPrefix}${id}/${sub}`));
  const folder: BackupFolder = { id, objects: objects.length, storedBytes: objects.reduce((sum, o) => sum + o.size, 0), verifications: [] };
  const manifestKey = `${folderPrefix}${id}/manifest.json`;
  if (!objects.some((o) => o.key === manifestKey)) return folder;
  try {
    const bytes = await getObjectBytes(deps.s3, deps.backupBucket, manifestKey, deps.expectedBucketOwner);
    folder.manifestSha256 = sha256Hex(bytes);
    const manifest = JSON.parse(bytes.toString('utf8')) as BackupManifest;
    if (!Array.isArray(manifest?.tables)) throw new SyntaxError('the manifest lists no tables');
    folder.manifest = manifest;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    folder.manifestSha256 = undefined;
    folder.manifestProblem = `manifest.json is not a backup manifest: ${err.message}`;
    return folder;
  }
  const records = await Promise.all(inFolder('verification/').map((o) => readJson<VerificationRecord>(deps, o.key)));
  folder.verifications = records.filter((r): r is VerificationRecord => r !== undefined);
  // drills/<finishedAt>-<runId>.json: the last key is the newest drill.
  const drillKeys = inFolder('drills/').map((o) => o.key).sort();
  const newestDrillKey = drillKeys[drillKeys.length - 1];
  if (newestDrillKey) folder.newestDrill = await readJson<DrillRecord>(deps, newestDrillKey);
  if (folder.manifest.claim) {
    folder.restoreRecords = (await listObjects(deps, `dynamodb-restores/${deps.backupBucket}/${manifestKey}/`, 1)).length;
  }
  return folder;
}

/** The catalog of an instance's backups, read from the bucket now; `onFolder` after each folder is read (a caller's heartbeat). */
export async function readCatalog(deps: BackupCatalogDeps, instance: string, onFolder?: (id: string) => void): Promise<BackupCatalog> {
  const folderPrefix = instanceBackupsFolder(validateInstanceName(instance));
  const byFolder = new Map<string, ListedObject[]>();
  for (const object of await listObjects(deps, folderPrefix)) {
    const rest = object.key.slice(folderPrefix.length);
    const slash = rest.indexOf('/');
    // An object directly in the instance's folder is no backup.
    if (slash <= 0) continue;
    const id = rest.slice(0, slash);
    byFolder.set(id, [...(byFolder.get(id) ?? []), object]);
  }
  const folders: BackupFolder[] = [];
  await forEachLimit([...byFolder], READ_CONCURRENCY, async ([id, objects]) => {
    folders.push(await readFolder(deps, folderPrefix, id, objects));
    onFolder?.(id);
  });
  return {
    instance,
    bucket: deps.backupBucket,
    listedAt: new Date().toISOString(),
    entries: newestFirst(folders.map((f) => catalogEntry(instance, deps.backupBucket, f))),
  };
}

/** Every running workflow of the types that read or write backups, with its start input (from its history's first event). */
export async function runningBackupWorkflows(): Promise<RunningWorkflow[]> {
  const ctx = Context.current();
  const namespace = ctx.info.workflowNamespace;
  const types = BACKUP_USING_WORKFLOW_TYPES.map((t) => `"${t}"`).join(', ');
  const listed: { workflowType: string; workflowId: string; runId: string; memo?: Record<string, unknown> }[] = [];
  for await (const execution of ctx.client.workflow.list({ query: `ExecutionStatus = "Running" AND WorkflowType IN (${types})` })) {
    listed.push({ workflowType: execution.type, workflowId: execution.workflowId, runId: execution.runId, memo: execution.memo });
  }
  const runs: RunningWorkflow[] = [];
  await forEachLimit(listed, READ_CONCURRENCY, async (run) => {
    const history = await ctx.client.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId: run.workflowId, runId: run.runId },
      maximumPageSize: 1,
    });
    const payload = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    runs.push({ ...run, input: payload ? defaultPayloadConverter.fromPayload(payload) : undefined });
  });
  return runs;
}

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/**
 * Deletes every object under the folder: the manifest last, so a delete cut short leaves a folder the
 * catalog still lists (and a retry finishes), never chunks that look like an export still running.
 */
async function deleteFolder(deps: BackupCatalogDeps, prefix: string, beat: () => void): Promise<{ objects: number; storedBytes: number }> {
  let objects = 0;
  let storedBytes = 0;
  // New objects under an expired folder would be a writer the in-use check missed: a few rounds, then refuse.
  for (let round = 0; round < 3; round++) {
    const listed = await listObjects(deps, `${prefix}/`);
    if (listed.length === 0) return { objects, storedBytes };
    const manifestLast = [...listed.filter((o) => !o.key.endsWith('/manifest.json')), ...listed.filter((o) => o.key.endsWith('/manifest.json'))];
    for (let i = 0; i < manifestLast.length; i += DELETE_BATCH) {
      const batch = manifestLast.slice(i, i + DELETE_BATCH);
      const result = await deps.s3.send(
        new DeleteObjectsCommand({
          Bucket: deps.backupBucket,
          ExpectedBucketOwner: deps.expectedBucketOwner,
          Delete: { Objects: batch.map((o) => ({ Key: o.key })), Quiet: true },
        }),
      );
      if (result.Errors && result.Errors.length > 0) {
        const first = result.Errors[0]!;
        throw new Error(`deleting under s3://${deps.backupBucket}/${prefix}/: ${result.Errors.length} objects failed, first ${first.Key}: ${first.Code} ${first.Message}`);
      }
      objects += batch.length;
      storedBytes += batch.reduce((sum, o) => sum + o.size, 0);
      beat();
    }
  }
  return refuse('BackupStillWritten', `objects keep appearing under s3://${deps.backupBucket}/${prefix}/ while it is deleted: something writes there`);
}

export interface DeleteExpiredInput {
  instance: string;
  policy: RetentionPolicy;
  /** The IDs the run selected; each is deleted only if the rules still let it go now. */
  selected: string[];
}

export interface DeleteExpiredResult {
  deleted: BackupDeletion[];
  refused: { id: string; prefix: string; reason: string }[];
}

/** What the last attempt finished, so a retry neither deletes twice nor loses the record of what it deleted. */
interface DeleteCheckpoint {
  deleted: BackupDeletion[];
}

export function createBackupCatalogActivities(deps: BackupCatalogDeps) {
  return {
    /** The instance's backups, newest first: the catalog `backups list` prints. Read-only. */
    async readBackupCatalog(input: { instance: string }): Promise<BackupCatalog> {
      return readCatalog(deps, input.instance);
    },

    /** The backups running recoveries, imports, drills, exports and scheduled backups use. Read-only. */
    async listBackupsInUse(): Promise<BackupUse[]> {
      return backupsInUse(await runningBackupWorkflows());
    },

    /**
     * Deletes the selected backups that still expire now. Time of check to time of use: the catalog,
     * the running workflows and the clock are read again here, right before the delete, and the same
     * rules applied; a backup they protect now (a recovery started meanwhile, a newer backup that
     * failed verification so this one is the newest verified again) is refused and left as it is.
     * Only the retention runbook may call it.
     */
    async deleteExpiredBackups(input: DeleteExpiredInput): Promise<DeleteExpiredResult> {
      const info = activityInfo();
      if (info.workflowType !== RETENTION_WORKFLOW_TYPE) refuse('BackupDeleteRefused', `only ${RETENTION_WORKFLOW_TYPE} deletes backups, not ${info.workflowType ?? 'a caller outside a workflow'}`);
      const checkpoint = (info.heartbeatDetails as DeleteCheckpoint | undefined) ?? { deleted: [] };
      const done = new Set(checkpoint.deleted.map((d) => d.id));
      const catalog = await readCatalog(deps, input.instance);
      const uses = backupsInUse(await runningBackupWorkflows());
      const selection = selectForRetention(catalog.entries, input.policy, new Date(), uses);
      const deleted = [...checkpoint.deleted];
      const refused: DeleteExpiredResult['refused'] = [];
      for (const id of input.selected) {
        if (done.has(id)) continue;
        const entry = catalog.entries.find((e) => e.id === id);
        const expired = selection.expire.find((d) => d.id === id);
        if (!entry) {
          refused.push({ id, prefix: `${instanceBackupsFolder(input.instance)}${id}`, reason: 'no longer in the bucket (deleted by someone else)' });
          continue;
        }
        if (!expired) {
          refused.push({ id, prefix: entry.prefix, reason: `protected now: ${selection.keep.find((d) => d.id === id)?.why ?? 'kept'}` });
          continue;
        }
        const removed = await deleteFolder(deps, entry.prefix, () => heartbeat({ deleted } satisfies DeleteCheckpoint));
        deleted.push({
          id,
          prefix: entry.prefix,
          url: entry.url,
          objects: removed.objects,
          storedBytes: removed.storedBytes,
          items: entry.items,
          bytes: entry.bytes,
          createdAt: entry.createdAt,
          verified: entry.verified,
          state: entry.state,
          why: expired.why,
          deletedAt: new Date().toISOString(),
        });
        heartbeat({ deleted } satisfies DeleteCheckpoint);
      }
      return { deleted, refused };
    },
  };
}
