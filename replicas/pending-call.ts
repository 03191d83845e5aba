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
  /** When the call was admitted (epoch ms, the clock every thread shares). */
  readonly enqueuedAt: number;
  /** Times the call was handed back after its replica died. */
  retries: number;
  /** The replica channel holding it, or null while it waits in the queue. */
  holder: CallHolder | null;
  /** True once the call was answered, failed or cancelled. */
  settled: boolean;
  resolve(outputs: TensorMap): void;
  reject(err: Error): void;
}

/**
 * Makes a call whose promise settles once: later answers (a retried call's
 * first replica, a cancelled call's running batch) are ignored. `onSettle`
 * runs once, before the caller hears.
 */
export function createCall(
  id: number,
  inputs: TensorMap,
  rows: number,
  enqueuedAt: number,
  resolve: (outputs: TensorMap) => void,
  reject: (err: Error) => void,
  onSettle: () => void,
): PendingCall {
  const call: PendingCall = {
    id,
    inputs,
    rows,
    enqueuedAt,
    retries: 0,
    holder: null,
    settled: false,
    resolve: (out) => {
      if (call.settled) return;
      call.settled = true;
      onSettle();
      resolve(out);
    },
    reject: (err) => {
      if (call.settled) return;
      call.settled = true;
      onSettle();
      reject(err);
    },
  };
  return call;
}
