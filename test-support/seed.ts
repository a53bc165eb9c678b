/** Seeding inside vitest tests (kept apart from stack.ts, which scripts import outside vitest). */
import { onTestFinished } from 'vitest';
import { deleteInstance, seedInstance } from '../platform-sim/seed';
import type { SeededInstance, SeedOptions } from '../platform-sim/seed';
import { awsClients } from './stack';

/**
 * Seeds an instance for one test and removes it when the test ends, so the cluster (and the
 * simulators' polling) stays small however many tests run.
 */
export async function seedForTest(instance: string, options: SeedOptions = {}): Promise<SeededInstance> {
  const clients = awsClients();
  onTestFinished(async () => {
    await deleteInstance(clients.kube, instance).catch(() => undefined);
    clients.close();
  });
  return seedInstance(clients.kube, clients.dynamodb, instance, options);
}
