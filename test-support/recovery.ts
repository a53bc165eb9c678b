/** What the DynamoDB recovery tests read and arrange on the cluster: the claim, writers, sync, a table the composite owns beyond the platform's. */
import { DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getOrUndefined } from '../activities/kubernetes/client';
import type { KubeClients } from '../activities/kubernetes/client';
import { COMPOSITE_LABEL } from '../activities/kubernetes/dynamodb-claim';
import { API_DEPLOYMENT, APPLICATION, ARGOCD_NAMESPACE, DYNAMODB_CLAIM, DYNAMODB_COMPOSITE, EXTERNAL_NAME_ANNOTATION, MANAGED_TABLE, MATCHING_CRONJOB } from '../common/platform';
import type { Application, DynamoDbClaim, DynamoDbComposite } from '../common/platform';
import { waitFor } from '../platform-sim/seed';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunbookResult } from '../common/runbook';
import { approveAs, awaitApprovalGate } from './approvers';

export async function readClaim(kube: KubeClients, instance: string): Promise<DynamoDbClaim | undefined> {
  return (await getOrUndefined(kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace: instance, name: `${instance}-dynamodb` }))) as DynamoDbClaim | undefined;
}

export async function readApp(kube: KubeClients, instance: string): Promise<Application> {
  return (await kube.custom.getNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: `virtual-coffee-${instance}` })) as Application;
}

async function writersOf(kube: KubeClients, instance: string) {
  const api = await kube.apps.readNamespacedDeployment({ name: API_DEPLOYMENT, namespace: instance });
  const cron = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
  return { apiReplicas: api.spec?.replicas, cronSuspended: Boolean(cron.spec?.suspend) };
}

/** Claim UID, writers and automated sync: what a refused recovery must leave exactly as it found. */
export async function instanceState(kube: KubeClients, instance: string) {
  const [claim, writers, app] = await Promise.all([readClaim(kube, instance), writersOf(kube, instance), readApp(kube, instance)]);
  return { claimUid: claim?.metadata.uid, writers, automatedSync: app.spec.syncPolicy?.automated ?? null };
}

/**
 * Adds a managed Table the claim's composite owns beyond the platform's three, as a changed
 * Composition would: labelled and owned by the composite (so it is deleted with it), not listed in
 * its resourceRefs. The provider creates the DynamoDB table; `items` are put into it.
 */
export async function addOwnedTable(kube: KubeClients, dynamodb: DynamoDBClient, instance: string, base: string, items = 0): Promise<string> {
  const claim = await readClaim(kube, instance);
  const compositeName = claim?.spec.resourceRef?.name;
  if (!compositeName) throw new Error(`claim of ${instance} has no composite yet`);
  const composite = (await kube.custom.getClusterCustomObject({ ...DYNAMODB_COMPOSITE, name: compositeName })) as DynamoDbComposite;
  const tableName = `${base}-${instance}`;
  await kube.custom.createClusterCustomObject({
    ...MANAGED_TABLE,
    body: {
      apiVersion: `${MANAGED_TABLE.group}/${MANAGED_TABLE.version}`,
      kind: MANAGED_TABLE.kind,
      metadata: {
        name: `${compositeName}-${base}`,
        annotations: { [EXTERNAL_NAME_ANNOTATION]: tableName },
        labels: { [COMPOSITE_LABEL]: compositeName },
        ownerReferences: [{ apiVersion: `${DYNAMODB_COMPOSITE.group}/${DYNAMODB_COMPOSITE.version}`, kind: DYNAMODB_COMPOSITE.kind, name: compositeName, uid: composite.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        deletionPolicy: 'Delete',
        forProvider: {
          region: 'us-west-2',
          billingMode: 'PAY_PER_REQUEST',
          attributeDefinitions: [{ attributeName: 'audit_id', attributeType: 'S' }],
          keySchema: [{ attributeName: 'audit_id', keyType: 'HASH' }],
        },
      },
    },
  });
  await waitFor(`${tableName} ACTIVE`, async () => (await dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.TableStatus === 'ACTIVE', 120_000);
  for (let i = 0; i < items; i++) {
    await dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { audit_id: { S: `audit-${String(i).padStart(4, '0')}` }, event: { S: `login ${i}` }, at: { N: String(1_700_000_000 + i) } } }));
  }
  return tableName;
}

/**
 * The run's end, approving it as alice if it asks (as an operator who trusts the plan would): a
 * refusal must come before the approval gate, so `asked` says whether anything could have changed.
 */
export async function approveIfAsked<T>(handle: WorkflowHandle): Promise<{ result?: RunbookResult<T>; failure?: unknown; asked: boolean }> {
  const ended = handle.result().then(
    (result) => ({ result: result as RunbookResult<T> }),
    (failure: unknown) => ({ failure }),
  );
  const stop = new AbortController();
  const gate = awaitApprovalGate(handle, 120_000, stop.signal).then(() => 'gate' as const, () => 'ended' as const);
  if ((await Promise.race([ended.then(() => 'ended' as const), gate])) === 'gate') {
    await approveAs(handle, 'alice');
    return { ...(await ended), asked: true };
  }
  // The run ended before its gate: stop polling and let the last query finish before the caller closes the connection.
  stop.abort();
  await gate;
  return { ...(await ended), asked: false };
}

/** Every message down an error's cause chain. */
export function messages(err: unknown): string {
  const chain: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.message);
  return chain.join('\n');
}
