/**
 * The export method's pure decisions (common/dynamodb-export-method.ts): which method a run uses and
 * why, its one ExportTime inside every table's PITR window, the refusals' words, the ClientToken and
 * where a table's export is written.
 */
import { describe, expect, it } from 'vitest';
import {
  chooseExportMethod,
  exportClientToken,
  nativeExportPrefix,
  nativeSummaryKey,
  validateExportMethod,
} from '../../common/dynamodb-export-method';
import type { NativeExportSupport, TablePitr } from '../../common/dynamodb-export-method';
import { InvalidInputError } from '../../common/instance';

const START = new Date('2026-12-03T21:00:00.000Z');

function pitr(tableName: string, status: 'ENABLED' | 'DISABLED', earliest = '2026-12-01T00:00:00.000Z', latest = '2026-12-03T21:05:00.000Z'): TablePitr {
  return { tableName, tableArn: `arn:aws:dynamodb:us-east-1:1:table/${tableName}`, status, ...(status === 'ENABLED' ? { earliestRestorable: earliest, latestRestorable: latest } : {}) };
}
const all = (...tables: TablePitr[]): NativeExportSupport => ({ supported: true, tables });

describe('export method', () => {
  it('defaults to scan (also for inputs from before the option) and refuses anything but scan, native, auto', () => {
    expect(validateExportMethod(undefined)).toBe('scan');
    expect(validateExportMethod('auto')).toBe('auto');
    expect(() => validateExportMethod('snapshot')).toThrow(InvalidInputError);
    expect(() => validateExportMethod('snapshot')).toThrow('method "snapshot" is not one of scan, native, auto');
  });

  it('scan needs no check of the endpoint and records no reason', () => {
    expect(chooseExportMethod('scan', START)).toEqual({ method: 'scan', record: { method: 'scan', requested: 'scan' } });
  });

  it('native: one ExportTime for every table, the run start when inside every window', () => {
    const choice = chooseExportMethod('native', START, all(pitr('users-a', 'ENABLED'), pitr('matches-a', 'ENABLED')));
    expect(choice).toEqual({ method: 'native', exportTime: START.toISOString(), record: { method: 'native', requested: 'native' } });
  });

  it('native: the end of the tightest window when it ends before the run started (AWS lags a few minutes)', () => {
    const choice = chooseExportMethod('native', START, all(pitr('users-a', 'ENABLED', undefined, '2026-12-03T20:55:00.000Z'), pitr('matches-a', 'ENABLED')));
    expect(choice).toMatchObject({ method: 'native', exportTime: '2026-12-03T20:55:00.000Z' });
  });

  it('native: refused when a window begins after that time (PITR enabled after the run started)', () => {
    const choice = chooseExportMethod('native', START, all(pitr('users-a', 'ENABLED', '2026-12-03T21:01:00.000Z'), pitr('matches-a', 'ENABLED')));
    expect(choice).toEqual({ refused: expect.stringContaining('do not overlap at 2026-12-03T21:00:00.000Z (users-a enabled later)') as unknown });
  });

  it('native: refused naming every table without PITR and how to enable it, or --method scan', () => {
    const choice = chooseExportMethod('native', START, all(pitr('users-a', 'ENABLED'), pitr('matches-a', 'DISABLED'), pitr('feedback-a', 'DISABLED')));
    expect('refused' in choice && choice.refused).toBe(
      'point-in-time recovery is not enabled on matches-a, feedback-a: a native export reads the PITR log. Enable it with ' +
        '`aws dynamodb update-continuous-backups --table-name matches-a --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`, ' +
        '`aws dynamodb update-continuous-backups --table-name feedback-a --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`, or use --method scan',
    );
  });

  it('native: refused on an endpoint without the API, in the words the operator needs', () => {
    const choice = chooseExportMethod('native', START, { supported: false, unsupportedOperation: 'DescribeContinuousBackups' });
    expect(choice).toEqual({ refused: 'this DynamoDB endpoint does not support ExportTableToPointInTime; use --method scan (it does not implement DescribeContinuousBackups)' });
  });

  it('auto: native when every table qualifies, else scan with the reason', () => {
    expect(chooseExportMethod('auto', START, all(pitr('users-a', 'ENABLED')))).toMatchObject({ method: 'native', record: { method: 'native', requested: 'auto', reason: expect.stringContaining('every table has point-in-time recovery') as unknown } });
    const fallback = chooseExportMethod('auto', START, all(pitr('users-a', 'ENABLED'), pitr('matches-a', 'DISABLED')));
    expect(fallback).toEqual({ method: 'scan', record: { method: 'scan', requested: 'auto', reason: expect.stringMatching(/^native export not possible: point-in-time recovery is not enabled on matches-a/) as unknown } });
    expect(chooseExportMethod('auto', START, { supported: false, unsupportedOperation: 'DescribeExport' })).toMatchObject({ method: 'scan', record: { reason: expect.stringContaining('does not support ExportTableToPointInTime') as unknown } });
  });

  it('the ClientToken is the same for the same run and table (a retried start), different for another table or run, 64 characters', () => {
    const token = exportClientToken('dynamodb-export/demo/x', 'run-1', 'users-demo');
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(exportClientToken('dynamodb-export/demo/x', 'run-1', 'users-demo')).toBe(token);
    expect(exportClientToken('dynamodb-export/demo/x', 'run-1', 'matches-demo')).not.toBe(token);
    expect(exportClientToken('dynamodb-export/demo/x', 'run-2', 'users-demo')).not.toBe(token);
  });

  it('writes each table\'s export inside the backup folder and finds its summary where the Developer Guide puts it', () => {
    const prefix = nativeExportPrefix('dynamodb-backups/demo/20261203T210000Z-run', 'users-demo');
    expect(prefix).toBe('dynamodb-backups/demo/20261203T210000Z-run/native/users-demo');
    expect(nativeSummaryKey(prefix, 'arn:aws:dynamodb:us-east-1:1:table/users-demo/export/01764795600000-a1b2c3d4')).toBe(`${prefix}/AWSDynamoDB/01764795600000-a1b2c3d4/manifest-summary.json`);
    expect(() => nativeSummaryKey(prefix, 'arn:aws:dynamodb:us-east-1:1:table/users-demo')).toThrow(InvalidInputError);
  });
});
