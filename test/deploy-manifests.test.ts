/**
 * deploy/worker.yaml and deploy/receiver.yaml against the code they run: the variables they set are
 * the ones the loaders read and load cleanly, the probes reach paths the real entry points serve on
 * the ports they listen on, the receiver's token may list and watch namespaces and nothing else
 * (proven with a real token of its ServiceAccount), and the API server accepts both files. The
 * worker's RBAC is checked here for its shape (per instance, by name, read-only cluster-wide) and
 * proven against the API server by deploy-rbac.test.ts.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { createKubeClients, loadKubeConfig, MERGE_PATCH } from '../activities/kubernetes/client';
import { CONFIG_VARIABLES, loadConfig } from '../common/config';
import { initKey } from '../client/keys';
import { INSTANCE_LABEL } from '../common/platform';
import { loadReceiverSettings, RECEIVER_VARIABLES } from '../receiver/config';
import { INSTANCE_PLACEHOLDER, renderInstanceRbac } from '../platform-sim/worker-access';
import type { RbacObject } from '../platform-sim/worker-access';
import { InstanceNamespaces } from '../receiver/instances';
import { serviceAccountKubeConfig } from '../test-support/service-account';
import { config } from '../test-support/stack';
import { freePort } from '../test-support/free-port';

const exec = promisify(execFile);
const root = path.join(__dirname, '..');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  command: string[];
  env: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] } }[];
}
interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  automountServiceAccountToken?: boolean;
  spec?: { template?: { spec: PodSpec }; ports?: { port: number; targetPort: string | number }[]; selector?: Record<string, string> };
  subjects?: { kind: string; name: string }[];
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

function manifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(path.join(root, 'deploy', file), 'utf8')).map((d) => d.toJS() as Manifest);
}

const worker = manifests('worker.yaml');
const receiver = manifests('receiver.yaml');
const rbac = manifests('rbac.yaml');

function deployment(docs: Manifest[]): { pod: PodSpec; container: Container } {
  const pod = docs.find((d) => d.kind === 'Deployment')!.spec!.template!.spec;
  expect(pod.containers).toHaveLength(1);
  return { pod, container: pod.containers[0]! };
}

/** The container's environment; values from Secrets stand in as given (they are not in the file). */
function envOf(container: Container, secrets: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(
    container.env.map((e) => {
      const ref = e.valueFrom?.secretKeyRef;
      return [e.name, ref ? secrets[`${ref.name}/${ref.key}`]! : e.value!];
    }),
  );
}

function containerPort(container: Container, port: string | number): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

const receiverToken = { 'vcp-runbooks-alert-token/token': randomBytes(16).toString('hex') };

describe('deploy/ manifests against the code', () => {
  it('the worker sets only variables the config loader reads, and they load cleanly', () => {
    const env = envOf(deployment(worker).container);
    expect(Object.keys(env).filter((name) => !(CONFIG_VARIABLES as readonly string[]).includes(name))).toEqual([]);
    expect(loadConfig(env).worker.metricsBindAddress).toMatch(/^0\.0\.0\.0:\d+$/);
  });

  it('the receiver sets only variables the config loader and receiver/config.ts read, takes its token from a Secret, and starts runs where the worker polls', () => {
    const { pod, container } = deployment(receiver);
    const env = envOf(container, receiverToken);
    const known = [...CONFIG_VARIABLES, ...RECEIVER_VARIABLES] as readonly string[];
    expect(Object.keys(env).filter((name) => !known.includes(name))).toEqual([]);
    const token = container.env.find((e) => e.name === 'VCP_ALERT_TOKEN')!;
    expect(token.value).toBeUndefined();
    expect(token.valueFrom?.secretKeyRef).toEqual({ name: 'vcp-runbooks-alert-token', key: 'token' });

    const settings = loadReceiverSettings(env);
    expect(settings.token).toBe(receiverToken['vcp-runbooks-alert-token/token']);
    // The rules file is the ConfigMap's key, mounted where VCP_ALERT_RULES_FILE points.
    const mount = container.volumeMounts!.find((m) => m.mountPath === path.posix.dirname(settings.rulesFile));
    const volume = pod.volumes!.find((v) => v.name === mount?.name);
    expect(volume?.configMap?.items).toContainEqual({ key: 'rules.yaml', path: path.posix.basename(settings.rulesFile) });

    const temporal = (c: ReturnType<typeof loadConfig>) => ({ address: c.temporal.connection.address, namespace: c.temporal.namespace, taskQueue: c.temporal.taskQueue });
    expect(temporal(loadConfig(env))).toEqual(temporal(loadConfig(envOf(deployment(worker).container))));
  });

  it('probes and the Service use the port each process listens on, on all interfaces', () => {
    const w = deployment(worker).container;
    const metrics = loadConfig(envOf(w)).worker.metricsBindAddress!;
    const r = deployment(receiver).container;
    const listen = loadReceiverSettings(envOf(r, receiverToken));
    expect(listen.host).toBe('0.0.0.0');
    for (const [container, port] of [[w, Number(metrics.split(':')[1])], [r, listen.port]] as const) {
      for (const probe of [container.readinessProbe, container.livenessProbe]) expect(containerPort(container, probe!.httpGet.port)).toBe(port);
    }
    const service = receiver.find((d) => d.kind === 'Service')!;
    expect(service.spec!.ports!.map((p) => containerPort(r, p.targetPort))).toEqual([listen.port]);
    expect(service.spec!.selector).toEqual({ 'app.kubernetes.io/name': 'vcp-runbooks-alert-receiver' });
  });

  it('the probe paths answer 200 from the real entry points started with the manifests\' variables', async () => {
    const approvers = path.join(mkdtempSync(path.join(tmpdir(), 'vcp-manifests-')), 'approvers.json');
    writeFileSync(approvers, '{}');
    // The receiver's service identity, as the Secret the manifest mounts would hold it.
    const keyDir = mkdtempSync(path.join(tmpdir(), 'vcp-manifests-keys-'));
    initKey('alert-receiver', keyDir);
    const cases = [
      {
        container: deployment(worker).container,
        // Only what differs outside the cluster: addresses, local files, a queue of its own.
        local: (port: number) => ({ VCP_METRICS_ADDRESS: `127.0.0.1:${port}`, VCP_APPROVERS_FILE: approvers, VCP_TASK_QUEUE: `manifests-${randomBytes(4).toString('hex')}` }),
      },
      {
        container: deployment(receiver).container,
        local: (port: number) => ({
          VCP_ALERT_LISTEN: `127.0.0.1:${port}`,
          VCP_ALERT_RULES_FILE: path.join(root, 'receiver', 'default-rules.yaml'),
          VCP_ALERT_SIGNING_KEY_FILE: path.join(keyDir, 'alert-receiver.json'),
        }),
      },
    ];
    for (const { container, local } of cases) {
      // The image runs the compiled entry point; run its source.
      const entry = path.join(root, container.command[1]!.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
      expect(container.command[0]).toBe('node');
      expect(existsSync(entry), entry).toBe(true);
      const port = await freePort();
      const env = { ...process.env, ...envOf(container, receiverToken), TEMPORAL_ADDRESS: config.temporal.connection.address, ...local(port) };
      await withProcess(entry, env, async () => {
        for (const probe of [container.readinessProbe!, container.livenessProbe!]) {
          expect(await getUntilUp(`http://127.0.0.1:${port}${probe.httpGet.path}`), `${entry} ${probe.httpGet.path}`).toBe(200);
        }
      });
    }
  });

  it('the receiver\'s token is mounted in its pod only, and bound to one role that lists and watches namespaces', () => {
    const account = receiver.find((d) => d.kind === 'ServiceAccount')!;
    // Other pods using the account get no token unless they opt in as the receiver does.
    expect(account.automountServiceAccountToken).toBe(false);
    const { pod } = deployment(receiver);
    expect(pod.serviceAccountName).toBe(account.metadata.name);
    expect(pod.automountServiceAccountToken).toBe(true);
    const bindings = [...rbac, ...renderInstanceRbac('demo'), ...receiver].filter((d) => d.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === account.metadata.name));
    expect(bindings.map((b) => [b.kind, b.roleRef?.name])).toEqual([['ClusterRoleBinding', 'vcp-runbooks-alert-receiver']]);
    const role = receiver.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'vcp-runbooks-alert-receiver')!;
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] }]);
  });

  it('with a real token of the receiver\'s ServiceAccount the instance cache syncs, and everything else is denied', async () => {
    const kubectl = process.env.KUBECTL;
    if (!kubectl) throw new Error('KUBECTL is not set: run the tests with `make test`');
    // The account and its binding for real (not the Deployment: nothing here runs pods).
    const dir = mkdtempSync(path.join(tmpdir(), 'vcp-receiver-rbac-'));
    const file = path.join(dir, 'receiver-rbac.yaml');
    writeFileSync(file, receiver.filter((d) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(d.kind)).map((d) => stringify(d)).join('---\n'));
    const kubeconfig = ['--kubeconfig', config.kubernetes.kubeconfig!];
    await exec(kubectl, [...kubeconfig, 'apply', '-f', path.join(root, 'deploy', 'rbac.yaml')]);
    // Grants left by an earlier run would hide one the file no longer makes: only the file's count.
    await exec(kubectl, [...kubeconfig, 'delete', '--ignore-not-found', 'clusterrolebinding/vcp-runbooks-alert-receiver', 'clusterrole/vcp-runbooks-alert-receiver']);
    await exec(kubectl, [...kubeconfig, 'apply', '-f', file]);
    const admin = loadKubeConfig(config.kubernetes.kubeconfig);
    const adminClients = createKubeClients(admin);
    const instance = `rcv-rbac-${randomBytes(4).toString('hex')}`;
    await adminClients.core.createNamespace({ body: { metadata: { name: instance, labels: { [INSTANCE_LABEL]: instance } } } });
    try {
      const kc = await serviceAccountKubeConfig('vcp-runbooks-alert-receiver');
      // RBAC bindings take effect within moments; the informer retries until they do.
      const instances = new InstanceNamespaces(kc, { backoffMs: 100, maxBackoffMs: 500 });
      try {
        await instances.start();
        const deadline = Date.now() + 20_000;
        while (!(instances.synced && instances.isInstance(instance)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
        expect(instances.synced).toBe(true);
        expect(instances.isInstance(instance)).toBe(true);
      } finally {
        await instances.stop();
      }
      const as = createKubeClients(kc);
      try {
        const outcome = (call: Promise<unknown>) => call.then(() => 'allowed', (err: unknown) => (err instanceof ApiException ? err.code : err));
        expect({
          listNamespaces: await outcome(as.core.listNamespace()),
          getNamespace: await outcome(as.core.readNamespace({ name: instance })),
          labelNamespace: await outcome(as.core.patchNamespace({ name: 'kube-system', body: { metadata: { labels: { [INSTANCE_LABEL]: 'kube-system' } } } }, MERGE_PATCH)),
          createNamespace: await outcome(as.core.createNamespace({ body: { metadata: { name: `${instance}-x` } } })),
          listPods: await outcome(as.core.listNamespacedPod({ namespace: instance })),
          listSecrets: await outcome(as.core.listNamespacedSecret({ namespace: 'kube-system' })),
          listConfigMaps: await outcome(as.core.listConfigMapForAllNamespaces()),
        }).toEqual({ listNamespaces: 'allowed', getNamespace: 403, labelNamespace: 403, createNamespace: 403, listPods: 403, listSecrets: 403, listConfigMaps: 403 });
      } finally {
        as.close();
      }
    } finally {
      await adminClients.core.deleteNamespace({ name: instance }).catch(() => undefined);
      adminClients.close();
    }
  });

  it('the API server accepts both files (server-side dry run)', async () => {
    const kubectl = process.env.KUBECTL;
    if (!kubectl) throw new Error('KUBECTL is not set: run the tests with `make test`');
    const kubeconfig = ['--kubeconfig', config.kubernetes.kubeconfig!];
    // The namespace must exist for a dry run of namespaced objects.
    await exec(kubectl, [...kubeconfig, 'apply', '-f', path.join(root, 'deploy', 'rbac.yaml')]);
    const { stdout } = await exec(kubectl, [...kubeconfig, 'apply', '--dry-run=server', '-f', path.join(root, 'deploy', 'worker.yaml'), '-f', path.join(root, 'deploy', 'receiver.yaml')]);
    expect(stdout).toMatch(/deployment\.apps\/vcp-runbooks-worker (created|configured|unchanged) \(server dry run\)/);
    expect(stdout).toMatch(/deployment\.apps\/vcp-runbooks-alert-receiver (created|configured|unchanged) \(server dry run\)/);
    expect(stdout).toMatch(/service\/vcp-runbooks-alert-receiver (created|configured|unchanged) \(server dry run\)/);
    expect(stdout).toMatch(/clusterrolebinding\.rbac\.authorization\.k8s\.io\/vcp-runbooks-alert-receiver (created|configured|unchanged) \(server dry run\)/);
  });
});

/** The role for instance namespaces, granted by each instance's RoleBinding (deploy/instance-rbac.yaml). */
const INSTANCE_ROLE = 'vcp-runbooks-worker-instance';
/** Verbs that act on one named object, so Kubernetes checks resourceNames for them. */
const NAMEABLE = ['get', 'patch', 'update', 'delete'];
const READ_ONLY = ['get', 'list', 'watch'];

describe('the worker\'s RBAC: per instance, by name, read-only across the cluster', () => {
  const clusterRoles = rbac.filter((d) => d.kind === 'ClusterRole');
  const role = (name: string) => clusterRoles.find((r) => r.metadata.name === name);

  it('the instance role is bound only inside instance namespaces, never cluster-wide', () => {
    const clusterBindings = [...rbac, ...worker, ...receiver].filter((d) => d.kind === 'ClusterRoleBinding');
    expect(role(INSTANCE_ROLE)).toBeDefined();
    expect(clusterBindings.filter((b) => b.roleRef?.name === INSTANCE_ROLE)).toEqual([]);
    const instanceBindings = renderInstanceRbac('demo').filter((o) => o.kind === 'RoleBinding' && o.roleRef?.name === INSTANCE_ROLE);
    expect(instanceBindings.map((b) => b.metadata.namespace)).toEqual(['demo']);
  });

  it('what is bound cluster-wide only reads, and reads no pods, logs, Secrets or ConfigMaps', () => {
    const bound = rbac.filter((d) => d.kind === 'ClusterRoleBinding').map((b) => role(b.roleRef!.name)!);
    expect(bound.length).toBeGreaterThan(0);
    const rules = bound.flatMap((r) => r.rules ?? []);
    expect(rules.filter((r) => r.verbs.some((v) => !READ_ONLY.includes(v)))).toEqual([]);
    expect(rules.filter((r) => r.resources.some((x) => ['pods', 'pods/log', 'secrets', 'configmaps', '*'].includes(x)))).toEqual([]);
  });

  it('every rule that acts on one object names it (generated names excepted: pod logs, manual Jobs, the AWS provider), and no named rule also lists or creates', () => {
    expect(role(INSTANCE_ROLE)).toBeDefined();
    // Every role but the cluster-wide read-only one, whose cluster-scoped objects have generated names.
    const clusterBound = new Set(rbac.filter((d) => d.kind === 'ClusterRoleBinding').map((b) => b.roleRef!.name));
    const roles = [...rbac.filter((d) => d.kind.endsWith('Role') && !clusterBound.has(d.metadata.name)), ...renderInstanceRbac('demo')];
    const rules = roles.flatMap((r) => r.rules ?? []);
    // Pod names carry ReplicaSet and Job suffixes; run-matching-job's Job is named after its run.
    const generated = (r: { resources: string[] }) => r.resources.length === 1 && ['pods/log', 'jobs'].includes(r.resources[0]!);
    const unnamed = rules.filter((r) => r.verbs.some((v) => NAMEABLE.includes(v)) && !r.resourceNames?.length && !generated(r));
    // The AWS provider's Deployment is named by Crossplane (provider-aws-<hash>): its Role is confined
    // to crossplane-system, gets and patches, and never deletes.
    const provider = rbac.filter((d) => d.kind === 'Role' && d.metadata.name === 'vcp-runbooks-worker-provider-restart');
    expect(provider.map((r) => r.metadata.namespace)).toEqual(['crossplane-system']);
    const providerRules = provider.flatMap((r) => r.rules ?? []);
    expect(providerRules.flatMap((r) => r.verbs).filter((v) => !['get', 'list', 'patch'].includes(v))).toEqual([]);
    expect(unnamed.filter((r) => !providerRules.includes(r))).toEqual([]);
    // resourceNames on a list or create would silently grant nothing: Kubernetes cannot name those.
    expect(rules.filter((r) => r.resourceNames?.length && r.verbs.some((v) => !NAMEABLE.includes(v)))).toEqual([]);
    expect(rules.filter((r) => r.resources.includes('secrets') || r.verbs.includes('*') || r.resources.includes('*'))).toEqual([]);
  });

  it('rendered for an instance, the template reaches only that instance: its namespace, and its own Application in argocd; two instances share no object', () => {
    const place = (o: RbacObject) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    const demo = renderInstanceRbac('demo');
    expect(JSON.stringify(demo)).not.toContain(INSTANCE_PLACEHOLDER);
    expect([...new Set(demo.map((o) => o.metadata.namespace))].sort()).toEqual(['argocd', 'demo']);
    const names = (o: RbacObject) => (o.rules ?? []).flatMap((r) => r.resources.map((x) => `${x}:${(r.resourceNames ?? ['*']).join(',')}`));
    expect(demo.filter((o) => o.metadata.namespace === 'argocd').flatMap(names)).toEqual(['applications:virtual-coffee-demo']);
    expect(demo.filter((o) => o.metadata.namespace === 'demo').flatMap(names)).toEqual(['virtualcoffeedynamodbclaims:demo-dynamodb', 'virtualcoffeedynamodbclaims:*']);
    const other = renderInstanceRbac('demo-2').map(place);
    expect(demo.map(place).filter((p) => other.includes(p))).toEqual([]);
    expect(() => renderInstanceRbac('Not_An_Instance')).toThrow(/DNS-1123/);
  });
});

/** Runs a TypeScript entry point as the container would run it, and stops it (SIGTERM) afterwards. */
async function withProcess(entry: string, env: NodeJS.ProcessEnv, fn: () => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', entry], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await Promise.race([fn(), exited.then((code) => Promise.reject(new Error(`${entry} exited (${code}) before its probes answered:\n${stderr}`)))]);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** The path's status once the process answers; a 503 (not ready yet: the receiver lists namespaces first) is asked again. */
async function getUntilUp(url: string, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const status = (await fetch(url)).status;
      if (status !== 503 || Date.now() > deadline) return status;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
