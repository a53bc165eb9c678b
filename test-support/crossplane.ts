/**
 * Variants of the platform's Composition (platform-sim/crossplane/composition.yaml) that tests select
 * with a claim's compositionRef, and the managed Tables of a claim, as Crossplane made them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { KubeClients } from '../activities/kubernetes/client';
import { isConflict } from '../activities/kubernetes/client';
import { COMPOSITE_LABEL } from '../activities/kubernetes/dynamodb-claim';
import { DYNAMODB_CLAIM, MANAGED_TABLE } from '../common/platform';
import type { DynamoDbClaim, ManagedTable } from '../common/platform';

export const COMPOSITION = { group: 'apiextensions.crossplane.io', version: 'v1', plural: 'compositions' } as const;

interface ComposedTemplate {
  name: string;
  base: { apiVersion: string; kind: string; spec: { forProvider: Record<string, unknown> } };
  patches?: { type: string; toFieldPath?: string; transforms?: unknown[]; patchSetName?: string; fromFieldPath?: string }[];
}

interface Composition {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { resources: ComposedTemplate[]; patchSets?: unknown[] } & Record<string, unknown>;
}

export function platformComposition(): Composition {
  return parse(readFileSync(path.join(__dirname, '..', 'platform-sim', 'crossplane', 'composition.yaml'), 'utf8')) as Composition;
}

/** Creates the Composition once (same name, same content), through Crossplane's validating webhook. */
async function ensureComposition(kube: KubeClients, composition: Composition): Promise<string> {
  try {
    await kube.custom.createClusterCustomObject({ ...COMPOSITION, body: composition });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  return composition.metadata.name;
}

/** The platform's Composition with a fourth Table, `<base>-<instance>`, keyed by `<base>_id`. */
export function compositionWithExtraTable(kube: KubeClients, base: string): Promise<string> {
  const composition = platformComposition();
  composition.metadata.name = `virtualcoffee-dynamodb-with-${base}`;
  const key = `${base}_id`;
  composition.spec.resources.push({
    name: base,
    base: {
      apiVersion: `${MANAGED_TABLE.group}/${MANAGED_TABLE.version}`,
      kind: MANAGED_TABLE.kind,
      spec: {
        forProvider: {
          region: 'us-west-2',
          billingMode: 'PAY_PER_REQUEST',
          attributeDefinitions: [{ attributeName: key, attributeType: 'S' }],
          keySchema: [{ attributeName: key, keyType: 'HASH' }],
        },
      },
    },
    patches: [
      {
        type: 'FromCompositeFieldPath',
        fromFieldPath: 'spec.parameters.instance',
        toFieldPath: 'metadata.annotations[crossplane.io/external-name]',
        transforms: [{ type: 'string', string: { type: 'Format', fmt: `${base}-%s` } }],
      },
      { type: 'PatchSet', patchSetName: 'table-policies' },
    ],
  });
  return ensureComposition(kube, composition);
}

/**
 * The platform's Composition without its external-name patches: each Table's table is then named
 * after the Table object's generated name, as the provider defaults it.
 */
export function compositionWithoutExternalNames(kube: KubeClients): Promise<string> {
  const composition = platformComposition();
  composition.metadata.name = 'virtualcoffee-dynamodb-unnamed';
  for (const resource of composition.spec.resources) {
    resource.patches = (resource.patches ?? []).filter((p) => p.toFieldPath !== 'metadata.annotations[crossplane.io/external-name]');
  }
  return ensureComposition(kube, composition);
}

/** The managed Tables composed for the instance's claim now, by the composite's label. */
export async function managedTablesOf(kube: KubeClients, instance: string): Promise<ManagedTable[]> {
  const claim = (await kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` })) as DynamoDbClaim;
  const composite = claim.spec.resourceRef?.name;
  if (!composite) throw new Error(`claim of ${instance} has no composite yet`);
  const list = (await kube.custom.listClusterCustomObject({ ...MANAGED_TABLE, labelSelector: `${COMPOSITE_LABEL}=${composite}` })) as { items: ManagedTable[] };
  return list.items;
}
