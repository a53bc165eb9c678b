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
  /**
   * Ignored. Starters from before download links were signed by the CLI (`runbook diagnostics
   * --url-expiry`) still send it; a link in the result would sit in the workflow's history.
   */
  urlExpirySeconds?: number;
  /** Collectors to run (default all). */
  collectors?: CollectorName[];
}

/**
 * One file a collector produced. A collector stages all its files back to back in one staging file
 * on its worker (`staged`); `offset` and `size` say where this file's bytes are in it.
 */
export interface StagedFile {
  path: string;
  size: number;
  sha256: string;
  /** The collector's staging file, by name within the bundle's staging folder. */
  staged: string;
  /** Where the file starts in it. */
  offset: number;
}

export interface CollectorOutcome {
  collector: CollectorName;
  status: 'ok' | 'failed';
  files: StagedFile[];
  /** Things not collected that did not fail the collector (e.g. a pod without previous logs). */
  notes: string[];
  /** Files not staged because the bundle had reached its size cap. */
  omitted?: string[];
  error?: string;
  startedAt: string;
  durationMs: number;
}

/**
 * Where the bundle is, never a link to it: a pre-signed URL is a bearer credential for as long as
 * it lives, and a result stays in the workflow's history. The CLI signs one on demand with the
 * caller's own credentials (client/download-link.ts).
 */
export interface DiagnosticArchive {
  bucket: string;
  key: string;
  size: number;
  sha256: string;
  files: number;
  omitted: string[];
}

/** A pre-signed link to a bundle's archive: signed by the CLI on demand, never by a run (see client/download-link.ts). */
export interface DownloadLink {
  url: string;
  expiresAt: string;
}

export interface DiagnosticBundleDetails {
  archive: DiagnosticArchive;
  collectors: { collector: CollectorName; status: 'ok' | 'failed'; files: number; error?: string }[];
}

/** SigV4 signatures last at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;

/**
 * The archive heartbeats this often while it runs (its heartbeat timeout is 30 s), so a lost staging
 * worker shows within seconds; a small bundle's archive ends before the first one.
 */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/** The archive found a collector's staging file missing: the bundle has to be collected again. */
export const STAGING_LOST = 'StagingLost';
