/** The guide's "Deployment Issues": the Argo CD Application not syncing, and pods not starting. */
import type { V1Container, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { RUNBOOKS } from '../definitions';
import { argoApplicationName } from '../instance';
import { API_DEPLOYMENT, ARGOCD_NAMESPACE, FRONTEND_DEPLOYMENT } from '../platform';
import { GUIDE_SECTIONS } from '../triage';
import type { Evidence, Finding, FixRunbook } from '../triage';
import { known, objectRef } from './evidence';
import type { TriageEvidence } from './evidence';

const REPOSITORY_ERROR = /repository not (?:found|accessible)|authentication required|unable to (?:resolve|ls-remote)|could not read from remote|Unable to fetch|connection refused/i;
const PATH_ERROR = /app path does not exist|path .* does not exist|no such file or directory/i;
/** Containers restarted at least this often are crash-looping even between CrashLoopBackOff waits. */
const CRASH_RESTARTS = 3;

export function argoCdNotSyncing(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.argoCdNotSyncing;
  const name = argoApplicationName(e.instance);
  const ref = objectRef('Application', name, ARGOCD_NAMESPACE);
  const app = e.application;
  const analyzer = 'argocd';
  if (!app) {
    if (!known(e, 'application')) return [];
    return [{ id: `argocd/missing/${name}`, analyzer, severity: 'critical', title: `The Argo CD Application ${name} does not exist`, evidence: [{ object: ref, value: 'not found' }], guideSection: section, remedy: `make deploy-instance INSTANCE=${e.instance}` }];
  }
  const findings: Finding[] = [];
  const sync: FixRunbook = { runbook: RUNBOOKS.sync };
  for (const c of app.status?.conditions ?? []) {
    if (!/Error$/.test(c.type)) continue;
    const wrongPath = PATH_ERROR.test(c.message);
    const repository = REPOSITORY_ERROR.test(c.message);
    findings.push({
      id: `argocd/${wrongPath ? 'wrong-path' : repository ? 'repository' : c.type.toLowerCase()}/${name}`,
      analyzer,
      severity: 'error',
      title: wrongPath
        ? `${name} points at a path its repository does not have (${app.spec.source?.path ?? '?'})`
        : repository
          ? `Argo CD cannot read ${name}'s repository`
          : `${name} has a ${c.type}`,
      evidence: [
        { object: ref, field: `status.conditions[${c.type}]`, value: c.message.split('\n')[0] },
        ...(wrongPath ? [{ object: ref, field: 'spec.source.path', value: app.spec.source?.path ?? '(none)' }] : []),
        ...(repository ? [{ object: ref, field: 'spec.source.repoURL', value: app.spec.source?.repoURL ?? '(none)' }] : []),
      ],
      guideSection: section,
      ...(wrongPath || repository ? { remedy: wrongPath ? 'Set spec.source.path to the instance manifests\' path in git' : 'Check the repository secret and the repo server (kubectl logs -n argocd deployment/argocd-repo-server)' } : { fix: sync }),
    });
  }
  const op = app.status?.operationState;
  if (op && (op.phase === 'Failed' || op.phase === 'Error')) {
    findings.push({
      id: `argocd/sync-failed/${name}`,
      analyzer,
      severity: 'error',
      title: `The last sync of ${name} ${op.phase === 'Error' ? 'errored' : 'failed'}`,
      evidence: [{ object: ref, field: 'status.operationState', value: `${op.phase} at ${op.finishedAt ?? op.startedAt}: ${op.message ?? ''}`.trim() }],
      guideSection: section,
      fix: sync,
    });
  }
  const syncStatus = app.status?.sync?.status;
  if (syncStatus === 'OutOfSync' && findings.length === 0) {
    const drifted = (app.status?.resources ?? []).filter((r) => r.status === 'OutOfSync');
    const automated = Boolean(app.spec.syncPolicy?.automated) && app.spec.syncPolicy?.automated?.enabled !== false;
    findings.push({
      id: `argocd/out-of-sync/${name}`,
      analyzer,
      severity: automated ? 'warning' : 'error',
      title: `${name} is OutOfSync (${drifted.length} resource${drifted.length === 1 ? '' : 's'} differ from git)${automated ? '' : ': no automated sync will fix it'}`,
      evidence: [
        { object: ref, field: 'status.sync.status', value: 'OutOfSync' },
        ...drifted.slice(0, 10).map((r) => ({ object: objectRef(r.kind, r.name, r.namespace), field: 'status', value: r.requiresPruning ? 'OutOfSync (to prune)' : 'OutOfSync' })),
        { object: ref, field: 'spec.syncPolicy.automated', value: automated ? JSON.stringify(app.spec.syncPolicy?.automated) : 'off' },
      ],
      guideSection: section,
      fix: sync,
    });
  }
  const health = app.status?.health;
  if (health && (health.status === 'Degraded' || health.status === 'Missing')) {
    findings.push({
      id: `argocd/${health.status.toLowerCase()}/${name}`,
      analyzer,
      severity: 'error',
      title: `${name} is ${health.status}`,
      evidence: [{ object: ref, field: 'status.health', value: `${health.status}${health.message ? `: ${health.message}` : ''}` }],
      guideSection: section,
      fix: { runbook: RUNBOOKS.rollback },
      remedy: 'If a release caused it, roll back (runbook rollback <instance> --to previous); see the pods findings',
    });
  }
  if (!app.spec.syncPolicy?.automated) {
    findings.push({
      id: `argocd/manual-sync/${name}`,
      analyzer,
      severity: 'info',
      title: `${name} syncs only when asked (no automated sync policy)`,
      evidence: [{ object: ref, field: 'spec.syncPolicy.automated', value: 'absent' }],
      guideSection: section,
    });
  }
  return findings;
}

/** The Deployment a pod belongs to, by the platform's `app` label. */
function restartTargetOf(pod: V1Pod): FixRunbook | undefined {
  const app = pod.metadata?.labels?.['app'];
  if (app === API_DEPLOYMENT) return { runbook: RUNBOOKS.restart, target: 'api' };
  if (app === FRONTEND_DEPLOYMENT) return { runbook: RUNBOOKS.restart, target: 'frontend' };
  return undefined;
}

/** ConfigMaps and Secrets a pod spec needs: volumes, env valueFrom and envFrom (optional ones left out). */
function referencedObjects(spec: V1PodSpec): { kind: 'ConfigMap' | 'Secret'; name: string; where: string }[] {
  const refs: { kind: 'ConfigMap' | 'Secret'; name: string; where: string }[] = [];
  for (const v of spec.volumes ?? []) {
    if (v.configMap?.name && !v.configMap.optional) refs.push({ kind: 'ConfigMap', name: v.configMap.name, where: `volume ${v.name}` });
    if (v.secret?.secretName && !v.secret.optional) refs.push({ kind: 'Secret', name: v.secret.secretName, where: `volume ${v.name}` });
  }
  const containers: V1Container[] = [...(spec.initContainers ?? []), ...spec.containers];
  for (const c of containers) {
    for (const env of c.env ?? []) {
      const cm = env.valueFrom?.configMapKeyRef;
      const secret = env.valueFrom?.secretKeyRef;
      if (cm?.name && !cm.optional) refs.push({ kind: 'ConfigMap', name: cm.name, where: `container ${c.name} env ${env.name}` });
      if (secret?.name && !secret.optional) refs.push({ kind: 'Secret', name: secret.name, where: `container ${c.name} env ${env.name}` });
    }
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef?.name && !from.configMapRef.optional) refs.push({ kind: 'ConfigMap', name: from.configMapRef.name, where: `container ${c.name} envFrom` });
      if (from.secretRef?.name && !from.secretRef.optional) refs.push({ kind: 'Secret', name: from.secretRef.name, where: `container ${c.name} envFrom` });
    }
  }
  return refs;
}

export function podsNotStarting(e: TriageEvidence): Finding[] {
  const section = GUIDE_SECTIONS.podsNotStarting;
  const analyzer = 'pods';
  const findings: Finding[] = [];
  const ns = e.instance;
  // Job pods are the matching analyzer's; a deleting pod is on its way out.
  const pods = e.pods.filter((p) => !p.metadata?.deletionTimestamp && !p.metadata?.labels?.['job-name']);
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '?';
    const ref = objectRef('Pod', name, ns);
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (pod.status?.phase === 'Pending' && scheduled?.status === 'False') {
      const message = scheduled.message ?? scheduled.reason ?? 'unschedulable';
      const cause = /Insufficient|Too many pods/i.test(message) ? 'resources' : /taint/i.test(message) ? 'taints' : /affinity|selector/i.test(message) ? 'affinity' : 'unschedulable';
      findings.push({
        id: `pods/pending-${cause}/${name}`,
        analyzer,
        severity: 'error',
        title: `Pod ${name} cannot be scheduled (${cause === 'resources' ? 'not enough node resources' : cause === 'taints' ? 'node taints' : cause === 'affinity' ? 'node affinity or selector' : scheduled.reason ?? 'unschedulable'})`,
        evidence: [{ object: ref, field: 'status.conditions[PodScheduled]', value: message }],
        guideSection: section,
        remedy: cause === 'resources' ? 'Lower the requests or add capacity (kubectl describe nodes | grep -A 5 "Allocated resources")' : 'Check taints, tolerations and affinity (kubectl get nodes -o json | jq ".items[].spec.taints")',
      });
    }
    for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = status.state?.waiting;
      const last = status.lastState?.terminated;
      const containerRef: Evidence = { object: ref, field: `status.containerStatuses[${status.name}]` };
      if (waiting && /ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull/.test(waiting.reason ?? '')) {
        findings.push({
          id: `pods/image-pull/${name}/${status.name}`,
          analyzer,
          severity: 'error',
          title: `Pod ${name} cannot pull image ${status.image}`,
          evidence: [{ ...containerRef, field: `${containerRef.field}.state.waiting`, value: `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` }],
          guideSection: section,
          remedy: 'Check the image name and tag in git and the registry credentials (imagePullSecrets)',
        });
      } else if (waiting?.reason === 'CreateContainerConfigError') {
        findings.push({
          id: `pods/container-config/${name}/${status.name}`,
          analyzer,
          severity: 'error',
          title: `Pod ${name} cannot create container ${status.name}: its configuration refers to something missing`,
          evidence: [{ ...containerRef, field: `${containerRef.field}.state.waiting`, value: `${waiting.reason}: ${waiting.message ?? ''}` }],
          guideSection: section,
        });
      } else if (waiting?.reason === 'CrashLoopBackOff' || (status.restartCount >= CRASH_RESTARTS && last)) {
        findings.push({
          id: `pods/crash-loop/${name}/${status.name}`,
          analyzer,
          severity: 'error',
          title: `Pod ${name} is crash-looping (${status.restartCount} restarts${last?.exitCode !== undefined ? `, last exit code ${last.exitCode}` : ''})`,
          evidence: [
            { ...containerRef, field: `${containerRef.field}.lastState.terminated`, value: last ? `exitCode ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}${last.finishedAt ? ` at ${new Date(last.finishedAt).toISOString()}` : ''}` : 'none recorded' },
            ...(waiting ? [{ ...containerRef, field: `${containerRef.field}.state.waiting`, value: `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` }] : []),
            ...lastLogLines(e, name, status.name),
          ],
          guideSection: section,
          ...(restartTargetOf(pod) ? { fix: restartTargetOf(pod) } : {}),
          remedy: 'If it started with a release, roll back (runbook rollback <instance> --to previous) rather than restart',
        });
      }
    }
  }
  // Missing ConfigMaps and Secrets, per Deployment (the template decides every pod's references).
  for (const d of e.deployments) {
    const spec = d.spec?.template?.spec;
    if (!spec) continue;
    const dName = d.metadata?.name ?? '?';
    const missing = referencedObjects(spec).filter((r) => (r.kind === 'ConfigMap' ? known(e, 'configMapNames') && !e.configMapNames.includes(r.name) : e.secretNames !== undefined && !e.secretNames.includes(r.name)));
    if (missing.length === 0) continue;
    findings.push({
      id: `pods/missing-config/${dName}`,
      analyzer,
      severity: 'error',
      title: `Deployment ${dName} refers to ${missing.map((m) => `${m.kind} ${m.name}`).join(', ')}, which ${missing.length === 1 ? 'does' : 'do'} not exist`,
      evidence: missing.map((m) => ({ object: objectRef('Deployment', dName, ns), field: `spec.template.spec (${m.where})`, value: `${m.kind} ${m.name} not found` })),
      guideSection: section,
      remedy: 'Create the missing object (or fix the reference in git), then sync',
    });
  }
  for (const pvc of e.pvcs) {
    if (pvc.status?.phase === 'Bound') continue;
    const name = pvc.metadata?.name ?? '?';
    const usedBy = pods.filter((p) => (p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === name)).map((p) => p.metadata?.name);
    findings.push({
      id: `pods/pvc-unbound/${name}`,
      analyzer,
      severity: usedBy.length > 0 ? 'error' : 'warning',
      title: `PersistentVolumeClaim ${name} is ${pvc.status?.phase ?? 'Pending'}${usedBy.length > 0 ? `; pods waiting for it: ${usedBy.join(', ')}` : ''}`,
      evidence: [
        { object: objectRef('PersistentVolumeClaim', name, ns), field: 'status.phase', value: pvc.status?.phase ?? 'Pending' },
        { object: objectRef('PersistentVolumeClaim', name, ns), field: 'spec.storageClassName', value: pvc.spec?.storageClassName ?? '(default)' },
        ...eventsFor(e, 'PersistentVolumeClaim', name),
      ],
      guideSection: section,
      remedy: 'kubectl get pv,pvc -n <instance>: check the storage class and its provisioner',
    });
  }
  for (const policy of e.networkPolicies) {
    const name = policy.metadata?.name ?? '?';
    const types = policy.spec?.policyTypes ?? ['Ingress'];
    const denies = [
      ...(types.includes('Ingress') && (policy.spec?.ingress ?? []).length === 0 ? ['all ingress'] : []),
      ...(types.includes('Egress') && (policy.spec?.egress ?? []).length === 0 ? ['all egress'] : []),
    ];
    if (denies.length === 0) continue;
    const selector = policy.spec?.podSelector;
    const selectsAll = !selector?.matchLabels && !selector?.matchExpressions;
    findings.push({
      id: `pods/network-policy/${name}`,
      analyzer,
      severity: 'warning',
      title: `NetworkPolicy ${name} denies ${denies.join(' and ')} to ${selectsAll ? 'every pod of the namespace' : 'the pods it selects'}`,
      evidence: [{ object: objectRef('NetworkPolicy', name, ns), field: 'spec', value: `policyTypes ${types.join(',')}, podSelector ${JSON.stringify(selector ?? {})}, no ${denies.map((d) => d.split(' ')[1]).join('/')} rules` }],
      guideSection: section,
      remedy: 'Allow the traffic the API and frontend need (kubectl get networkpolicies -n <instance>)',
    });
  }
  for (const d of e.deployments) {
    const dName = d.metadata?.name ?? '?';
    const desired = d.spec?.replicas ?? 1;
    const available = d.status?.availableReplicas ?? 0;
    if (available >= desired) continue;
    // A pod-level finding says why; this one says it is the Deployment's whole state.
    const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
    findings.push({
      id: `pods/deployment-unavailable/${dName}`,
      analyzer,
      severity: available === 0 && desired > 0 ? 'error' : 'warning',
      title: `Deployment ${dName} has ${available}/${desired} replicas available`,
      evidence: [
        { object: objectRef('Deployment', dName, ns), field: 'status.availableReplicas', value: `${available} of ${desired}` },
        ...(progressing ? [{ object: objectRef('Deployment', dName, ns), field: 'status.conditions[Progressing]', value: `${progressing.status} (${progressing.reason ?? ''}): ${progressing.message ?? ''}` }] : []),
      ],
      guideSection: section,
    });
  }
  return findings;
}

function eventsFor(e: TriageEvidence, kind: string, name: string): Evidence[] {
  return e.events
    .filter((ev) => ev.involvedObject.kind === kind && ev.involvedObject.name === name && ev.type === 'Warning')
    .slice(-3)
    .map((ev) => ({ object: objectRef(kind, name, e.instance), event: `${ev.reason ?? ''}: ${ev.message ?? ''}` }));
}

/** The last lines a crashed container logged, for the finding's evidence. */
function lastLogLines(e: TriageEvidence, pod: string, container: string): Evidence[] {
  const tail = e.logs.find((l) => l.pod === pod && l.container === container && l.previous) ?? e.logs.find((l) => l.pod === pod && l.container === container);
  return (tail?.lines ?? []).slice(-3).map((line) => ({ object: objectRef('Pod', pod, e.instance), field: `logs ${container}${tail?.previous ? ' (previous)' : ''}`, logLine: line }));
}
