/**
 * Compile-time only (never bundled: workflows/index.ts does not import it). Fails to compile unless
 * workflows/index.ts exports, under each definition's workflow type (common/workflows.ts), a function
 * with that definition's input and result: a workflow and its definition cannot drift apart.
 */
import type { WorkflowImplementations } from '../common/workflows';
import type * as exported from './index';

export type Implementations = Implements<typeof exported>;
type Implements<T extends WorkflowImplementations> = T;
