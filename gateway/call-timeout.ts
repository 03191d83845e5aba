import { RequestTimeoutError } from '../errors.js';
import type { CallControl } from '../replicas/index.js';

function timeOut(control: CallControl, deployment: string, ms: number): void {
  control.cancel?.(new RequestTimeoutError(deployment, ms));
}

/**
 * Gives a call up after the deployment's requestTimeoutMs: `control.cancel`
 * with 408 FERRY_ERR_REQUEST_TIMEOUT, which takes it out of the queue or
 * mailbox if it has not started. Returns the timer, for the caller to clear
 * once the call is answered. No closure: at thousands of calls a second, one
 * would keep each call's frame reachable from the timer through collections.
 */
export function armRequestTimeout(control: CallControl, deployment: string, ms: number): NodeJS.Timeout {
  return setTimeout(timeOut, ms, control, deployment, ms);
}
