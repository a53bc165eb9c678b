export { instanceStatus } from './instance-status';
