/**
 * The runbook worker's per-instance access (deploy/instance-rbac.yaml), rendered and applied the
 * way the README tells an operator to: the placeholder replaced by the instance's name, every
 * object applied. The seed grants it with each instance, as the platform ships it with each one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { KubeClients } from '../activities/kubernetes/client';
import { getOrUndefined } from '../activities/kubernetes/client';
import { validateInstanceName } from '../common/instance';

export const INSTANCE_RBAC_FILE = path.join(__dirname, '..', 'deploy', 'instance-rbac.yaml');
/** What the operator's `sed` replaces; not a valid namespace, so an unrendered file is refused. */
export const INSTANCE_PLACEHOLDER = 'INSTANCE_NAME';

export interface RbacObject {
  apiVersion: string;
  kind: 'Role' | 'RoleBinding';
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  rules?: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

const PLURALS = { Role: 'roles', RoleBinding: 'rolebindings' } as const;
const SERVER_SIDE_APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** deploy/instance-rbac.yaml for one instance, as objects. */
export function renderInstanceRbac(instance: string): RbacObject[] {
  const text = readFileSync(INSTANCE_RBAC_FILE, 'utf8').replaceAll(INSTANCE_PLACEHOLDER, validateInstanceName(instance));
  return parseAllDocuments(text).map((doc) => {
    const object = doc.toJS() as RbacObject;
    if (!(object.kind in PLURALS)) throw new Error(`${INSTANCE_RBAC_FILE}: unexpected kind ${object.kind}`);
    return object;
  });
}

/** The object's address for the generic client, which serves the built-in RBAC group like any other. */
function address(object: RbacObject) {
  const [group, version] = object.apiVersion.split('/') as [string, string];
  return { group, version, plural: PLURALS[object.kind], namespace: object.metadata.namespace, name: object.metadata.name };
}

/** Applies the instance's access (server-side apply: created, or updated to the file's rules). */
export async function grantWorkerAccess(kube: KubeClients, instance: string): Promise<void> {
  for (const object of renderInstanceRbac(instance)) {
    await kube.custom.patchNamespacedCustomObject({ ...address(object), body: object, fieldManager: 'vcp-runbooks-seed', force: true }, SERVER_SIDE_APPLY);
  }
}

/** Deletes the instance's access; objects already gone are fine. */
export async function revokeWorkerAccess(kube: KubeClients, instance: string): Promise<void> {
  for (const object of renderInstanceRbac(instance)) {
    await getOrUndefined(kube.custom.deleteNamespacedCustomObject(address(object)));
  }
}
