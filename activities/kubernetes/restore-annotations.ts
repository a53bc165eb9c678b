/**
 * What a runbook leaves on an object it changes: the "before" to restore, and which run made the
 * change. Kept on the object itself, so a retried activity or a re-run after a crash restores the
 * original state, not the runbook's own intermediate one.
 */
export const RESTORE_ANNOTATIONS = {
  /** On the Application: JSON of spec.syncPolicy.automated before the pause ("null" when it was off). */
  pausedAutomated: 'vcp-runbooks.io/paused-automated-sync',
  /** On the API Deployment: replicas before the quiesce. */
  quiescedReplicas: 'vcp-runbooks.io/quiesced-from-replicas',
  /** On the CronJob: spec.suspend before the quiesce. */
  quiescedSuspend: 'vcp-runbooks.io/quiesced-from-suspend',
  /** Which run made the change. */
  changedBy: 'vcp-runbooks.io/changed-by',
} as const;
