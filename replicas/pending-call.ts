import type { CallServed } from './pool-types.js';
import type { RouteCall } from './protocol.js';
import type { CallRouting } from './session-affinity.js';
import type { TensorMap } from './tensor.js';

/** Where a sent call waits for its answer: the channel to one replica. */
export interface CallHolder {
  readonly slot: number;
}

/** One caller's request as it travels through an ingress's queue and its channel to a replica. */
export interface PendingCall {
  /** Unique within the ingress's router: the replica answers by it. */
  readonly id: number;
  readonly inputs: TensorMap;
  readonly rows: number;
  /** Set for a call to a handler's own route. */
  readonly route?: RouteCall;
  /** What routers read of the call (its session, its model), and what session placement learned. */
  readonly routing: CallRouting;
  /** When the call was admitted (epoch ms, the clock every thread shares). */
  readonly enqueuedAt: number;
  /** Times the call was handed back after its replica died. */
  retries: number;
  /** Its W3C trace context (see CallControl.traceparent). */
  traceparent?: string;
  /** Filled in when its answer comes, for a caller that asked (see CallControl.served). */
  served?: CallServed;
  /** The replica channel holding it, or null while it waits in the queue. */
  holder: CallHolder | null;
  /** True once the call was answered, failed or cancelled. */
  settled: boolean;
  /** Settles the call with its outputs (a route call's result). */
  resolve(outputs: unknown): void;
  reject(err: Error): void;
  /** Tells the caller, once, that no replica will read the inputs again (see CallControl.release). */
  releaseInputs(): void;
}

/**
 * Makes a call whose promise settles once: later answers (a retried call's
 * first replica, a cancelled call's running batch) are ignored. `onSettle`
 * runs once, before the caller hears. A call that settles while no replica
 * holds it releases its inputs then; one that settles at a replica, when the
 * replica answers or is gone (the router calls `releaseInputs`).
 */
export function createCall(
  id: number,
  inputs: TensorMap,
  rows: number,
  enqueuedAt: number,
  resolve: (outputs: unknown) => void,
  reject: (err: Error) => void,
  onSettle: () => void,
  release: (() => void) | undefined,
  route: RouteCall | undefined,
  routing: CallRouting,
): PendingCall {
  let releaseInputs = release;
  const settle = () => {
    call.settled = true;
    onSettle();
    if (call.holder === null) call.releaseInputs();
  };
  const call: PendingCall = {
    id,
    inputs,
    rows,
    ...(route ? { route } : {}),
    routing,
    enqueuedAt,
    retries: 0,
    holder: null,
    settled: false,
    resolve: (out) => {
      if (call.settled) return;
      settle();
      resolve(out);
    },
    reject: (err) => {
      if (call.settled) return;
      settle();
      reject(err);
    },
    releaseInputs: () => {
      const r = releaseInputs;
      releaseInputs = undefined;
      r?.();
    },
  };
  return call;
}
