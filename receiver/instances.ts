/**
 * Which namespaces are platform instances, for the receiver's hot path: an informer (list, then
 * watch from the list's resourceVersion) over namespaces carrying INSTANCE_LABEL, so routing an
 * alert reads memory and never calls the API server. Needs get/list/watch on namespaces, nothing
 * else (deploy/receiver.yaml).
 *
 * While it cannot vouch for its answer it says so (`synced` is false): before the first list, and
 * once the watch has been broken for longer than `staleAfterMs` (a namespace labelled meanwhile would
 * be missed). The receiver then refuses with 503 so Alertmanager retries, instead of guessing.
 */
import { makeInformer } from '@kubernetes/client-node';
import type { Informer, KubeConfig, ObjectCache, V1Namespace } from '@kubernetes/client-node';
import { createKubeClients } from '../activities/kubernetes/client';
import { INSTANCE_LABEL } from '../common/platform';

export interface InstanceDirectory {
  /** True when `isInstance` answers from a list the watch still keeps current. */
  readonly synced: boolean;
  /** How many instance namespaces the directory holds (for the metrics). */
  readonly size: number;
  /** A namespace labelled INSTANCE_LABEL with its own name as the value, as the seeds label them. */
  isInstance(namespace: string): boolean;
}

export interface InstanceNamespacesOptions {
  /** How long a broken watch's cache is still trusted while it reconnects. */
  staleAfterMs?: number;
  /** First delay before reconnecting after an error; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  onError?: (err: unknown, retryInMs: number) => void;
  onSynced?: (instances: number) => void;
}

export class InstanceNamespaces implements InstanceDirectory {
  private readonly informer: Informer<V1Namespace> & ObjectCache<V1Namespace>;
  private readonly closeClients: () => void;
  private listed = false;
  private brokenSince?: number;
  private errors = 0;
  private failuresInARow = 0;
  private retry?: NodeJS.Timeout;
  private stopped = false;
  private readonly staleAfterMs: number;

  constructor(
    kc: KubeConfig,
    private readonly options: InstanceNamespacesOptions = {},
  ) {
    const { core, close } = createKubeClients(kc);
    this.closeClients = close;
    this.staleAfterMs = options.staleAfterMs ?? 60_000;
    // The selector asks the server for instance namespaces only; one that loses the label leaves
    // the watch as a DELETED event.
    this.informer = makeInformer<V1Namespace>(kc, '/api/v1/namespaces', () => core.listNamespace({ labelSelector: INSTANCE_LABEL }), INSTANCE_LABEL);
    // The library stops on an error and leaves reconnecting to its user.
    this.informer.on('error', (err: unknown) => this.broken(err));
  }

  /** Lists and starts watching; resolves after the first attempt, whether or not it synced (see `synced`). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect().catch((err: unknown) => this.broken(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
    this.closeClients();
  }

  get synced(): boolean {
    return this.listed && (this.brokenSince === undefined || Date.now() - this.brokenSince < this.staleAfterMs);
  }

  get size(): number {
    return this.informer.list().length;
  }

  isInstance(namespace: string): boolean {
    return this.informer.get(namespace)?.metadata?.labels?.[INSTANCE_LABEL] === namespace;
  }

  private async connect(): Promise<void> {
    const errorsBefore = this.errors;
    // Lists (unless a watch can resume from the last resourceVersion) and opens the watch; a failure
    // reaches the error handler before this resolves.
    await this.informer.start();
    if (this.errors !== errorsBefore || this.stopped) return;
    const firstSync = !this.listed;
    this.listed = true;
    this.brokenSince = undefined;
    this.failuresInARow = 0;
    if (firstSync) this.options.onSynced?.(this.size);
  }

  private broken(err: unknown): void {
    this.errors++;
    this.brokenSince ??= Date.now();
    if (this.stopped) return;
    const base = this.options.backoffMs ?? 500;
    const delay = Math.min(this.options.maxBackoffMs ?? 30_000, base * 2 ** Math.min(this.failuresInARow++, 16));
    this.options.onError?.(err, delay);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.connect().catch((e: unknown) => this.broken(e)), delay);
  }
}
