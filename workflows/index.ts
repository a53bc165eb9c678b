export { instanceStatus } from './instance-status';
export { rollback } from './rollback';
export { unpin } from './unpin';
export { diagnosticBundle } from './diagnostic-bundle';
export { dynamodbRecovery } from './dynamodb-recovery';
export { dynamodbExport } from './dynamodb-export';
export { dynamodbImport } from './dynamodb-import';
