/**
 * The workflow bundle's entry: each runbook's workflow function, exported under the workflow type
 * its definition in common/workflows.ts names (the type clients start).
 */
import type { WorkflowImplementations } from '../common/workflows';
import type * as exported from './index';
import { diagnosticBundle } from './diagnostic-bundle';
import { dynamodbExport } from './dynamodb-export';
import { dynamodbImport } from './dynamodb-import';
import { dynamodbRecovery } from './dynamodb-recovery';
import { instanceStatus } from './instance-status';
import { rollback } from './rollback';
import { unpin } from './unpin';

export { diagnosticBundle, dynamodbExport, dynamodbImport, dynamodbRecovery, instanceStatus, rollback, unpin };

/**
 * Fails to compile unless this module exports, under each definition's workflow type, a function with
 * that definition's input and result: a workflow and its definition cannot drift apart.
 */
export type Implementations = Implements<typeof exported>;
type Implements<T extends WorkflowImplementations> = T;
