import { Client, Connection } from '@temporalio/client';
import type { RunbooksConfig } from '../common/config';
import { startSigningInterceptor } from './signing';
import type { RequesterKeys } from './signing';

/**
 * A Temporal client for the configured server, with a message a person can act on when it is down.
 * Runbook starts are signed with the requester's key from `requesterKeys`.
 */
export async function connectClient(config: RunbooksConfig, requesterKeys?: RequesterKeys): Promise<{ client: Client; close: () => Promise<void> }> {
  const { address, tls, apiKey, metadata } = config.temporal.connection;
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: '5 seconds' });
  } catch (err) {
    throw new Error(
      `cannot reach the Temporal server at ${address}: is it running? ` +
        '(set TEMPORAL_ADDRESS, or start the local stack with `make stack-up`)',
      { cause: err },
    );
  }
  const interceptors = requesterKeys ? { workflow: [startSigningInterceptor(requesterKeys)] } : undefined;
  return { client: new Client({ connection, namespace: config.temporal.namespace, interceptors }), close: () => connection.close() };
}

export function workflowUiUrl(uiBaseUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiBaseUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}
