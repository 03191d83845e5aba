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

/** A model output the replica does not fetch or advertise, and why. */
export interface OmittedOutput {
  name: string;
  reason: string;
}

/** What a replica reports once its model is loaded. */
export interface LoadedModel {
  /** The tensor inputs and outputs served. */
  metadata: ModelMetadata;
  /** Outputs left out of `metadata` and of every answer (sequences and maps). */
  omittedOutputs: OmittedOutput[];
}

/** Messages a replica actor sends back. */
export type FromReplica =
  | ({ type: 'ready'; loadMs: number } & LoadedModel)
  | { type: 'init-failed'; message: string; code?: string }
  | { type: 'result'; batchId: number; outputs: TensorMap; inferenceMs: number; recycled: ArrayBuffer[] }
  | { type: 'failed'; batchId: number; message: string; recycled: ArrayBuffer[] };
