/**
 * Records the event histories that the replay tests replay against the current workflow code.
 * Run it against a running stack (`make record-histories`) after a deliberate workflow change, and
 * commit the files: a later change that breaks determinism then fails `make test`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startInstanceStatus } from '../client/runbooks';
import { ensureBackupBucket, seedInstanceTables } from './seed/aws';
import { awsClients, config, uniqueInstance, withWorker } from '../test/helpers/stack';

const HISTORY_DIR = path.join(__dirname, '..', 'test', 'histories');

async function main(): Promise<void> {
  const aws = awsClients();
  await mkdir(HISTORY_DIR, { recursive: true });
  try {
    await ensureBackupBucket(aws.s3, config.aws.backupBucket);
    const instance = uniqueInstance('replay');
    await seedInstanceTables(aws.dynamodb, instance, { users: 5, matches: 2, feedback: 1 });
    await withWorker(async ({ client, taskQueue }) => {
      const handle = await startInstanceStatus(client, taskQueue, instance);
      await handle.result();
      const file = path.join(HISTORY_DIR, 'instance-status.json');
      await writeFile(file, historyToJSON(await handle.fetchHistory()) + '\n');
      console.log(`recorded ${path.relative(process.cwd(), file)}`);
    });
  } finally {
    aws.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
