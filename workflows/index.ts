export { instanceStatus } from './instance-status';
export { rollback } from './rollback';
export { unpin } from './unpin';
