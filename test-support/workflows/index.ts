// The product's workflows plus drills that exercise the runbook machinery on its own.
export * from '../../workflows';
export { approvalDrill } from './approval-drill';
export { drillParent } from './drill-parent';
