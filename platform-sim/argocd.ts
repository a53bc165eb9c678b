/**
 * A simulated Argo CD application controller: enough of its behaviour, as the runbooks observe it,
 * to test rollbacks and recoveries against a real API server. Not product code.
 *
 * - A sync starts when automated sync is on and the desired revision differs from the synced one,
 *   or when `operation.sync` is written (how `argocd app sync` and Argo CD's rollback work).
 * - A sync moves `operationState` Running -> Succeeded/Failed, rolls the instance's Deployments to the
 *   revision, appends to `status.history`, and health goes Progressing -> Healthy (or Degraded).
 * - The refresh annotation only re-evaluates sync status, then is removed.
 * - Self-heal re-applies the desired state (replicas, CronJob, the DynamoDB claim) while it is on.
 * - Fixtures: annotations list revisions whose sync fails or whose pods crash (health Degraded).
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { KubeClients } from '../activities/kubernetes/client';
import { getOrUndefined, isNotFound, MERGE_PATCH } from '../activities/kubernetes/client';
import {
  API_DEPLOYMENT,
  APPLICATION,
  ARGOCD_NAMESPACE,
  DYNAMODB_CLAIM,
  INSTANCE_DEPLOYMENTS,
  MATCHING_CRONJOB,
  REFRESH_ANNOTATION,
} from '../common/platform';
import type { Application, DynamoDbClaim, HistoryEntry, OperationState } from '../common/platform';

export const SIM = {
  /** The commit the tracked branch points to ("git"), for apps that follow a branch. */
  branchHead: 'sim.virtualcoffee.io/branch-head',
  /** Comma-separated revisions whose sync fails. */
  failingRevisions: 'sim.virtualcoffee.io/failing-revisions',
  /** Comma-separated revisions whose pods crash-loop, so health turns Degraded. */
  degradedRevisions: 'sim.virtualcoffee.io/degraded-revisions',
  /** JSON of the desired state in git: { "replicas": { deployment: n }, "claim": DynamoDbClaim-spec }. */
  desiredState: 'sim.virtualcoffee.io/desired-state',
  /** How long a sync takes, in ms (default 1500). */
  syncDurationMs: 'sim.virtualcoffee.io/sync-duration-ms',
  /** How long before a requested or automated sync starts, in ms (default 0): status stays stale meanwhile. */
  syncStartDelayMs: 'sim.virtualcoffee.io/sync-start-delay-ms',
  /** Deployment pod-template annotation carrying the deployed revision. */
  revision: 'virtualcoffee.io/revision',
  /** Pod-template annotation kwok's stages read to crash-loop a pod. */
  crashLoop: 'sim.virtualcoffee.io/crash-loop',
} as const;

export interface DesiredState {
  replicas: Record<string, number>;
  claim?: DynamoDbClaim['spec'];
}

const COMMIT = /^[0-9a-f]{7,40}$/;

function annotationList(app: Application, key: string): string[] {
  return (app.metadata.annotations?.[key] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export function desiredRevision(app: Application): string | undefined {
  const target = app.spec.sources?.[0]?.targetRevision ?? app.spec.source?.targetRevision ?? 'HEAD';
  return COMMIT.test(target) ? target : app.metadata.annotations?.[SIM.branchHead];
}

export class ArgoCdSimulator {
  /** Revisions that failed to auto-sync: Argo CD does not retry those until the revision changes. */
  private readonly failedAutoSync = new Map<string, string>();
  private readonly selfHealPendingSince = new Map<string, number>();
  private readonly syncWantedSince = new Map<string, number>();

  constructor(private readonly kube: KubeClients) {}

  async reconcileAll(): Promise<void> {
    const list = (await this.kube.custom.listNamespacedCustomObject({ ...APPLICATION, namespace: ARGOCD_NAMESPACE })) as {
      items: Application[];
    };
    for (const app of list.items) {
      try {
        await this.reconcile(app);
      } catch (err) {
        if (!isNotFound(err)) console.error(`argocd-sim: ${app.metadata.name}:`, err);
      }
    }
  }

  private async patchApp(app: Application, patch: Record<string, unknown>): Promise<void> {
    await this.kube.custom.patchNamespacedCustomObject(
      { ...APPLICATION, namespace: ARGOCD_NAMESPACE, name: app.metadata.name, body: patch },
      MERGE_PATCH,
    );
  }

  private async reconcile(app: Application): Promise<void> {
    const now = new Date().toISOString();
    const status = app.status ?? {};
    const op = status.operationState;
    const desired = desiredRevision(app);

    if (op?.phase === 'Running') return this.progressSync(app, op);

    const requested = app.operation?.sync;
    const automated = app.spec.syncPolicy?.automated;
    const autoEnabled = automated !== undefined && automated.enabled !== false;
    const autoSyncDue = autoEnabled && desired && desired !== status.sync?.revision && this.failedAutoSync.get(app.metadata.name) !== desired;
    if ((requested || autoSyncDue) && this.startDelayed(app)) return;
    if (requested) {
      return this.startSync(app, this.resolve(app, requested.revision) ?? desired, app.operation?.initiatedBy ?? { username: 'unknown' });
    }
    if (autoSyncDue) return this.startSync(app, desired, { automated: true });
    this.syncWantedSince.delete(app.metadata.name);

    const syncStatus = desired !== undefined && desired === status.sync?.revision ? 'Synced' : 'OutOfSync';
    const health = await this.health(app, status.sync?.revision);
    const patch: Record<string, unknown> = {};
    if (app.metadata.annotations?.[REFRESH_ANNOTATION] !== undefined) {
      patch.metadata = { annotations: { [REFRESH_ANNOTATION]: null } };
    }
    if (syncStatus !== status.sync?.status || health.status !== status.health?.status || patch.metadata) {
      patch.status = { reconciledAt: now, sync: { status: syncStatus }, health };
    }
    if (autoEnabled && automated?.selfHeal && syncStatus === 'Synced') await this.selfHeal(app);
    if (Object.keys(patch).length > 0) await this.patchApp(app, patch);
  }

  /** True while a wanted sync is held back by the start-delay fixture. */
  private startDelayed(app: Application): boolean {
    const delay = Number(app.metadata.annotations?.[SIM.syncStartDelayMs] ?? 0);
    const since = this.syncWantedSince.get(app.metadata.name) ?? Date.now();
    this.syncWantedSince.set(app.metadata.name, since);
    if (Date.now() - since < delay) return true;
    this.syncWantedSince.delete(app.metadata.name);
    return false;
  }

  /** A branch or tag resolves to the commit the (simulated) repository has for it. */
  private resolve(app: Application, revision: string | undefined): string | undefined {
    if (revision === undefined || COMMIT.test(revision)) return revision;
    return app.metadata.annotations?.[SIM.branchHead];
  }

  private async startSync(app: Application, revision: string | undefined, initiatedBy: { username?: string; automated?: boolean }) {
    const now = new Date().toISOString();
    const operationState: OperationState = {
      operation: { sync: { revision }, initiatedBy },
      phase: 'Running',
      message: 'one or more tasks are running',
      startedAt: now,
    };
    // A merge patch merges objects: clear what the previous operation left, so nothing of it leaks in.
    const replaced = {
      ...operationState,
      operation: { sync: { revision }, initiatedBy: { username: initiatedBy.username ?? null, automated: initiatedBy.automated ?? null } },
      finishedAt: null,
      syncResult: null,
    };
    await this.patchApp(app, {
      operation: null,
      status: { operationState: replaced, health: { status: 'Progressing', message: `syncing to ${revision ?? 'unknown'}` } },
    });
    if (!revision || annotationList(app, SIM.failingRevisions).includes(revision)) return;
    await this.rollDeployments(app, revision);
  }

  private async progressSync(app: Application, op: OperationState): Promise<void> {
    const duration = Number(app.metadata.annotations?.[SIM.syncDurationMs] ?? 1500);
    if (Date.now() - Date.parse(op.startedAt) < duration) return;
    const revision = op.operation.sync?.revision;
    const now = new Date().toISOString();
    if (!revision || annotationList(app, SIM.failingRevisions).includes(revision)) {
      if (op.operation.initiatedBy?.automated && revision) this.failedAutoSync.set(app.metadata.name, revision);
      await this.patchApp(app, {
        status: {
          operationState: {
            ...op,
            phase: 'Failed',
            finishedAt: now,
            message: `ComparisonError: one or more objects failed to apply: revision ${revision ?? '(none)'} cannot be synced`,
          },
          sync: { status: 'OutOfSync' },
          health: { status: 'Degraded', message: 'sync failed' },
        },
      });
      return;
    }
    this.failedAutoSync.delete(app.metadata.name);
    const history = app.status?.history ?? [];
    const entry: HistoryEntry = {
      id: history.reduce((max, h) => Math.max(max, h.id), -1) + 1,
      revision,
      deployStartedAt: op.startedAt,
      deployedAt: now,
      source: app.spec.source,
      initiatedBy: op.operation.initiatedBy,
    };
    await this.patchApp(app, {
      status: {
        operationState: { ...op, phase: 'Succeeded', finishedAt: now, message: 'successfully synced (all tasks run)', syncResult: { revision, source: app.spec.source } },
        sync: { status: desiredRevision(app) === revision ? 'Synced' : 'OutOfSync', revision },
        history: [...history, entry].slice(-10),
        reconciledAt: now,
        health: await this.health(app, revision),
      },
    });
  }

  /** Rolls the instance's Deployments to a revision: a new pod template, so new ReplicaSets and pods. */
  private async rollDeployments(app: Application, revision: string): Promise<void> {
    const namespace = app.spec.destination.namespace;
    if (!namespace) return;
    const crash = annotationList(app, SIM.degradedRevisions).includes(revision);
    for (const name of INSTANCE_DEPLOYMENTS) {
      const template = {
        metadata: { annotations: { [SIM.revision]: revision, [SIM.crashLoop]: crash ? 'true' : null } },
        spec: { containers: [{ name: name === API_DEPLOYMENT ? 'api' : 'frontend', image: imageFor(name, revision) }] },
      };
      try {
        await this.kube.apps.patchNamespacedDeployment(
          { name, namespace, body: { metadata: { annotations: { [SIM.revision]: revision } }, spec: { template } } },
          MERGE_PATCH,
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async health(app: Application, revision: string | undefined): Promise<{ status: 'Healthy' | 'Progressing' | 'Degraded'; message?: string }> {
    if (revision && annotationList(app, SIM.degradedRevisions).includes(revision)) {
      return { status: 'Degraded', message: `Deployment ${API_DEPLOYMENT} has pods in CrashLoopBackOff` };
    }
    const namespace = app.spec.destination.namespace;
    if (!namespace) return { status: 'Healthy' };
    for (const name of INSTANCE_DEPLOYMENTS) {
      let deployment: V1Deployment;
      try {
        deployment = await this.kube.apps.readNamespacedDeployment({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) return { status: 'Progressing', message: `Deployment ${name} is missing` };
        throw err;
      }
      const want = deployment.spec?.replicas ?? 1;
      const s = deployment.status ?? {};
      const rolledOut = (s.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
      if (!rolledOut || (s.updatedReplicas ?? 0) < want || (s.availableReplicas ?? 0) < want || (s.replicas ?? 0) > want) {
        return { status: 'Progressing', message: `Waiting for rollout of Deployment ${name} to finish` };
      }
    }
    return { status: 'Healthy' };
  }

  /** Re-applies what git says (replicas, CronJob, claim) after drift persists briefly, as self-heal does. */
  private async selfHeal(app: Application): Promise<void> {
    const namespace = app.spec.destination.namespace;
    const raw = app.metadata.annotations?.[SIM.desiredState];
    if (!namespace || !raw) return;
    const desired = JSON.parse(raw) as DesiredState;
    const drift: (() => Promise<unknown>)[] = [];
    for (const [name, replicas] of Object.entries(desired.replicas)) {
      const deployment = await this.kube.apps.readNamespacedDeployment({ name, namespace }).catch(() => undefined);
      if (deployment && deployment.spec?.replicas !== replicas) {
        drift.push(() => this.kube.apps.patchNamespacedDeployment({ name, namespace, body: { spec: { replicas } } }, MERGE_PATCH));
      }
    }
    const cronJob = await this.kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace }).catch(() => undefined);
    if (cronJob?.spec?.suspend) {
      drift.push(() => this.kube.batch.patchNamespacedCronJob({ name: MATCHING_CRONJOB, namespace, body: { spec: { suspend: false } } }, MERGE_PATCH));
    }
    if (desired.claim) {
      const claimName = `${namespace}-dynamodb`;
      const claim: unknown = await getOrUndefined(this.kube.custom.getNamespacedCustomObject({ ...DYNAMODB_CLAIM, namespace, name: claimName }));
      if (!claim) {
        drift.push(() =>
          this.kube.custom.createNamespacedCustomObject({
            ...DYNAMODB_CLAIM,
            namespace,
            body: { apiVersion: `${DYNAMODB_CLAIM.group}/${DYNAMODB_CLAIM.version}`, kind: DYNAMODB_CLAIM.kind, metadata: { name: claimName, namespace }, spec: desired.claim },
          }),
        );
      }
    }
    const key = app.metadata.name;
    if (drift.length === 0) {
      this.selfHealPendingSince.delete(key);
      return;
    }
    // Argo CD waits a little before self-healing; so does the simulator, so tests can observe drift.
    const since = this.selfHealPendingSince.get(key) ?? Date.now();
    this.selfHealPendingSince.set(key, since);
    if (Date.now() - since < 1000) return;
    for (const fix of drift) await fix();
    this.selfHealPendingSince.delete(key);
  }
}

export function imageFor(deployment: string, revision: string): string {
  return `ghcr.io/virtual-coffee/${deployment === API_DEPLOYMENT ? 'api' : 'frontend'}:${revision.slice(0, 7)}`;
}
