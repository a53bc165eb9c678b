/**
 * Gives the platform's pods real logs: for each new pod it writes CRI-format log files and a kwok
 * `Logs` object pointing at them, so `readNamespacedPodLog` (and `kubectl logs [--previous]`) return
 * bytes through the API server, as from a kubelet. Crash-looping pods also get previous-container logs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClients } from '../activities/kubernetes/client';
import { isConflict } from '../activities/kubernetes/client';
import { CRASH_LOOP_ANNOTATION, LOG_FAULTS_ANNOTATION, PART_OF_LABEL, PLATFORM, VERSION_ANNOTATION } from './platform-repo';

export { PART_OF_LABEL, PLATFORM } from './platform-repo';
/** A bearer token the API logs (as a careless app would); diagnostic bundles must redact it. */
export const LOGGED_BEARER_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.c2ltdWxhdGVkLXNlc3Npb24.dG9rZW4tc2lnbmF0dXJl';
export const LOGGED_AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSIMULATEDKEY';

const LOGS = { group: 'kwok.x-k8s.io', version: 'v1alpha1', plural: 'logs' } as const;

function cri(lines: string[], startMs: number, stream: 'stdout' | 'stderr' = 'stdout'): string {
  return lines.map((line, i) => `${new Date(startMs + i * 1000).toISOString().replace('Z', '000000Z')} ${stream} F ${line}\n`).join('');
}

export function currentLogLines(pod: V1Pod, container: string): string[] {
  const name = pod.metadata?.name ?? 'pod';
  const version = pod.metadata?.annotations?.[VERSION_ANNOTATION] ?? 'unknown';
  const faults = (pod.metadata?.annotations?.[LOG_FAULTS_ANNOTATION] ?? '').split(',');
  if (container === 'api') {
    return [
      `INFO  starting virtual-coffee-api version=${version} pod=${name}`,
      'INFO  connected to DynamoDB tables users, matches, feedback',
      'INFO  GET /api/v1/health 200 2ms',
      `DEBUG request headers: {"Authorization": "Bearer ${LOGGED_BEARER_TOKEN}", "User-Agent": "vc-frontend"}`,
      'INFO  GET /api/v1/users/me 200 14ms',
      ...(faults.includes('api-errors')
        ? ['ERROR POST /api/v1/matches 500 31ms: ProvisionedThroughputExceededException', 'ERROR GET /api/v1/users 503 12ms: botocore.exceptions.EndpointConnectionError: could not connect to the DynamoDB endpoint']
        : []),
      ...(faults.includes('auth-errors') ? ['WARN  POST /api/v1/auth/callback 401 8ms', 'ERROR authentication failed: invalid token signature (JWT)'] : []),
      `WARN  retrying with AWS_SECRET_ACCESS_KEY=${LOGGED_AWS_SECRET} from environment`,
      'INFO  GET /api/v1/matches?week=2026-48 200 22ms',
    ];
  }
  if (container === 'frontend') {
    return [
      `nginx: serving virtual-coffee-frontend version=${version} pod=${name}`,
      '127.0.0.1 - - "GET / HTTP/1.1" 200 1532',
      '127.0.0.1 - - "GET /assets/app.js HTTP/1.1" 200 88211',
      '127.0.0.1 - - "GET /api/v1/users/me HTTP/1.1" 502 157',
    ];
  }
  if (faults.includes('matching-failure')) {
    return [`INFO  matching job ${name} started`, 'ERROR matching failed: no active users table users-$(INSTANCE) (ResourceNotFoundException)', 'FATAL exiting with code 1'];
  }
  return [`INFO  matching job ${name} started`, 'INFO  matched 40 active users into 20 pairs', 'INFO  matching job finished'];
}

export function previousLogLines(pod: V1Pod, container: string): string[] {
  return [
    `INFO  starting ${container} in pod ${pod.metadata?.name ?? 'pod'}`,
    'ERROR botocore.exceptions.EndpointConnectionError: could not connect to the DynamoDB endpoint',
    'FATAL exiting with code 1',
  ];
}

export class PodLogsSimulator {
  private readonly done = new Set<string>();

  constructor(
    private readonly kube: KubeClients,
    private readonly logDir: string,
  ) {}

  async reconcileAll(): Promise<void> {
    const pods = await this.kube.core.listPodForAllNamespaces({ labelSelector: `${PART_OF_LABEL}=${PLATFORM}` });
    for (const pod of pods.items) {
      const uid = pod.metadata?.uid;
      if (!uid || this.done.has(uid) || pod.metadata?.deletionTimestamp) continue;
      try {
        await this.giveLogs(pod);
        this.done.add(uid);
      } catch (err) {
        console.error(`pod-logs-sim: ${pod.metadata?.namespace}/${pod.metadata?.name}:`, err);
      }
    }
  }

  private async giveLogs(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const dir = path.join(this.logDir, namespace, name);
    await mkdir(dir, { recursive: true });
    const crashLooping = pod.metadata?.annotations?.[CRASH_LOOP_ANNOTATION] !== undefined;
    const started = Date.parse(pod.metadata?.creationTimestamp?.toString() ?? new Date().toISOString());
    const logs = [];
    for (const container of pod.spec?.containers ?? []) {
      const logsFile = path.join(dir, `${container.name}.log`);
      await writeFile(logsFile, cri(currentLogLines(pod, container.name), started));
      const entry: { containers: string[]; logsFile: string; previousLogsFile?: string } = { containers: [container.name], logsFile };
      if (crashLooping) {
        entry.previousLogsFile = path.join(dir, `${container.name}.previous.log`);
        await writeFile(entry.previousLogsFile, cri(previousLogLines(pod, container.name), started - 60_000, 'stderr'));
      }
      logs.push(entry);
    }
    try {
      await this.kube.custom.createNamespacedCustomObject({
        ...LOGS,
        namespace,
        body: { apiVersion: `${LOGS.group}/${LOGS.version}`, kind: 'Logs', metadata: { name, namespace }, spec: { logs } },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}
