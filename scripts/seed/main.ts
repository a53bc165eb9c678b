/** `make seed`: seeds the demo instance into the running stack (idempotent). */
import { createKubeClients, loadKubeConfig } from '../../activities/kubernetes/client';
import { loadConfig } from '../../common/config';
import { seedInstance } from '../../platform-sim/seed';
import { createActivityDeps } from '../../worker/dependencies';
import { ensureBackupBucket } from './aws';

async function main(): Promise<void> {
  const instance = process.argv[2] ?? 'demo';
  const config = loadConfig();
  const deps = createActivityDeps(config);
  try {
    await ensureBackupBucket(deps.s3, config.aws.backupBucket);
    const kube = createKubeClients(loadKubeConfig(config.kubernetes.kubeconfig));
    const seeded = await seedInstance(kube, deps.dynamodb, instance);
    for (const [table, rows] of Object.entries(seeded.items)) console.log(`seeded ${table}: ${rows.length} items`);
    console.log(`seeded namespace ${instance}, Application virtual-coffee-${instance}, claim ${instance}-dynamodb`);
    console.log(`backup bucket: s3://${config.aws.backupBucket}`);
  } finally {
    deps.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
