/**
 * Checks after an import that cannot be a digest comparison, and the record of a finished restore.
 *
 * Into a table that held items before, the import's promise is weaker than equality but still
 * checkable: every item of the backup is in the table, equal, and the table did not shrink.
 */
import { BatchGetItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, KeysAndAttributes } from '@aws-sdk/client-dynamodb';
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupLocation, BackupRef } from '../../common/dynamodb-backup';
import type { EvidenceDeps } from './backup-evidence';
import { readAllowedManifest, restoreRecordExists, writeRestoreRecord } from './backup-evidence';
import { BackupCorruptError, readChunk, tableOf } from './backup-chunks';
import type { Item } from './dynamodb-items';
import { canonicalItem, primaryKeyOf } from './dynamodb-items';
import { backoffDelayMs, untilNotThrottled } from './dynamodb-retry';

export interface PresenceCheck {
  tableName: string;
  targetTable: string;
  segment: number;
  /** Backup items checked. */
  items: number;
  /** Backup items whose key the target lacks. */
  missing: number;
  /** Backup items whose key the target holds with other attributes. */
  differing: number;
  /** A few of the keys that failed, for the report. */
  examples: string[];
}

interface PresenceCheckpoint {
  chunksDone: number;
  items: number;
  missing: number;
  differing: number;
  examples: string[];
}

/** Reads `items` back from the table by key (consistent reads), 100 keys a request. */
async function readBack(dynamodb: DynamoDBClient, tableName: string, items: Item[], keyAttributes: string[]): Promise<Map<string, Item>> {
  const found = new Map<string, Item>();
  for (let i = 0; i < items.length; i += 100) {
    const keys = items.slice(i, i + 100).map((item) => Object.fromEntries(keyAttributes.map((k) => [k, item[k]!])));
    let request: Record<string, KeysAndAttributes> | undefined = { [tableName]: { Keys: keys, ConsistentRead: true } };
    for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
      const pending: Record<string, KeysAndAttributes> = request;
      const response = await untilNotThrottled(() => dynamodb.send(new BatchGetItemCommand({ RequestItems: pending })), () => heartbeat());
      for (const item of response.Responses?.[tableName] ?? []) found.set(primaryKeyOf(item, keyAttributes), item);
      request = response.UnprocessedKeys;
      if (request && Object.keys(request).length > 0) await sleep(backoffDelayMs(Math.min(attempt, 8)));
    }
  }
  return found;
}

export function createDynamoDbVerifyActivities(deps: EvidenceDeps & { dynamodb: DynamoDBClient }) {
  const { s3, dynamodb, expectedBucketOwner } = deps;
  return {
    /** Every item of one backup segment is in the target table, equal attribute for attribute. Resumes per chunk. */
    async verifyBackupItemsPresent(input: { location: BackupLocation; tableName: string; targetTable: string; segment: number }): Promise<PresenceCheck> {
      try {
        const manifest = await readAllowedManifest(deps, input.location);
        const table = tableOf(manifest, input.tableName);
        const segment = table.segments.find((s) => s.segment === input.segment);
        if (!segment) throw new BackupCorruptError(`the backup of ${input.tableName} has no segment ${input.segment}`);
        const keyAttributes = table.definition.keySchema.map((k) => k.AttributeName);
        const progress: PresenceCheckpoint = (activityInfo().heartbeatDetails as PresenceCheckpoint | undefined) ?? { chunksDone: 0, items: 0, missing: 0, differing: 0, examples: [] };
        for (let i = progress.chunksDone; i < segment.chunks.length; i++) {
          const items = await readChunk(s3, manifest.bucket, segment.chunks[i]!, expectedBucketOwner);
          const found = await readBack(dynamodb, input.targetTable, items, keyAttributes);
          for (const item of items) {
            const key = primaryKeyOf(item, keyAttributes);
            const live = found.get(key);
            if (live && canonicalItem(live) === canonicalItem(item)) continue;
            if (live) progress.differing++;
            else progress.missing++;
            if (progress.examples.length < 5) progress.examples.push(`${live ? 'differs' : 'missing'}: ${key.slice(0, 120)}`);
          }
          progress.items += items.length;
          progress.chunksDone = i + 1;
          heartbeat(progress);
        }
        return { tableName: input.tableName, targetTable: input.targetTable, segment: input.segment, ...progress };
      } catch (err) {
        if (err instanceof BackupCorruptError) throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true, cause: err });
        throw err;
      }
    },

    /** Marks the restore from `backup` into the claim finished (a resume into that claim is then refused). */
    async recordRestore(input: { backup: BackupRef; claimUid: string }): Promise<void> {
      await writeRestoreRecord(deps, input.backup, input.claimUid);
    },

    async restoreFinished(input: { backup: BackupRef; claimUid: string }): Promise<boolean> {
      return restoreRecordExists(deps, input.backup, input.claimUid);
    },
  };
}
