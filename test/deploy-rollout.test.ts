/**
 * deploy/render-worker.sh, the first step of deploy/ROLLOUT.md: each build gets a Deployment of its
 * own (its pinned runs need its workers until they end), selected by its build ID, on the image tagged
 * with it, and the worker reads that label as its build ID. Rendered by the real kubectl (its built-in
 * kustomize) and accepted by the real API server. test/worker-versioning.test.ts proves what the
 * versions do on the Temporal server.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../common/config';
import { config } from '../test-support/stack';

const exec = promisify(execFile);
const root = path.join(__dirname, '..');
const VERSION_LABEL = 'app.kubernetes.io/version';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface WorkerDeployment {
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { serviceAccountName: string; containers: { image: string; env: EnvVar[] }[] };
    };
  };
}

function kubectl(): string {
  const found = process.env.KUBECTL;
  if (!found) throw new Error('KUBECTL is not set: run the tests with `make test`');
  return found;
}

async function render(buildId: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(path.join(root, 'deploy', 'render-worker.sh'), [buildId], { env: { ...process.env, KUBECTL: kubectl() } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function rendered(buildId: string): Promise<WorkerDeployment> {
  const { code, stdout, stderr } = await render(buildId);
  expect(code, stderr).toBe(0);
  const docs = parseAllDocuments(stdout).map((d) => d.toJS() as WorkerDeployment);
  expect(docs.map((d) => d.kind)).toEqual(['Deployment']);
  return docs[0]!;
}

/** The container's environment as the kubelet sets it: downward-API label references resolved from the pod's labels. */
function podEnv(deployment: WorkerDeployment): Record<string, string> {
  const labels = deployment.spec.template.metadata.labels;
  return Object.fromEntries(
    deployment.spec.template.spec.containers[0]!.env.map((e) => {
      const field = e.valueFrom?.fieldRef?.fieldPath;
      const label = field && /^metadata\.labels\['(.+)'\]$/.exec(field)?.[1];
      if (field && !label) throw new Error(`unexpected fieldRef ${field}`);
      // A missing label resolves to an empty string.
      return [e.name, label ? (labels[label] ?? '') : e.value!];
    }),
  );
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/render-worker.sh: one Deployment per build', () => {
  const plain = parseAllDocuments(readFileSync(path.join(root, 'deploy', 'worker.yaml'), 'utf8')).map((d) => d.toJS() as WorkerDeployment)[0]!;

  it('names, selects and labels each build\'s Deployment by its build ID, runs the image tagged with it, and the worker reads that label as its build ID', async () => {
    const [a, b] = await Promise.all([rendered('3f9c2a1'), rendered('8d0e4b7')]);
    for (const [deployment, buildId] of [[a, '3f9c2a1'], [b, '8d0e4b7']] as const) {
      expect(deployment.metadata.name).toBe(`vcp-runbooks-worker-${buildId}`);
      expect(deployment.spec.selector.matchLabels[VERSION_LABEL]).toBe(buildId);
      expect(deployment.spec.template.metadata.labels[VERSION_LABEL]).toBe(buildId);
      expect(deployment.spec.template.spec.containers[0]!.image).toBe(`ghcr.io/virtual-coffee/vcp-runbooks:${buildId}`);
      // The ServiceAccount of deploy/rbac.yaml, not renamed with the Deployment.
      expect(deployment.spec.template.spec.serviceAccountName).toBe('vcp-runbooks-worker');
      expect(loadConfig(podEnv(deployment)).worker.deployment).toEqual({ name: 'vcp-runbooks', buildId });
      // Nothing else changes: the render is the file with those four things set.
      const undone = structuredClone(deployment);
      undone.metadata.name = plain.metadata.name;
      delete undone.metadata.labels![VERSION_LABEL];
      delete undone.spec.selector.matchLabels[VERSION_LABEL];
      delete undone.spec.template.metadata.labels[VERSION_LABEL];
      undone.spec.template.spec.containers[0]!.image = plain.spec.template.spec.containers[0]!.image;
      expect(undone).toEqual(plain);
    }
    // Neither build's Deployment adopts the other's pods.
    expect(selects(a.spec.selector.matchLabels, b.spec.template.metadata.labels)).toBe(false);
    expect(selects(b.spec.selector.matchLabels, a.spec.template.metadata.labels)).toBe(false);
    // Applied without the render, the worker is still versioned, with the build ID its bundle's hash gives.
    expect(loadConfig(podEnv(plain)).worker.deployment).toEqual({ name: 'vcp-runbooks', buildId: undefined });
  });

  it('the API server accepts two builds side by side (server-side dry run)', async () => {
    const kubeconfig = ['--kubeconfig', config.kubernetes.kubeconfig!];
    await exec(kubectl(), [...kubeconfig, 'apply', '-f', path.join(root, 'deploy', 'rbac.yaml')]);
    const both = (await render('3f9c2a1')).stdout + '---\n' + (await render('8d0e4b7')).stdout;
    const child = execFile(kubectl(), [...kubeconfig, 'apply', '--dry-run=server', '-f', '-']);
    const done = new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl apply exited ${code}`))));
    });
    child.stdin!.end(both);
    const out = await done;
    expect(out).toMatch(/deployment\.apps\/vcp-runbooks-worker-3f9c2a1 (created|configured|unchanged) \(server dry run\)/);
    expect(out).toMatch(/deployment\.apps\/vcp-runbooks-worker-8d0e4b7 (created|configured|unchanged) \(server dry run\)/);
  });

  it('refuses a build ID that cannot be a label, a name suffix and an image tag, printing nothing to apply', async () => {
    for (const bad of ['', 'Release-1', '-abc', 'abc-', 'a_b', 'a'.repeat(41)]) {
      const { code, stdout, stderr } = await render(bad);
      expect(code, bad).toBe(2);
      expect(stdout, bad).toBe('');
      expect(stderr, bad).toMatch(/build ID .* must be 1-40 lowercase letters/);
    }
    // What the script accepts, the worker's config accepts too.
    expect(loadConfig({ VCP_WORKER_DEPLOYMENT: 'vcp-runbooks', VCP_BUILD_ID: `a.${'0'.repeat(37)}z` }).worker.deployment?.buildId).toHaveLength(40);
  });
});
