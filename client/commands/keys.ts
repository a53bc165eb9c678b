/** `runbook keys init|show`: the operator's own Ed25519 signing key, for approvals and start requests. */
import { defaultKeyDir, initKey, loadKey } from '../keys';
import { identity, identityOption } from '../options';
import { print } from './context';
import type { Cli } from './context';

export function registerKeys({ program, output }: Cli): void {
  const keys = program.command('keys').description('manage your approver signing key');
  keys
    .command('init')
    .description('create your Ed25519 approver key (never overwrites one)')
    .addOption(identityOption('identity'))
    .action((opts: { as?: string }) => {
      const key = initKey(identity(opts.as));
      print(output(), { user: key.user, publicKey: key.publicKey, fingerprint: key.fingerprint, dir: defaultKeyDir() }, () => `key for ${key.user}: ${key.fingerprint}\nadd to the approvers file: {"user": "${key.user}", "groups": [], "publicKey": "${key.publicKey}"}`);
    });
  keys
    .command('show')
    .description('print your public key entry for the approvers file')
    .addOption(identityOption('identity'))
    .action((opts: { as?: string }) => {
      const key = loadKey(identity(opts.as));
      print(output(), { user: key.user, publicKey: key.publicKey, fingerprint: key.fingerprint }, () => `{"user": "${key.user}", "groups": [], "publicKey": "${key.publicKey}"}  # ${key.fingerprint}`);
    });
}
