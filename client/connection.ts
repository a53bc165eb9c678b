import { Client, Connection } from '@temporalio/client';
import type { RunbooksConfig } from '../common/config';

/** A Temporal client for the configured server, with a message a person can act on when it is down. */
export async function connectClient(config: RunbooksConfig): Promise<{ client: Client; close: () => Promise<void> }> {
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
  return { client: new Client({ connection, namespace: config.temporal.namespace }), close: () => connection.close() };
}

export function workflowUiUrl(uiBaseUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiBaseUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}
