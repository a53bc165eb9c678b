import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../common/config';
import { SEARCH_ATTRIBUTES } from '../../common/definitions';

interface Service {
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
}

const compose = parse(readFileSync(path.join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

function publishedContainerPorts(service: string): number[] {
  return (compose.services[service]?.ports ?? []).map((p) => Number(p.split(':').at(-1)));
}

describe('docker-compose.yml', () => {
  const env = compose.services.worker!.environment!;

  it('configures the worker only with variables the config loader reads, and they load cleanly', () => {
    expect(Object.keys(env).filter((name) => !(CONFIG_VARIABLES as readonly string[]).includes(name))).toEqual([]);
    const config = loadConfig(env);
    expect(config.temporal.connection.address).toBe('temporal:7233');
    expect(config.aws.s3ForcePathStyle).toBe(true);
    expect(config.kubernetes.kubeconfig).toBe('/kube/config');
  });

  it('points the worker at services and ports the file defines', () => {
    const [temporalHost, temporalPort] = env.TEMPORAL_ADDRESS!.split(':');
    expect(compose.services[temporalHost!]).toBeDefined();
    expect(publishedContainerPorts(temporalHost!)).toContain(Number(temporalPort));
    for (const variable of ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB'] as const) {
      const url = new URL(env[variable]!);
      expect(compose.services[url.hostname], variable).toBeDefined();
      expect(publishedContainerPorts(url.hostname), variable).toContain(Number(url.port));
    }
  });

  it('registers exactly the search attributes the workflows set', () => {
    const registered = (compose.services.temporal!.command ?? [])
      .filter((arg) => arg.startsWith('--search-attribute='))
      .map((arg) => arg.slice('--search-attribute='.length).split('=')[0]);
    expect(registered.sort()).toEqual(SEARCH_ATTRIBUTES.map((a) => a.name).sort());
  });

  it('tunes the Temporal dev server as scripts/stack/up.sh does', () => {
    const upSh = readFileSync(path.join(__dirname, '..', '..', 'scripts', 'stack', 'up.sh'), 'utf8');
    const settings = [...upSh.matchAll(/--(dynamic-config-value|sqlite-pragma) (\S+)/g)].map(([, flag, value]) => `--${flag}=${value}`);
    expect(settings.length).toBeGreaterThanOrEqual(4);
    const command = compose.services.temporal!.command ?? [];
    expect(command.filter((arg) => /^--(dynamic-config-value|sqlite-pragma)=/.test(arg)).sort()).toEqual(settings.sort());
  });
});
