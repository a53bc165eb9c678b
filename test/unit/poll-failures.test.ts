/**
 * "Not ready yet" is a benign failure: the retry policy polls on it as before (retryable, no
 * non-retryable type), but the worker logs it at debug level and counts no failed-activity metric,
 * instead of a warning per poll.
 */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { NOT_READY_YET, notYet } from '../../activities/not-ready';

describe('poll failures', () => {
  it('are benign and retryable application failures with their own type', () => {
    const failure = notYet('claim not Synced/Ready yet');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: NOT_READY_YET, nonRetryable: false, category: ApplicationFailureCategory.BENIGN, message: 'claim not Synced/Ready yet' });
  });
});
