/**
 * Names of the platform's per-instance resources, and the validation every entry point applies.
 * Pure code: safe to import from workflows.
 */

/** The platform's DynamoDB tables; each instance has `<base>-<instance>`. */
export const PLATFORM_TABLE_BASES = ['users', 'matches', 'feedback'] as const;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}

/** Instances are Kubernetes namespaces, so their names are DNS-1123 labels. */
export function validateInstanceName(instance: unknown): string {
  if (typeof instance !== 'string' || instance.length === 0) {
    throw new InvalidInputError('instance name is required');
  }
  if (instance.length > 63 || !DNS1123_LABEL.test(instance)) {
    throw new InvalidInputError(
      `instance name ${JSON.stringify(instance)} is not a DNS-1123 label ` +
        '(at most 63 lowercase letters, digits or "-", starting and ending with a letter or digit)',
    );
  }
  return instance;
}

export function instanceTableNames(instance: string): string[] {
  return PLATFORM_TABLE_BASES.map((base) => `${base}-${instance}`);
}

export function argoApplicationName(instance: string): string {
  return `virtual-coffee-${instance}`;
}

export function dynamodbClaimName(instance: string): string {
  return `${instance}-dynamodb`;
}
