/** `runbook status <instance>`: the guide's "Check overall instance status" (exit 3 when unhealthy). */
import { startInstanceStatus } from '../runbooks';
import { EXIT, print, withClient } from './context';
import type { Cli } from './context';

export function registerStatus({ program, output }: Cli): void {
  program
    .command('status <instance>')
    .description('check an instance: Application, Deployments, tables, backup bucket (exit 3 when unhealthy)')
    .action(async (instance: string) => {
      await withClient(async (client, config) => {
        const report = await (await startInstanceStatus(client, config.temporal.taskQueue, instance)).result();
        print(output(), report, () =>
          [
            `${instance}: ${report.healthy ? 'healthy' : 'UNHEALTHY'}`,
            `  Application ${report.application.name}: ${report.application.exists ? `${report.application.syncStatus}/${report.application.health} at ${report.application.syncedRevision ?? '?'}` : 'missing'}`,
            ...report.deployments.map((d) => `  Deployment ${d.name}: ${d.exists ? `${d.availableReplicas}/${d.replicas} available` : 'missing'}`),
            ...report.tables.map((t) => `  table ${t.tableName}: ${t.exists ? `${t.status}, ${t.itemCount} items` : 'missing'}`),
            ...report.problems.map((p) => `  problem: ${p}`),
          ].join('\n'),
        );
        if (!report.healthy) process.exitCode = EXIT.notSucceeded;
      });
    });
}
