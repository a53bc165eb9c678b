/**
 * A loopback DynamoDB endpoint for tests of native export as a backup method: a proxy in front of
 * dynalite (or the stack's emulator, scripts/stack/dynamodb-emulator.js, which serves PITR settings but
 * no export) that forwards every request except these four, which it implements itself, so PITR and
 * exports agree, after the DynamoDB API Reference:
 *
 * - DescribeContinuousBackups  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeContinuousBackups.html
 * - UpdateContinuousBackups    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateContinuousBackups.html
 * - ExportTableToPointInTime   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html
 * - DescribeExport             https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeExport.html
 *   (its ExportDescription:    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportDescription.html)
 *
 * and writes each export to S3 (moto) in the layout of the Developer Guide's "DynamoDB table export
 * output format" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)
 * through test-support/native-export.ts. Neither dynalite (no such API) nor moto (one data file, no
 * manifest-summary/manifest-files) can serve one.
 *
 * Modelled: PITR per table, off until UpdateContinuousBackups enables it (its window runs from the
 * enable time to now); ExportTableToPointInTime refuses a table without PITR
 * (PointInTimeRecoveryUnavailableException), an ExportTime in the future or before PITR was enabled
 * (InvalidExportTimeException), a missing table (TableNotFoundException), and honours ClientToken: the
 * same token with the same parameters returns the same export, with other parameters
 * IdempotentParameterMismatchException. It answers IN_PROGRESS; DescribeExport says COMPLETED once the
 * files are written and `completeAfterMs` passed, or FAILED with a FailureCode/FailureMessage for the
 * tables in `failTables`.
 *
 * Not modelled: point-in-time images of the past. The export holds the table as it is when the export is
 * requested, whatever its ExportTime (which is checked, and recorded in the summary). Nor ION or
 * incremental exports, an export without S3Prefix, KMS, the 8-hour token expiry, the window's few
 * minutes of lag on AWS (LatestRestorableDateTime is now here), or PITR state surviving a table's deletion.
 */
import { DescribeTableCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readAll, sendJson } from './dynamodb-fault-proxy';
import { buildNativeExport, newExportId, putNativeExport } from './native-export';

export interface NativeExportEndpointOptions {
  /** Base URL of dynalite, where everything else goes. */
  target: string;
  /** A client of dynalite itself: tables are described and scanned through it. */
  dynamodb: DynamoDBClient;
  /** Where exports are written (moto). */
  s3: S3Client;
  /** DescribeExport says IN_PROGRESS until this long after the export's files are written (default 0). */
  completeAfterMs?: number;
  /** Exports of these tables end FAILED with this code and message, writing no manifest. */
  failTables?: Record<string, { code: string; message: string }>;
  /** The first N ExportTableToPointInTime requests start their export, then answer 500 as if the response was lost. */
  loseFirstExportResponses?: number;
}

interface ExportRecord {
  description: Record<string, unknown>;
  /** The request's parameters, for ClientToken idempotency. */
  params: string;
}

export interface NativeExportEndpointStats {
  /** ExportTableToPointInTime requests received, and exports actually started. */
  exportRequests: number;
  exportsStarted: number;
  forwarded: number;
}

export interface NativeExportEndpoint {
  url: string;
  stats: NativeExportEndpointStats;
  /** Every export started: its ExportDescription as DescribeExport returns it now. */
  exports(): Record<string, unknown>[];
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

const seconds = (ms: number) => ms / 1000;

export async function startNativeExportEndpoint(options: NativeExportEndpointOptions): Promise<NativeExportEndpoint> {
  const target = new URL(options.target);
  const { dynamodb, s3, completeAfterMs = 0, failTables = {} } = options;
  let losing = options.loseFirstExportResponses ?? 0;
  const stats: NativeExportEndpointStats = { exportRequests: 0, exportsStarted: 0, forwarded: 0 };
  /** Table name → when PITR was enabled (ms). */
  const pitr = new Map<string, number>();
  const exports = new Map<string, ExportRecord>();
  const byToken = new Map<string, string>();
  const agent = new http.Agent({ keepAlive: true });

  async function describeTable(tableName: string): Promise<{ tableArn: string }> {
    try {
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      return { tableArn: Table!.TableArn! };
    } catch (err) {
      if (err instanceof Error && err.name === 'ResourceNotFoundException') throw new ApiError('TableNotFoundException', `Table not found: ${tableName}`);
      throw err;
    }
  }

  function continuousBackups(tableName: string): Record<string, unknown> {
    const enabledAt = pitr.get(tableName);
    return {
      ContinuousBackupsDescription: {
        ContinuousBackupsStatus: 'ENABLED',
        PointInTimeRecoveryDescription:
          enabledAt === undefined
            ? { PointInTimeRecoveryStatus: 'DISABLED' }
            : { PointInTimeRecoveryStatus: 'ENABLED', RecoveryPeriodInDays: 35, EarliestRestorableDateTime: seconds(enabledAt), LatestRestorableDateTime: seconds(Date.now()) },
      },
    };
  }

  async function describeContinuousBackups(body: Record<string, unknown>): Promise<unknown> {
    const tableName = String(body.TableName);
    await describeTable(tableName);
    return continuousBackups(tableName);
  }

  async function updateContinuousBackups(body: Record<string, unknown>): Promise<unknown> {
    const tableName = String(body.TableName);
    await describeTable(tableName);
    const spec = body.PointInTimeRecoverySpecification as { PointInTimeRecoveryEnabled?: boolean } | undefined;
    if (typeof spec?.PointInTimeRecoveryEnabled !== 'boolean') throw new ApiError('ValidationException', 'PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled is required');
    if (!spec.PointInTimeRecoveryEnabled) pitr.delete(tableName);
    else if (!pitr.has(tableName)) pitr.set(tableName, Date.now());
    return continuousBackups(tableName);
  }

  async function exportTable(body: Record<string, unknown>): Promise<unknown> {
    stats.exportRequests++;
    const text = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
    const tableArn = text(body.TableArn, '');
    const format = text(body.ExportFormat, 'DYNAMODB_JSON');
    const type = text(body.ExportType, 'FULL_EXPORT');
    if (format !== 'DYNAMODB_JSON' || type !== 'FULL_EXPORT') throw new ApiError('ValidationException', `this test endpoint models only FULL_EXPORT in DYNAMODB_JSON, not ${type} in ${format}`);
    if (typeof body.S3Bucket !== 'string' || typeof body.S3Prefix !== 'string') throw new ApiError('ValidationException', 'S3Bucket and (here) S3Prefix are required');
    const params = JSON.stringify([tableArn, body.ExportTime, body.S3Bucket, body.S3Prefix, body.S3BucketOwner, body.S3SseAlgorithm, format, type]);
    const token = typeof body.ClientToken === 'string' ? body.ClientToken : undefined;
    const known = token === undefined ? undefined : exports.get(byToken.get(token) ?? '');
    if (known) {
      if (known.params !== params) throw new ApiError('IdempotentParameterMismatchException', `ClientToken ${token} was used with other parameters`);
      return { ExportDescription: known.description };
    }
    const tableName = /:table\/([^/]+)$/.exec(tableArn)?.[1];
    if (!tableName) throw new ApiError('ValidationException', `TableArn ${tableArn} is not a table ARN`);
    const table = await describeTable(tableName);
    if (table.tableArn !== tableArn) throw new ApiError('TableNotFoundException', `Table not found: ${tableArn}`);
    const enabledAt = pitr.get(tableName);
    if (enabledAt === undefined) throw new ApiError('PointInTimeRecoveryUnavailableException', `Point in time recovery is not enabled for table '${tableName}'`);
    const now = Date.now();
    const exportTimeMs = body.ExportTime === undefined ? now : Math.round(Number(body.ExportTime) * 1000);
    if (!(exportTimeMs <= now)) throw new ApiError('InvalidExportTimeException', `ExportTime ${new Date(exportTimeMs).toISOString()} is in the future`);
    if (exportTimeMs < enabledAt) throw new ApiError('InvalidExportTimeException', `ExportTime ${new Date(exportTimeMs).toISOString()} is before point in time recovery was enabled (${new Date(enabledAt).toISOString()})`);
    const exportId = newExportId();
    const exportArn = `${tableArn}/export/${exportId}`;
    const description: Record<string, unknown> = {
      ExportArn: exportArn,
      ExportStatus: 'IN_PROGRESS',
      StartTime: seconds(now),
      TableArn: tableArn,
      TableId: exportId,
      ExportTime: seconds(exportTimeMs),
      ...(token ? { ClientToken: token } : {}),
      S3Bucket: body.S3Bucket,
      ...(body.S3BucketOwner ? { S3BucketOwner: body.S3BucketOwner } : {}),
      S3Prefix: body.S3Prefix,
      S3SseAlgorithm: body.S3SseAlgorithm ?? 'AES256',
      ExportFormat: format,
      ExportType: type,
    };
    exports.set(exportArn, { description, params });
    if (token) byToken.set(token, exportArn);
    stats.exportsStarted++;
    void writeExport(description, tableName, exportId, exportTimeMs);
    return { ExportDescription: description };
  }

  /** Scans the table as it is now and writes the export's files; then, after the delay, COMPLETED (or the configured failure). */
  async function writeExport(description: Record<string, unknown>, tableName: string, exportId: string, exportTimeMs: number): Promise<void> {
    const failure = failTables[tableName];
    try {
      if (failure) {
        Object.assign(description, { ExportStatus: 'FAILED', FailureCode: failure.code, FailureMessage: failure.message, EndTime: seconds(Date.now()) });
        return;
      }
      const items: Record<string, AttributeValue>[] = [];
      let startKey: Record<string, AttributeValue> | undefined;
      do {
        const page = await dynamodb.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      const built = buildNativeExport({
        bucket: String(description.S3Bucket),
        prefix: String(description.S3Prefix),
        tableName,
        items,
        files: 2,
        exportId,
        tableArn: String(description.TableArn),
        exportTime: new Date(exportTimeMs).toISOString(),
      });
      await putNativeExport(s3, built);
      await new Promise((resolve) => setTimeout(resolve, completeAfterMs));
      Object.assign(description, { ExportStatus: 'COMPLETED', EndTime: seconds(Date.now()), ExportManifest: built.summaryKey, ItemCount: items.length, BilledSizeBytes: 0 });
    } catch (err) {
      Object.assign(description, { ExportStatus: 'FAILED', FailureCode: 'UNKNOWN', FailureMessage: err instanceof Error ? err.message : String(err), EndTime: seconds(Date.now()) });
    }
  }

  function describeExport(body: Record<string, unknown>): unknown {
    const found = exports.get(String(body.ExportArn));
    if (!found) throw new ApiError('ExportNotFoundException', `Export not found: ${String(body.ExportArn)}`);
    return { ExportDescription: found.description };
  }

  const handlers: Record<string, (body: Record<string, unknown>) => unknown> = {
    DescribeContinuousBackups: describeContinuousBackups,
    UpdateContinuousBackups: updateContinuousBackups,
    ExportTableToPointInTime: exportTable,
    DescribeExport: describeExport,
  };
  const json = { 'content-type': 'application/x-amz-json-1.0' };

  async function handle(req: IncomingMessage, res: ServerResponse, operation: string): Promise<void> {
    const handler = handlers[operation];
    if (!handler) {
      stats.forwarded++;
      const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
        const request = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, resolve);
        request.on('error', reject);
        req.pipe(request);
      });
      res.writeHead(upstream.statusCode ?? 502, upstream.rawHeaders);
      upstream.pipe(res);
      return;
    }
    const body = JSON.parse((await readAll(req)).toString('utf8') || '{}') as Record<string, unknown>;
    try {
      const output = await handler(body);
      if (operation === 'ExportTableToPointInTime' && losing > 0) {
        losing--;
        throw new ApiError('InternalServerError', 'the response was lost (injected by the test endpoint after starting the export)', 500);
      }
      sendJson(res, 200, output, json);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      sendJson(res, err.status, { __type: `com.amazonaws.dynamodb.v20120810#${err.type}`, message: err.message }, json);
    }
  }

  const server = http.createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    handle(req, res, operation).catch((err: unknown) => {
      if (res.headersSent) res.destroy(err instanceof Error ? err : undefined);
      else sendJson(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: err instanceof Error ? err.message : String(err) }, json);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    exports: () => [...exports.values()].map((e) => e.description),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
