export { instanceStatus } from './instance-status';
export { rollback } from './rollback';
