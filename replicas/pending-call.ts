import type { Batchable } from './batch-queue.js';
import type { TensorMap } from './tensor.js';

/** One caller's request as it travels through queue, mailbox and batch. */
export interface PendingCall extends Batchable {
  readonly inputs: TensorMap;
  /** Changed only to make a call run alone after a batch it was in failed. */
  batchKey: string;
  /** Times the call was handed back after its replica died. */
  retries: number;
  /** Where the call waits: null in the deployment queue, else the replica holding it. */
  holder: { withdraw(call: PendingCall): boolean } | null;
  /** True once the call was answered, failed or cancelled. */
  settled: boolean;
  resolve(outputs: TensorMap): void;
  reject(err: Error): void;
}

/**
 * Makes a call whose promise settles once: later answers (a retried call's
 * first replica, a cancelled call's running batch) are ignored. `onSettle`
 * runs once, before the caller hears. Calls share a batch only when their
 * `batchKey`s match.
 */
export function createCall(
  inputs: TensorMap,
  rows: number,
  batchKey: string,
  resolve: (outputs: TensorMap) => void,
  reject: (err: Error) => void,
  onSettle: () => void,
): PendingCall {
  const call: PendingCall = {
    inputs,
    rows,
    batchKey,
    enqueuedAt: performance.now(),
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
