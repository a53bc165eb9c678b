/** How the runbooks' activities retry a failure that is not final. */
import type { RetryPolicy } from '@temporalio/common';

/**
 * Long enough to wait out a restart of a server an activity calls (kube-apiserver, DynamoDB, S3,
 * the Temporal server itself: each can be down for a minute or more in an upgrade or a rolling
 * restart), short enough that an error that persists is reported: attempts 1, 2, 4, 8 and 16 s
 * apart, then every 30 s, about 3.5 minutes in all. Attempts rather than a schedule-to-close
 * timeout, so a run that gives up reports the last attempt's own error.
 */
export const OUTAGE_RETRY: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 12 };
