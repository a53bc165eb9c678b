import { ApplicationFailure } from '@temporalio/workflow';
import { InvalidInputError } from '../../common/instance';

/**
 * Runs an input check inside a workflow. A bad input must fail the run at once with a readable,
 * non-retryable error; a plain thrown Error would instead fail the workflow task and retry forever.
 */
export function validateInput<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof InvalidInputError) {
      throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
    }
    throw err;
  }
}
