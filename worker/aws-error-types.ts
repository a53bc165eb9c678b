/**
 * AWS SDK v3 throws a service error its model does not name (DynamoDB's ValidationException among
 * them) as the client's base class, `DynamoDBServiceException`, with the error code in `name`.
 * Temporal names an activity failure after the error's constructor, so such a failure's type was
 * `DynamoDBServiceException` and `nonRetryableErrorTypes: ['ValidationException']` never matched: an
 * import of an item DynamoDB rejects retried until its attempts ran out. Every activity's AWS error
 * therefore leaves the worker as an ApplicationFailure typed by its code (still retryable unless the
 * retry policy names it), its cause kept.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor, ActivityInterceptors } from '@temporalio/worker';

/** An AWS SDK service error (it carries `$metadata` and `$fault`) whose code is not its class name. */
function isUntypedAwsError(err: unknown): err is Error {
  return err instanceof Error && '$metadata' in err && '$fault' in err && err.name !== err.constructor.name;
}

/** The error an activity failure is built from: an untyped AWS error becomes a failure typed by its code. */
export function typedAwsError(err: unknown): unknown {
  if (!isUntypedAwsError(err)) return err;
  return ApplicationFailure.create({ type: err.name, message: err.message, cause: err });
}

const inbound: ActivityInboundCallsInterceptor = {
  async execute(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw typedAwsError(err);
    }
  },
};

export const awsErrorTypes = (): ActivityInterceptors => ({ inbound });
