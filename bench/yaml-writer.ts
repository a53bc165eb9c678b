/**
 * The diagnostic bundle's YAML writer (activities/diagnostics/yaml.ts) against the `yaml` package's
 * stringify on the same data: a List of 200 pods shaped as the API server sends them (managedFields,
 * env, probes, status with conditions and container states, multi-line annotations). Prints ms per
 * run and µs per KiB of output, median of 15 after 3 warm-ups. No stack needed:
 * `npx tsx bench/yaml-writer.ts`.
 */
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { toYamlText } from '../activities/diagnostics/yaml';

function pod(i: number): unknown {
  const at = new Date(Date.UTC(2026, 10, 29, 6, i % 60, i % 60)).toISOString().replace('.000', '');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `virtual-coffee-api-7d9c6b5f4-${i.toString(36).padStart(5, 'x')}`,
      namespace: 'coffee-prod',
      uid: `5f0c4a52-${i.toString(16).padStart(4, '0')}-4c1e-9d6b-2f1b8e0a7c31`,
      resourceVersion: String(100_000 + i),
      creationTimestamp: at,
      labels: { app: 'virtual-coffee-api', 'pod-template-hash': '7d9c6b5f4', 'virtualcoffee.io/instance': 'coffee-prod' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': at, 'config.virtualcoffee.io/checksum': 'sha256:0c4f2a', note: 'line one\nline two: with colon\n' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'virtual-coffee-api-7d9c6b5f4', uid: 'a1b2', controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: at, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"api"}': { '.': {}, 'f:image': {} } } } } },
      ],
    },
    spec: {
      containers: [
        {
          name: 'api',
          image: 'ghcr.io/virtual-coffee/api:4f2c9d1',
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          env: [
            { name: 'NODE_ENV', value: 'production' },
            { name: 'PORT', value: '8080' },
            { name: 'USERS_TABLE', value: 'users-coffee-prod' },
            { name: 'FEATURE_FLAGS', value: 'matching=true,feedback=on' },
            { name: 'OAUTH_CLIENT_SECRET', valueFrom: { secretKeyRef: { name: 'oauth', key: 'client-secret' } } },
          ],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          readinessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
          args: ['--listen', ':8080', '--log-level', 'info'],
          imagePullPolicy: 'IfNotPresent',
          terminationMessagePath: '/dev/termination-log',
        },
      ],
      nodeName: 'kwok-node-0',
      restartPolicy: 'Always',
      serviceAccountName: 'default',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      volumes: [{ name: 'config', configMap: { name: 'virtual-coffee-config', defaultMode: 420 } }],
    },
    status: {
      phase: 'Running',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: at })),
      hostIP: '10.0.0.1',
      podIP: `10.244.0.${i % 250}`,
      startTime: at,
      containerStatuses: [{ name: 'api', ready: true, restartCount: i % 3, image: 'ghcr.io/virtual-coffee/api:4f2c9d1', imageID: 'sha256:abc', containerID: 'containerd://0123', started: true, state: { running: { startedAt: at } } }],
      qosClass: 'Burstable',
    },
  };
}

function median(samples: number[]): number {
  return [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

function measure(name: string, write: () => string): void {
  for (let i = 0; i < 3; i++) write();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 15; i++) {
    const started = performance.now();
    bytes = Buffer.byteLength(write());
    times.push(performance.now() - started);
  }
  const ms = median(times);
  console.log(`${name.padEnd(26)} ${ms.toFixed(1).padStart(7)} ms per run  ${((ms * 1000) / (bytes / 1024)).toFixed(1).padStart(7)} µs per KiB  (${(bytes / 1024).toFixed(0)} KiB)`);
}

const list = { apiVersion: 'v1', kind: 'List', items: Array.from({ length: 200 }, (_, i) => pod(i)) };
measure('ours (toYamlText)', () => toYamlText(list));
measure('yaml package (stringify)', () => stringify(list, { lineWidth: 0 }));
