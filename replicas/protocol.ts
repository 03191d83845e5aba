import type { Device } from '../deployments/index.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/** What a replica needs to load its model. */
export interface ReplicaSpec {
  deployment: string;
  replicaId: string;
  modelPath: string;
  device: Device;
  intraOpThreads: number;
}

/**
 * Messages the pool sends to a replica actor (thread or process alike).
 * With `recycle`, the actor hands the input buffers back with its answer.
 */
export type ToReplica =
  | { type: 'init'; spec: ReplicaSpec }
  | { type: 'run'; batchId: number; inputs: TensorMap; recycle: boolean };

/** Messages a replica actor sends back. */
export type FromReplica =
  | { type: 'ready'; metadata: ModelMetadata; loadMs: number }
  | { type: 'init-failed'; message: string; code?: string }
  | { type: 'result'; batchId: number; outputs: TensorMap; inferenceMs: number; recycled: ArrayBuffer[] }
  | { type: 'failed'; batchId: number; message: string; recycled: ArrayBuffer[] };
