/**
 * What the guide's kubectl commands print, as text for the diagnostic bundle: `kubectl get` tables,
 * `kubectl describe` of pods and nodes, event lists, log tails. Pure formatting of what the collectors
 * read (activities/diagnostics/collectors.ts); values pass through redaction here.
 */
import type { CoreV1Event, V1CronJob, V1DaemonSet, V1Deployment, V1Job, V1Node, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { redactObject, redactText } from '../../common/redact';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n') + '\n';
}

function age(timestamp: Date | string | undefined): string {
  if (!timestamp) return '<unknown>';
  const seconds = Math.max(0, Math.round((Date.now() - new Date(timestamp).getTime()) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function podStatus(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  const terminated = pod.status?.containerStatuses?.find((c) => c.state?.terminated)?.state?.terminated?.reason;
  return waiting ?? terminated ?? pod.status?.phase ?? 'Unknown';
}

/** In the spirit of `kubectl describe pod`: containers, states, last termination, conditions, volumes, events. */
export function describePod(pod: V1Pod, events: CoreV1Event[]): string {
  const p = redactObject(pod);
  const lines = [
    `Name:         ${p.metadata?.name}`,
    `Namespace:    ${p.metadata?.namespace}`,
    `Node:         ${p.spec?.nodeName ?? '<none>'}/${p.status?.hostIP ?? ''}`,
    `Start Time:   ${p.status?.startTime ? new Date(p.status.startTime).toISOString() : '<none>'}`,
    `Labels:       ${Object.entries(p.metadata?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `Status:       ${podStatus(p)}`,
    `IP:           ${p.status?.podIP ?? '<none>'}`,
    'Containers:',
  ];
  for (const c of p.spec?.containers ?? []) {
    const s = p.status?.containerStatuses?.find((cs) => cs.name === c.name);
    const state = s?.state?.running ? 'Running' : s?.state?.waiting ? `Waiting (${s.state.waiting.reason ?? ''})` : s?.state?.terminated ? `Terminated (${s.state.terminated.reason ?? ''}, exit code ${s.state.terminated.exitCode})` : 'Unknown';
    lines.push(`  ${c.name}:`, `    Image:          ${c.image ?? ''}`, `    State:          ${state}`);
    const last = s?.lastState?.terminated;
    if (last) lines.push(`    Last State:     Terminated`, `      Reason:       ${last.reason ?? ''}`, `      Exit Code:    ${last.exitCode}`, `      Finished:     ${last.finishedAt ? new Date(last.finishedAt).toISOString() : ''}`);
    lines.push(`    Ready:          ${s?.ready ?? false}`, `    Restart Count:  ${s?.restartCount ?? 0}`);
    if (c.resources?.requests) lines.push(`    Requests:       ${Object.entries(c.resources.requests).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (c.resources?.limits) lines.push(`    Limits:         ${Object.entries(c.resources.limits).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (c.env?.length) lines.push('    Environment:', ...c.env.map((e) => `      ${e.name}:  ${e.value ?? (e.valueFrom ? '<set from a reference>' : '')}`));
  }
  lines.push('Conditions:', ...(p.status?.conditions ?? []).map((c) => `  ${c.type.padEnd(18)} ${c.status}`));
  lines.push('Volumes:', ...(p.spec?.volumes ?? []).map((v) => `  ${v.name}: ${v.configMap ? `ConfigMap ${v.configMap.name}` : v.secret ? `Secret ${v.secret.secretName} (not collected)` : v.persistentVolumeClaim ? `PVC ${v.persistentVolumeClaim.claimName}` : 'other'}`));
  lines.push('Events:', ...(events.length ? events.map((e) => `  ${e.type ?? ''}  ${e.reason ?? ''}  ${age(e.lastTimestamp ?? e.eventTime)}  ${redactText(e.message ?? '')}`) : ['  <none>']));
  return lines.join('\n') + '\n';
}

/** Keeps at most maxBytes of a log, from its end (the newest lines), on a line boundary. */
export function capTail(log: string, maxBytes: number, notes: string[], what: string): string {
  if (Buffer.byteLength(log, 'utf8') <= maxBytes) return log;
  const bytes = Buffer.from(log, 'utf8');
  const tail = bytes.subarray(bytes.length - maxBytes).toString('utf8');
  const firstNewline = tail.indexOf('\n');
  notes.push(`${what}: log truncated to its last ${maxBytes} bytes (was ${bytes.length})`);
  // Drop a partial first line, and a character the byte cut may have split.
  return firstNewline >= 0 && firstNewline < tail.length - 1 ? tail.slice(firstNewline + 1) : tail.replace(/^\uFFFD/, '');
}


/** What `kubectl get all` lists for a namespace, plus its Jobs and CronJobs. */
export interface NamespaceResources {
  pods: V1Pod[];
  services: V1Service[];
  deployments: V1Deployment[];
  replicaSets: V1ReplicaSet[];
  statefulSets: V1StatefulSet[];
  daemonSets: V1DaemonSet[];
  jobs: V1Job[];
  cronJobs: V1CronJob[];
}

/** In the spirit of `kubectl get all`: one table per kind. */
export function getAllText(r: NamespaceResources): string {
  const sections = [
    table([['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], ...r.pods.map((p) => [`pod/${p.metadata?.name}`, `${(p.status?.containerStatuses ?? []).filter((c) => c.ready).length}/${p.spec?.containers.length ?? 0}`, podStatus(p), String((p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0)), age(p.metadata?.creationTimestamp)])]),
    table([['NAME', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'AGE'], ...r.services.map((s) => [`service/${s.metadata?.name}`, s.spec?.type ?? '', s.spec?.clusterIP ?? '', (s.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(','), age(s.metadata?.creationTimestamp)])]),
    table([['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'], ...r.deployments.map((d) => [`deployment.apps/${d.metadata?.name}`, `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`, String(d.status?.updatedReplicas ?? 0), String(d.status?.availableReplicas ?? 0), age(d.metadata?.creationTimestamp)])]),
    table([['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'], ...r.replicaSets.map((rs) => [`replicaset.apps/${rs.metadata?.name}`, String(rs.spec?.replicas ?? 0), String(rs.status?.replicas ?? 0), String(rs.status?.readyReplicas ?? 0), age(rs.metadata?.creationTimestamp)])]),
    table([['NAME', 'SCHEDULE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE'], ...r.cronJobs.map((c) => [`cronjob.batch/${c.metadata?.name}`, c.spec?.schedule ?? '', String(c.spec?.suspend ?? false), String(c.status?.active?.length ?? 0), age(c.status?.lastScheduleTime), age(c.metadata?.creationTimestamp)])]),
    table([['NAME', 'STATUS', 'COMPLETIONS', 'AGE'], ...r.jobs.map((j) => [`job.batch/${j.metadata?.name}`, j.status?.succeeded ? 'Complete' : j.status?.failed ? 'Failed' : 'Running', `${j.status?.succeeded ?? 0}/${j.spec?.completions ?? 1}`, age(j.metadata?.creationTimestamp)])]),
  ];
  if (r.statefulSets.length || r.daemonSets.length) {
    sections.push(table([['NAME'], ...r.statefulSets.map((s) => [`statefulset.apps/${s.metadata?.name}`]), ...r.daemonSets.map((d) => [`daemonset.apps/${d.metadata?.name}`])]));
  }
  return sections.join('\n');
}

/** `kubectl get events`, oldest first, messages redacted. */
export function eventsText(events: CoreV1Event[]): string {
  const sorted = [...events].sort((a, b) => new Date(a.lastTimestamp ?? a.eventTime ?? 0).getTime() - new Date(b.lastTimestamp ?? b.eventTime ?? 0).getTime());
  return table([['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], ...sorted.map((e) => [age(e.lastTimestamp ?? e.eventTime), e.type ?? '', e.reason ?? '', `${e.involvedObject.kind?.toLowerCase()}/${e.involvedObject.name}`, redactText(e.message ?? '')])]);
}

/**
 * In the spirit of `kubectl describe node`: taints, conditions, allocatable, and the resources the
 * pods on it request. `podsOnNode` is undefined when they were not read (no pod of the instance runs
 * there); `instanceOnly` when only the instance's own pods could be counted.
 */
export function describeNode(node: V1Node, podsOnNode: V1Pod[] | undefined, counted: { instance: string; instanceOnly: boolean }): string {
  const requests = (resource: 'cpu' | 'memory') => (podsOnNode ?? []).flatMap((p) => p.spec?.containers ?? []).map((c) => c.resources?.requests?.[resource] ?? '0').join(' + ') || '0';
  return [
    `Name: ${node.metadata?.name ?? ''}`,
    `Taints: ${(node.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(', ') || '<none>'}`,
    'Conditions:',
    ...(node.status?.conditions ?? []).map((c) => `  ${c.type.padEnd(16)} ${c.status.padEnd(6)} ${c.reason ?? ''}`),
    `Allocatable: ${Object.entries(node.status?.allocatable ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    ...(podsOnNode
      ? [counted.instanceOnly ? `Allocated resources (pods of ${counted.instance} only):` : 'Allocated resources:', `  pods:    ${podsOnNode.length}`, `  cpu:     ${requests('cpu')}`, `  memory:  ${requests('memory')}`]
      : [`Allocated resources: not read (no pod of ${counted.instance} runs here)`]),
  ].join('\n');
}
