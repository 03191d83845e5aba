import type { Batchable } from './batch-queue.js';
import type { TensorMap } from './tensor.js';

/** One caller's request as it travels through queue, mailbox and batch. */
export interface PendingCall extends Batchable {
  readonly inputs: TensorMap;
  /** Times the call was handed back after its replica died. */
  retries: number;
  /** Where the call waits: null in the deployment queue, else the replica holding it. */
  holder: { withdraw(call: PendingCall): boolean } | null;
  /** True once the call was answered, failed or cancelled. */
  settled: boolean;
  resolve(outputs: TensorMap): void;
  reject(err: Error): void;
}
