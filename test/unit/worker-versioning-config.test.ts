import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../common/config';
import { defaultBuildId, projectRoot } from '../../worker/workflow-bundle';

describe('Worker Versioning settings', () => {
  it('are off unless VCP_WORKER_DEPLOYMENT is set; the build ID is then VCP_BUILD_ID or left to the worker to derive', () => {
    expect(loadConfig({}).worker.deployment).toBeUndefined();
    expect(loadConfig({ VCP_WORKER_DEPLOYMENT: 'vcp-runbooks' }).worker.deployment).toEqual({ name: 'vcp-runbooks', buildId: undefined });
    // An empty value (a pod label that is not there) counts as unset.
    expect(loadConfig({ VCP_WORKER_DEPLOYMENT: 'vcp-runbooks', VCP_BUILD_ID: '' }).worker.deployment).toEqual({ name: 'vcp-runbooks', buildId: undefined });
    expect(loadConfig({ VCP_WORKER_DEPLOYMENT: 'vcp_runbooks-2', VCP_BUILD_ID: '0.1.0-3f9c2a1b4d5e' }).worker.deployment).toEqual({ name: 'vcp_runbooks-2', buildId: '0.1.0-3f9c2a1b4d5e' });
  });

  it('refuse names Temporal or Kubernetes would refuse, and a build ID without a deployment, naming each problem', () => {
    // '.' and ':' are Temporal's version delimiters; a leading '__' is reserved.
    for (const name of ['vcp.runbooks', 'vcp:runbooks', '__vcp', 'a'.repeat(64), 'with space']) {
      expect(() => loadConfig({ VCP_WORKER_DEPLOYMENT: name }), name).toThrow(/VCP_WORKER_DEPLOYMENT=.* must be 1-63 letters/);
    }
    for (const buildId of ['-abc', 'abc.', 'a/b', 'a'.repeat(64), '__x']) {
      expect(() => loadConfig({ VCP_WORKER_DEPLOYMENT: 'vcp-runbooks', VCP_BUILD_ID: buildId }), buildId).toThrow(/VCP_BUILD_ID=.* must be 1-63 letters/);
    }
    const load = () => loadConfig({ VCP_BUILD_ID: '3f9c2a1', VCP_WORKER_DEPLOYMENT: '', VCP_METRICS_ADDRESS: 'nine' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/VCP_METRICS_ADDRESS.*\n.*VCP_BUILD_ID is set but VCP_WORKER_DEPLOYMENT is not/);
  });

  it('the default build ID is the package version and the bundle\'s hash: equal for equal code, different for any change', () => {
    const { version } = JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
    const code = 'export function rollback() {}';
    expect(defaultBuildId(code)).toMatch(new RegExp(`^${version.replace(/\./g, '\\.')}-[0-9a-f]{12}$`));
    expect(defaultBuildId(code)).toBe(defaultBuildId(code));
    expect(defaultBuildId(`${code} `)).not.toBe(defaultBuildId(code));
    // Whatever it derives, the config loader would accept as VCP_BUILD_ID.
    expect(loadConfig({ VCP_WORKER_DEPLOYMENT: 'vcp-runbooks', VCP_BUILD_ID: defaultBuildId(code) }).worker.deployment?.buildId).toBe(defaultBuildId(code));
  });

  it('finds package.json above the source folders and above a build folder inside dist/', () => {
    const root = path.join(__dirname, '..', '..');
    expect(projectRoot(path.join(root, 'worker', 'workflow-bundle.ts'))).toBe(root);
    expect(projectRoot(path.join(root, 'dist', '.build-test-x', 'worker', 'workflow-bundle.js'))).toBe(root);
  });
});
