/**
 * DynamoDB's native export to S3 as a backup method: whether the endpoint and every table qualify
 * (point-in-time recovery on, the API implemented), starting one export per table at the run's one
 * ExportTime with an idempotent ClientToken, and polling it until it completes. Reading and staging the
 * finished export is activities/aws/backup-staging.ts (the same code an import of a native export uses).
 *
 * API Reference: ExportTableToPointInTime, DescribeExport, DescribeContinuousBackups
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_<Operation>.html).
 */
import {
  DescribeContinuousBackupsCommand,
  DescribeExportCommand,
  DescribeTableCommand,
  ExportTableToPointInTimeCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import { nativeSummaryKey, UNSUPPORTED_MESSAGE } from '../../common/dynamodb-export-method';
import type { NativeExportSupport, TablePitr } from '../../common/dynamodb-export-method';
import { notYet } from '../not-ready';
import { isUnsupported } from './dynamodb-tables';

export interface PitrExportDeps {
  dynamodb: DynamoDBClient;
  backupBucket: string;
  expectedBucketOwner?: string;
}

export interface StartNativeExportInput {
  tableName: string;
  /** ISO time: the run's one ExportTime. */
  exportTime: string;
  clientToken: string;
  /** Inside the backup's folder (nativeExportPrefix). */
  s3Prefix: string;
}

export interface FinishedNativeExport {
  exportArn: string;
  exportTime: string;
  /** manifest-summary.json of the export, in the backup bucket. */
  summaryKey: string;
  itemCount?: number;
}

/** Errors no retry can fix: the request itself is refused. */
const FINAL_EXPORT_ERRORS = new Set([
  'PointInTimeRecoveryUnavailableException',
  'InvalidExportTimeException',
  'TableNotFoundException',
  'ResourceNotFoundException',
  'IdempotentParameterMismatchException',
  'ExportConflictException',
  'ExportNotFoundException',
  'ValidationException',
  'AccessDeniedException',
]);

function final(err: unknown): never {
  if (isUnsupported(err)) throw ApplicationFailure.create({ type: 'NativeExportUnsupported', message: UNSUPPORTED_MESSAGE, nonRetryable: true, cause: err as Error });
  if (err instanceof Error && FINAL_EXPORT_ERRORS.has(err.name)) throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true, cause: err });
  throw err;
}

const iso = (d: Date | undefined) => (d ? d.toISOString() : undefined);

export function createPitrExportActivities(deps: PitrExportDeps) {
  const { dynamodb, backupBucket, expectedBucketOwner } = deps;
  return {
    /**
     * Each table's PITR status and window, and whether the endpoint has the export API at all (a
     * DescribeExport of an export that cannot exist answers ExportNotFoundException where it does,
     * an unknown-operation error where it does not). Read-only; starts nothing.
     */
    async checkNativeExportSupport(tableNames: string[]): Promise<NativeExportSupport> {
      const tables: TablePitr[] = [];
      for (const tableName of tableNames) {
        const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
        const tableArn = Table!.TableArn!;
        let described;
        try {
          described = await dynamodb.send(new DescribeContinuousBackupsCommand({ TableName: tableName }));
        } catch (err) {
          if (isUnsupported(err)) return { supported: false, unsupportedOperation: 'DescribeContinuousBackups' };
          throw err;
        }
        const pitr = described.ContinuousBackupsDescription?.PointInTimeRecoveryDescription;
        const enabled = pitr?.PointInTimeRecoveryStatus === 'ENABLED';
        tables.push({
          tableName,
          tableArn,
          status: enabled ? 'ENABLED' : 'DISABLED',
          ...(enabled ? { earliestRestorable: iso(pitr.EarliestRestorableDateTime), latestRestorable: iso(pitr.LatestRestorableDateTime) } : {}),
        });
      }
      const probe = tables[0];
      if (probe) {
        try {
          await dynamodb.send(new DescribeExportCommand({ ExportArn: `${probe.tableArn}/export/00000000000000-00000000` }));
        } catch (err) {
          if (isUnsupported(err)) return { supported: false, unsupportedOperation: 'DescribeExport' };
          if (!(err instanceof Error && err.name === 'ExportNotFoundException')) throw err;
        }
      }
      return { supported: true, tables };
    },

    /**
     * Starts (or, on a retry, finds again: same ClientToken, same parameters) the table's full export
     * in DynamoDB JSON at the run's ExportTime into the backup's own folder. Returns its ARN.
     */
    async startNativeExport(input: StartNativeExportInput): Promise<{ exportArn: string }> {
      try {
        const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: input.tableName }));
        const { ExportDescription } = await dynamodb.send(
          new ExportTableToPointInTimeCommand({
            TableArn: Table!.TableArn!,
            ExportTime: new Date(input.exportTime),
            ClientToken: input.clientToken,
            S3Bucket: backupBucket,
            S3BucketOwner: expectedBucketOwner,
            S3Prefix: input.s3Prefix,
            S3SseAlgorithm: 'AES256',
            ExportFormat: 'DYNAMODB_JSON',
            ExportType: 'FULL_EXPORT',
          }),
        );
        return { exportArn: ExportDescription!.ExportArn! };
      } catch (err) {
        return final(err);
      }
    },

    /** One poll: not yet while IN_PROGRESS (the retry policy asks again), a final failure when FAILED. */
    async checkNativeExport(exportArn: string): Promise<FinishedNativeExport> {
      let description;
      try {
        description = (await dynamodb.send(new DescribeExportCommand({ ExportArn: exportArn }))).ExportDescription;
      } catch (err) {
        return final(err);
      }
      if (!description) throw notYet(`DescribeExport of ${exportArn} answered without a description`);
      const status = description.ExportStatus;
      if (status === 'IN_PROGRESS') throw notYet(`export ${exportArn} is in progress`);
      if (status !== 'COMPLETED') {
        throw ApplicationFailure.create({
          type: 'NativeExportFailed',
          message: `DynamoDB export ${exportArn} ${status ?? 'has no status'}: ${description.FailureCode ?? 'no failure code'}: ${description.FailureMessage ?? 'no failure message'}`,
          nonRetryable: true,
        });
      }
      if (description.S3Bucket !== backupBucket) {
        throw ApplicationFailure.create({ type: 'NativeExportFailed', message: `export ${exportArn} was written to bucket ${description.S3Bucket}, not the backup bucket ${backupBucket}`, nonRetryable: true });
      }
      return {
        exportArn,
        exportTime: iso(description.ExportTime)!,
        summaryKey: nativeSummaryKey(description.S3Prefix ?? '', exportArn),
        itemCount: description.ItemCount,
      };
    },
  };
}
