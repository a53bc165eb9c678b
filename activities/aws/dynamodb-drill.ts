/**
 * The restore drill's activities: find the backup, read it back, make scratch tables from its captured
 * definitions, import into them, record the result beside the backup and as a metric, delete the
 * scratch tables. Every activity that creates, writes or deletes a table checks itself that the
 * table is a scratch table of the run it acts for (the run ID from Temporal, not from the input), so
 * no workflow, however wrong, can make it touch an instance's table.
 */
import { CreateTableCommand, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo, Context, heartbeat } from '@temporalio/activity';
import { checkpointHeartbeats } from '../checkpoint-heartbeats';
import { ApplicationFailure } from '@temporalio/common';
import { instanceBackupsFolder, newestVerifiedEntry, verificationHolds } from '../../common/backup-catalog';
import { drillRecordKey, s3Url, verificationKey } from '../../common/dynamodb-backup';
import type { BackupLocation, BackupManifest, DrillRecord, TableDefinition, VerificationRecord } from '../../common/dynamodb-backup';
import { backupIdOf, drillManifestUrl, scratchTableRefusal, scratchTableSpec } from '../../common/dynamodb-drill';
import { InvalidInputError } from '../../common/instance';
import { notYet } from '../not-ready';
import { readCatalog } from './backup-catalog';
import { readJson } from './backup-evidence';
import { putBackupObject, sha256Hex } from './dynamodb-export';
import { importSegment, verifyTableBackup } from './dynamodb-import';
import { BackupCorruptError, getObjectBytes } from './backup-chunks';
import type { ImportCheckpoint, ImportSegmentResult, TableVerification } from './dynamodb-import';
import { deleteTableIfExists, tableStatus } from './dynamodb-tables';

export interface DrillDeps {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  backupBucket: string;
  expectedBucketOwner?: string;
}

/** A backup as the drill restores it: where, pinned by SHA-256, and what the manifest says of each table. */
export interface DrillBackup {
  location: BackupLocation;
  url: string;
  id: string;
  createdAt: string;
  tables: { tableName: string; items: number; digest: string; segments: number[]; definition: TableDefinition }[];
  /** Tables without a verification record that vouches for this very manifest (SHA-256, items, digest). */
  unverified: string[];
}

function refuse(type: string, message: string, cause?: Error): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, cause });
}

function currentRunId(): string {
  const runId = activityInfo().workflowExecution?.runId;
  if (!runId) refuse('ScratchTableRefused', 'a drill activity runs only on behalf of a workflow run');
  return runId;
}

/** Refuses, before any call to DynamoDB, a table that is not a scratch table of the current run. */
function requireScratchTable(tableName: string, instance: string): void {
  const refusal = scratchTableRefusal(tableName, currentRunId(), instance);
  if (refusal) refuse('ScratchTableRefused', `refusing to touch table ${tableName}: ${refusal}`);
}

async function readPinnedManifest(deps: DrillDeps, bucket: string, key: string): Promise<{ manifest: BackupManifest; sha256: string }> {
  const bytes = await getObjectBytes(deps.s3, bucket, key, deps.expectedBucketOwner);
  try {
    return { manifest: JSON.parse(bytes.toString('utf8')) as BackupManifest, sha256: sha256Hex(bytes) };
  } catch (err) {
    throw new BackupCorruptError(`${s3Url(bucket, key)} is not JSON`, { cause: err });
  }
}

/** The tables of `manifest` (at `sha256`) whose verification record does not vouch for it, by the catalog's rule. */
async function unverifiedTables(deps: DrillDeps, manifestKey: string, sha256: string, manifest: BackupManifest): Promise<string[]> {
  const unverified: string[] = [];
  for (const table of manifest.tables) {
    const record = await readJson<VerificationRecord>(deps, deps.backupBucket, verificationKey(manifestKey, table.tableName));
    if (!verificationHolds(record, manifestKey, sha256, table)) unverified.push(table.tableName);
  }
  return unverified;
}

function drillBackup(deps: DrillDeps, manifestKey: string, manifest: BackupManifest, sha256: string, unverified: string[]): DrillBackup {
  return {
    location: { bucket: deps.backupBucket, prefix: manifest.prefix, manifestKey, manifestSha256: sha256 },
    url: s3Url(deps.backupBucket, manifestKey),
    id: backupIdOf(manifestKey),
    createdAt: manifest.createdAt,
    tables: manifest.tables.map((t) => ({ tableName: t.tableName, items: t.items, digest: t.digest, segments: t.segments.map((s) => s.segment), definition: t.definition })),
    unverified,
  };
}

/**
 * The newest verified backup of the instance as the catalog reads it (readBackupCatalog, whose rules
 * retention applies too), its manifest read again and pinned by SHA-256. Its verification is checked
 * again against the manifest pinned: one rewritten since the catalog read it is not what was verified.
 */
export async function newestVerifiedBackup(deps: DrillDeps, instance: string): Promise<DrillBackup | undefined> {
  const catalog = await readCatalog(deps, instance, (folder) => heartbeat({ folder }));
  const entry = newestVerifiedEntry(catalog.entries);
  if (!entry) return undefined;
  const manifestKey = `${entry.prefix}/manifest.json`;
  const read = await readPinnedManifest(deps, deps.backupBucket, manifestKey);
  return drillBackup(deps, manifestKey, read.manifest, read.sha256, await unverifiedTables(deps, manifestKey, read.sha256, read.manifest));
}

export function createDrillActivities(deps: DrillDeps) {
  const { dynamodb, s3, backupBucket, expectedBucketOwner } = deps;
  return {
    /**
     * The backup to drill, its manifest pinned by SHA-256 for the rest of the run: the one named (a URL
     * in the backup bucket, or an ID), or the newest whose every table is verified. A named backup
     * whose manifest no verification record vouches for is returned with `unverified` set: the drill
     * then fails, and records why beside it.
     */
    async resolveDrillBackup(input: { instance: string; backup?: string }): Promise<DrillBackup> {
      if (input.backup === undefined) {
        const found = await newestVerifiedBackup(deps, input.instance);
        if (!found) refuse('NoVerifiedBackup', `no backup of ${input.instance} under ${s3Url(backupBucket, instanceBackupsFolder(input.instance))} has every table verified`);
        return found;
      }
      let url: { bucket: string; key: string };
      try {
        url = drillManifestUrl(input.instance, input.backup, backupBucket);
      } catch (err) {
        if (err instanceof InvalidInputError) refuse(err.name, err.message, err);
        throw err;
      }
      // Drill records and verification records live beside the manifest, in the backup bucket.
      if (url.bucket !== backupBucket) refuse('SourceBucketNotAllowed', `a drill restores backups in the backup bucket ${backupBucket}, not in ${url.bucket}`);
      let read: { manifest: BackupManifest; sha256: string };
      try {
        read = await readPinnedManifest(deps, url.bucket, url.key);
      } catch (err) {
        if (err instanceof Error && (err.name === 'NoSuchKey' || err instanceof BackupCorruptError)) refuse('BackupNotFound', `${s3Url(url.bucket, url.key)}: ${err.message}`, err);
        throw err;
      }
      if (read.manifest.instance !== undefined && read.manifest.instance !== input.instance) {
        refuse('InvalidInputError', `${s3Url(url.bucket, url.key)} is a backup of ${read.manifest.instance}, not of ${input.instance}`);
      }
      return drillBackup(deps, url.key, read.manifest, read.sha256, await unverifiedTables(deps, url.key, read.sha256, read.manifest));
    },

    /**
     * Reads one table's backup back (every chunk's SHA-256 and count, the digest, no key twice), with the
     * existing verification, but writes no verification record: a drill checks, it does not vouch.
     */
    async verifyDrillBackupTable(input: { location: BackupLocation; tableName: string }): Promise<TableVerification> {
      try {
        const bytes = await getObjectBytes(s3, input.location.bucket, input.location.manifestKey, expectedBucketOwner);
        if (sha256Hex(bytes) !== input.location.manifestSha256) {
          throw new BackupCorruptError(`manifest ${input.location.manifestKey} has SHA-256 ${sha256Hex(bytes)}, the drill pinned ${input.location.manifestSha256}`);
        }
        const manifest = JSON.parse(bytes.toString('utf8')) as BackupManifest;
        return await verifyTableBackup(s3, manifest, input.tableName, (chunks) => heartbeat({ chunks }), expectedBucketOwner);
      } catch (err) {
        if (err instanceof BackupCorruptError) refuse(err.name, err.message, err);
        throw err;
      }
    },

    /** Creates the scratch table (idempotent: an existing one is waited for); "not yet" until it is ACTIVE. */
    async createScratchTable(input: { instance: string; scratchTable: string; definition: TableDefinition }): Promise<void> {
      requireScratchTable(input.scratchTable, input.instance);
      const spec = scratchTableSpec(input.definition, input.scratchTable, { instance: input.instance, runId: currentRunId() });
      try {
        await dynamodb.send(new CreateTableCommand(spec as CreateTableCommandInput));
      } catch (err) {
        if (!(err instanceof ResourceInUseException)) throw err;
      }
      const status = await tableStatus(dynamodb, input.scratchTable);
      if (status !== 'ACTIVE') throw notYet(`scratch table ${input.scratchTable} is ${status ?? 'not there yet'}`);
    },

    /** Imports one backup segment into a scratch table (the import's own code: chunk checks, checkpoints). */
    async importScratchSegment(input: { instance: string; location: BackupLocation; tableName: string; scratchTable: string; segment: number; concurrency?: number }): Promise<ImportSegmentResult> {
      requireScratchTable(input.scratchTable, input.instance);
      const { resumeFrom, onCheckpoint, beat } = checkpointHeartbeats<ImportCheckpoint>();
      try {
        const { manifest, sha256 } = await readPinnedManifest(deps, input.location.bucket, input.location.manifestKey);
        if (sha256 !== input.location.manifestSha256) throw new BackupCorruptError(`manifest ${input.location.manifestKey} changed during the drill (SHA-256 ${sha256}, pinned ${input.location.manifestSha256})`);
        return await importSegment(
          { dynamodb, s3, expectedBucketOwner },
          manifest,
          { tableName: input.tableName, targetTable: input.scratchTable, segment: input.segment, concurrency: input.concurrency },
          resumeFrom,
          onCheckpoint,
          beat,
        );
      } catch (err) {
        if (err instanceof BackupCorruptError || (err instanceof Error && err.name === 'MalformedItemError')) refuse(err.name, err.message, err);
        throw err;
      }
    },

    /** Deletes a scratch table and waits until it is gone ("not yet" while it is DELETING). Refuses any other table. */
    async deleteScratchTable(input: { instance: string; scratchTable: string }): Promise<{ deleted: boolean }> {
      requireScratchTable(input.scratchTable, input.instance);
      const status = await tableStatus(dynamodb, input.scratchTable);
      if (status === undefined) return { deleted: false };
      if (status !== 'DELETING') {
        try {
          await deleteTableIfExists(dynamodb, input.scratchTable);
        } catch (err) {
          // Still CREATING (a cancelled create): DynamoDB refuses the delete until it is ACTIVE; ask again.
          if (err instanceof ResourceInUseException) throw notYet(`scratch table ${input.scratchTable} cannot be deleted yet: ${err.message}`);
          throw err;
        }
      }
      if ((await tableStatus(dynamodb, input.scratchTable)) !== undefined) throw notYet(`scratch table ${input.scratchTable} is still being deleted`);
      return { deleted: true };
    },

    /** Writes the drill's record beside the manifest (drills/<finishedAt>-<runId>.json); returns its URL. */
    async writeDrillRecord(record: DrillRecord): Promise<{ url: string }> {
      const key = drillRecordKey(record.manifestKey, new Date(record.finishedAt), record.drilledBy.runId);
      await putBackupObject({ s3, expectedBucketOwner }, backupBucket, key, JSON.stringify(record, null, 1), 'application/json');
      return { url: s3Url(backupBucket, key) };
    },

    /**
     * The drill's result as metrics on the worker's meter (its Prometheus endpoint with VCP_METRICS_ADDRESS):
     * `vcp_backup_drill_passed{instance}` 1 or 0, the latest drill's; `vcp_backup_drills{instance,result}`
     * counts drills by result; `vcp_backup_drill_items_per_second{instance}`.
     */
    recordDrillMetric(input: { instance: string; passed: boolean; itemsPerSecond?: number }): Promise<void> {
      const meter = Context.current().metricMeter;
      meter.createGauge('vcp_backup_drill_passed', 'int', '', 'Whether the latest restore drill of the instance passed (1) or failed (0)').set(input.passed ? 1 : 0, { instance: input.instance });
      meter.createCounter('vcp_backup_drills', '', 'Restore drills by result').add(1, { instance: input.instance, result: input.passed ? 'passed' : 'failed' });
      if (input.itemsPerSecond !== undefined) {
        meter.createGauge('vcp_backup_drill_items_per_second', 'float', '', 'Items per second the latest drill imported').set(input.itemsPerSecond, { instance: input.instance });
      }
      return Promise.resolve();
    },
  };
}
