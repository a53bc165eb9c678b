/**
 * What Crossplane does with a managed Table's DynamoDB table, decided the way its code decides it.
 * Pure code (the workflow imports it).
 */
import type { ManagementAction } from './platform';

const DEFAULT_POLICIES: readonly ManagementAction[] = ['*'];

function policySet(managementPolicies: readonly ManagementAction[] | undefined): Set<ManagementAction> {
  return new Set(managementPolicies && managementPolicies.length > 0 ? managementPolicies : DEFAULT_POLICIES);
}

function isDefault(policies: Set<ManagementAction>): boolean {
  return policies.size === 1 && policies.has('*');
}

/**
 * Whether deleting the managed Table deletes its table: crossplane-runtime's
 * ManagementPoliciesResolver.ShouldDelete (v1.18, pkg/reconciler/managed/policies.go). With the
 * default policies `deletionPolicy` decides; non-default policies decide by themselves (Delete in
 * them deletes even with deletionPolicy Orphan; without it the table is orphaned even with Delete).
 * Non-default policies need the provider's management policies flag; without it the provider
 * refuses to reconcile the Table at all, deletion included (see `deletionBlockers`' reconcile error).
 */
export function deletesItsTable(deletionPolicy: 'Delete' | 'Orphan' | undefined, managementPolicies?: readonly ManagementAction[]): boolean {
  const policies = policySet(managementPolicies);
  if (isDefault(policies)) return deletionPolicy !== 'Orphan';
  if (deletionPolicy !== 'Orphan' && (policies.has('Delete') || policies.has('*'))) return true;
  return policies.has('Delete');
}

/** Whether the managed Table creates its table when it does not exist (a recreated claim's must). */
export function createsItsTable(managementPolicies?: readonly ManagementAction[]): boolean {
  const policies = policySet(managementPolicies);
  return policies.has('*') || policies.has('Create');
}

export function describePolicies(deletionPolicy: 'Delete' | 'Orphan' | undefined, managementPolicies?: readonly ManagementAction[]): string {
  const policies = policySet(managementPolicies);
  return isDefault(policies) ? `deletionPolicy ${deletionPolicy ?? 'Delete'}` : `deletionPolicy ${deletionPolicy ?? 'Delete'}, managementPolicies ${[...policies].join(',')}`;
}
