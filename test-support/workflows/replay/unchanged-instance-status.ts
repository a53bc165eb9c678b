/** The product's instance-status workflow as it is: the control, which must replay. */
export { instanceStatus } from '../../../workflows/instance-status';
