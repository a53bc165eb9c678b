/** The diagnostic bundle runbook's inputs, collectors and results. Pure code. */
import type { RunbookOptions } from './runbook';

export const COLLECTORS = [
  'resources',
  'pod-descriptions',
  'api-logs',
  'frontend-logs',
  'argocd-application',
  'dynamodb-claim',
  'events',
  'nodes',
  'storage-and-network',
  'matching-cronjob',
  'configmap',
  'dynamodb-tables',
] as const;
export type CollectorName = (typeof COLLECTORS)[number];

export interface DiagnosticLimits {
  /** Lines kept from the end of each container log. */
  logTailLines: number;
  /** Bytes kept of each container log. */
  maxLogBytes: number;
  /** The whole archive's staged content; files past it are listed as omitted. */
  maxBundleBytes: number;
}

export const DEFAULT_DIAGNOSTIC_LIMITS: DiagnosticLimits = { logTailLines: 1000, maxLogBytes: 1024 * 1024, maxBundleBytes: 200 * 1024 * 1024 };

export interface DiagnosticBundleInput {
  instance: string;
  options: RunbookOptions;
  limits?: Partial<DiagnosticLimits>;
  /** Pre-signed URL lifetime; SigV4 allows at most 7 days. Default 1 hour. */
  urlExpirySeconds?: number;
  /** Collectors to run (default all). */
  collectors?: CollectorName[];
}

/**
 * One file a collector produced. A collector stages all its files back to back in one S3 object
 * (`key`), so the archive reads one object per collector, not one per file; `offset` and `size` say
 * where this file's bytes are in it.
 */
export interface StagedFile {
  path: string;
  size: number;
  sha256: string;
  /** The collector's staged object. */
  key: string;
  /** Where the file starts in that object. */
  offset: number;
}

export interface CollectorOutcome {
  collector: CollectorName;
  status: 'ok' | 'failed';
  files: StagedFile[];
  /** Things not collected that did not fail the collector (e.g. a pod without previous logs). */
  notes: string[];
  error?: string;
  startedAt: string;
  durationMs: number;
}

export interface DiagnosticArchive {
  bucket: string;
  key: string;
  size: number;
  sha256: string;
  url: string;
  urlExpiresAt: string;
  files: number;
  omitted: string[];
}

export interface DiagnosticBundleDetails {
  archive: DiagnosticArchive;
  collectors: { collector: CollectorName; status: 'ok' | 'failed'; files: number; error?: string }[];
}

export const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;

/**
 * Collectors and the archive heartbeat (heartbeatTimeout 1 minute) only once they have run this
 * long: most finish in well under a second, and each heartbeat is a call to the server that updates
 * the run's state, for nothing when the activity is about to complete anyway.
 */
export const HEARTBEAT_AFTER_MS = 10_000;
