/** `make seed`: seeds the demo instance into the running stack (idempotent). */
import { loadConfig } from '../../common/config';
import { createActivityDeps } from '../../worker/dependencies';
import { ensureBackupBucket, seedInstanceTables } from './aws';

async function main(): Promise<void> {
  const instance = process.argv[2] ?? 'demo';
  const config = loadConfig();
  const deps = createActivityDeps(config);
  try {
    await ensureBackupBucket(deps.s3, config.aws.backupBucket);
    const items = await seedInstanceTables(deps.dynamodb, instance);
    for (const [table, rows] of Object.entries(items)) console.log(`seeded ${table}: ${rows.length} items`);
    console.log(`backup bucket: s3://${config.aws.backupBucket}`);
  } finally {
    deps.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
