/** "Not ready yet": how a polling activity says "ask again", which the workflow's retry policy does. */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';

export const NOT_READY_YET = 'NotReadyYet';

/**
 * A failure the workflow's retry policy polls on. BENIGN, so the worker logs each poll at debug level
 * and counts no failure metric; retried exactly like any other retryable failure.
 */
export function notYet(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: NOT_READY_YET, message, category: ApplicationFailureCategory.BENIGN });
}
