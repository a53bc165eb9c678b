/** `runbook diagnostics <instance>`: the guide's "Collecting Diagnostic Information", as one bundle in S3. */
import { validateInstanceName } from '../../common/instance';
import { signDownloadLink } from '../download-link';
import { identityOption, urlExpiryOption } from '../options';
import { bundleLines } from '../results';
import { startDiagnosticBundle } from '../runbooks';
import { print, requestedBy, runResult, withClient } from './context';
import type { Cli } from './context';

export function registerDiagnostics({ program, output }: Cli): void {
  program
    .command('diagnostics <instance>')
    .description('collect a diagnostic bundle into S3 and print a download link, signed with your AWS credentials')
    .addOption(urlExpiryOption('download link lifetime (at most 604800)'))
    .addOption(identityOption())
    .action(async (instance: string, opts: { urlExpiry: number; as?: string }) => {
      validateInstanceName(instance);
      const requester = requestedBy(opts.as);
      await withClient(async (client, config) => {
        const handle = await startDiagnosticBundle(client, config.temporal.taskQueue, { instance, options: { requestedBy: requester } });
        const details = (await runResult(handle)).details!;
        // The run says where the bundle is; the link is signed here, so it never enters the history.
        const download = await signDownloadLink(config, details.archive, opts.urlExpiry);
        print(output(), { ...details, download }, () => bundleLines(details, download).map((line) => line.slice(2)).join('\n'));
      });
    });
}
