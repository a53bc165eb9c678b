/**
 * Signs every runbook start a client makes with the requester's key (common/start-request.ts), as a
 * client interceptor, so each start path (CLI, demo, receiver, tests) signs the same way and none
 * can forget to. A start whose requester has no key here goes out unsigned, and the run refuses it
 * unless its policy accepts unsigned requests.
 */
import type { WorkflowClientInterceptor, WorkflowStartInput, WorkflowSignalWithStartInput } from '@temporalio/client';
import { signStartRequest } from '../common/start-request';
import type { Requester } from '../common/start-request';

/** Private keys by identity name (a Map, or a lookup that loads them on demand). */
export interface RequesterKeys {
  get(user: string): Uint8Array | undefined;
}

function requesterOf(args: unknown[]): Requester | undefined {
  const first = args[0] as { options?: { requestedBy?: Requester } } | undefined;
  const requester = first?.options?.requestedBy;
  return typeof requester?.user === 'string' ? requester : undefined;
}

function signArgs(workflowId: string, args: unknown[], keys: RequesterKeys): unknown[] {
  const requester = requesterOf(args);
  const key = requester && keys.get(requester.user);
  if (!key) return args;
  return [signStartRequest(workflowId, args[0] as { options: { requestedBy: Requester } }, key), ...args.slice(1)];
}

export function startSigningInterceptor(keys: RequesterKeys): WorkflowClientInterceptor {
  const signed = <T extends WorkflowStartInput | WorkflowSignalWithStartInput>(input: T): T => ({
    ...input,
    options: { ...input.options, args: signArgs(input.options.workflowId, input.options.args, keys) },
  });
  return {
    startWithDetails: (input, next) => next(signed(input)),
    signalWithStart: (input, next) => next(signed(input)),
  };
}
