/**
 * The restart runbook's inputs, plan and result, and the pure judgement of a Deployment's rollout
 * (shared by the workflow, the activities and the tests). The guide's fix is
 * `kubectl rollout restart deployment/<name>`: a new pod-template annotation
 * (`kubectl.kubernetes.io/restartedAt`), which makes the Deployment controller roll every pod.
 * Pure code.
 */
import { InvalidInputError } from './instance';
import { API_DEPLOYMENT, FRONTEND_DEPLOYMENT } from './platform';
import type { RunbookOptions } from './runbook';
import { RESTART_TARGETS } from './triage';
import type { RestartTarget } from './triage';

/** The pod-template annotation `kubectl rollout restart` sets (its value: the restart's time). */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
/** The AWS provider's namespace; its Deployment is named `provider-aws-<hash>` by Crossplane's package manager. */
export const CROSSPLANE_NAMESPACE = 'crossplane-system';
export const PROVIDER_AWS_PREFIX = 'provider-aws';

export interface RestartInput {
  instance: string;
  target: RestartTarget;
  reason?: string;
  options: RunbookOptions;
  /** How long to wait for the restarted rollout to complete. Default 10 minutes. */
  rolloutTimeoutMs?: number;
}

/** One Deployment as the plan and the checks read it. */
export interface DeploymentState {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  observedGeneration: number;
  /** spec.replicas */
  replicas: number;
  paused: boolean;
  /** The pod-template annotation the last restart set, if any. */
  restartedAt?: string;
  /** The ReplicaSet of the current template (the Deployment's revision), and its pod-template-hash. */
  currentReplicaSet?: string;
  templateHash?: string;
  status: { replicas: number; updatedReplicas: number; readyReplicas: number; availableReplicas: number };
  conditions: { type: string; status: string; reason?: string; message?: string }[];
  /** Every ReplicaSet the Deployment owns, with its replicas (spec and status). */
  replicaSets: { name: string; templateHash?: string; replicas: number; statusReplicas: number }[];
}

export interface RestartPlan {
  instance: string;
  target: RestartTarget;
  deployment: { namespace: string; name: string; uid: string };
  generation: number;
  replicas: number;
  templateHash?: string;
  currentReplicaSet?: string;
  /** What `kubectl rollout restart` changes, and nothing else. */
  change: string;
}

/** What the patch activity is asked to do; the approval guard checks it against the plan. */
export interface RestartChange {
  instance: string;
  namespace: string;
  name: string;
  uid: string;
  /** The generation the plan saw: the patch is refused if the Deployment changed since. */
  generation: number;
  /** The same for every attempt of the run (the workflow's time once approved), so a retry is a no-op. */
  restartedAt: string;
}

export interface RestartDetails {
  deployment: string;
  namespace: string;
  restartedAt: string;
  before: { replicaSet?: string; templateHash?: string; generation: number };
  after: { replicaSet?: string; templateHash?: string; generation: number };
  /** From the approval to the patch, and from the patch to a complete rollout. */
  durationsMs: { patch: number; rollout: number };
}

export function validateRestartTarget(target: unknown): RestartTarget {
  if (typeof target !== 'string' || !(RESTART_TARGETS as readonly string[]).includes(target)) {
    throw new InvalidInputError(`target ${JSON.stringify(target)} is not one of ${RESTART_TARGETS.join(', ')}`);
  }
  return target as RestartTarget;
}

/** The instance's own Deployment for a target; the provider's is looked up by prefix in crossplane-system. */
export function instanceDeploymentOf(target: Exclude<RestartTarget, 'provider-aws'>): string {
  return target === 'api' ? API_DEPLOYMENT : FRONTEND_DEPLOYMENT;
}

/** Exactly one Deployment in crossplane-system must be the AWS provider's, or the restart refuses naming what it found. */
export function chooseProviderDeployment(names: string[]): string {
  const matching = names.filter((n) => n.startsWith(PROVIDER_AWS_PREFIX)).sort();
  if (matching.length === 1) return matching[0]!;
  throw new InvalidInputError(
    matching.length === 0
      ? `no Deployment in ${CROSSPLANE_NAMESPACE} starts with ${PROVIDER_AWS_PREFIX} (found: ${names.sort().join(', ') || 'none'})`
      : `${matching.length} Deployments in ${CROSSPLANE_NAMESPACE} start with ${PROVIDER_AWS_PREFIX} (${matching.join(', ')}); restart one by hand`,
  );
}

/**
 * Why a rollout of this Deployment is not complete, or undefined when it is: the controller has not
 * seen the latest spec, fewer pods run the current template than desired or are available, old pods
 * remain, or the Progressing condition is anything but "new ReplicaSet available".
 */
export function rolloutInProgress(d: DeploymentState): string | undefined {
  const s = d.status;
  const where = `Deployment ${d.namespace}/${d.name}`;
  if (d.paused) return `${where} is paused (resume it first)`;
  if (d.observedGeneration < d.generation) return `${where}: the controller has not observed generation ${d.generation} yet (observed ${d.observedGeneration})`;
  if (s.updatedReplicas < d.replicas) return `${where}: ${s.updatedReplicas} of ${d.replicas} replicas run the current template`;
  if (s.replicas > s.updatedReplicas) return `${where}: ${s.replicas - s.updatedReplicas} old replicas are still running`;
  if (s.availableReplicas < d.replicas) return `${where}: ${s.availableReplicas} of ${d.replicas} replicas are available`;
  const progressing = d.conditions.find((c) => c.type === 'Progressing');
  if (progressing && !(progressing.status === 'True' && progressing.reason === 'NewReplicaSetAvailable')) {
    return `${where}: Progressing is ${progressing.status} (${progressing.reason ?? 'no reason'}${progressing.message ? `: ${progressing.message}` : ''})`;
  }
  return undefined;
}

/** The plan: which Deployment, as it is now; refused while its rollout is in progress. */
export function planRestart(instance: string, target: RestartTarget, d: DeploymentState): RestartPlan {
  const busy = rolloutInProgress(d);
  if (busy) throw new InvalidInputError(`a rollout is in progress, not restarting: ${busy}`);
  return {
    instance,
    target,
    deployment: { namespace: d.namespace, name: d.name, uid: d.uid },
    generation: d.generation,
    replicas: d.replicas,
    templateHash: d.templateHash,
    currentReplicaSet: d.currentReplicaSet,
    change: `set spec.template.metadata.annotations["${RESTARTED_AT_ANNOTATION}"] (kubectl rollout restart)`,
  };
}

/** What must not change between the plan and the patch. */
export function plannedDeployment(d: Pick<DeploymentState, 'namespace' | 'name' | 'uid' | 'generation' | 'templateHash'>) {
  return { namespace: d.namespace, name: d.name, uid: d.uid, generation: d.generation, templateHash: d.templateHash };
}

/**
 * Why the restarted rollout is not complete yet, or undefined when it is: the controller observed the
 * patched generation, every desired replica runs the new template and is available, the old
 * ReplicaSet is scaled to 0, and the Deployment is Available.
 */
export function restartIncomplete(d: DeploymentState, patchedGeneration: number, oldReplicaSet: string | undefined): string | undefined {
  const where = `Deployment ${d.namespace}/${d.name}`;
  if (d.observedGeneration < patchedGeneration) return `${where}: waiting for the controller to observe generation ${patchedGeneration} (observed ${d.observedGeneration})`;
  const s = d.status;
  if (s.updatedReplicas !== d.replicas || s.availableReplicas !== d.replicas || s.replicas !== d.replicas) {
    return `${where}: ${s.updatedReplicas} updated, ${s.availableReplicas} available, ${s.replicas} in all of ${d.replicas} desired`;
  }
  if (oldReplicaSet && oldReplicaSet === d.currentReplicaSet) return `${where}: no new ReplicaSet yet (still ${oldReplicaSet})`;
  const old = d.replicaSets.find((rs) => rs.name === oldReplicaSet);
  if (old && (old.replicas > 0 || old.statusReplicas > 0)) return `${where}: the old ReplicaSet ${old.name} still has ${old.statusReplicas} pods (scaled to ${old.replicas})`;
  const available = d.conditions.find((c) => c.type === 'Available');
  if (available?.status !== 'True') return `${where}: not Available (${available?.reason ?? 'no Available condition'})`;
  return undefined;
}
