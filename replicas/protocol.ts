import type { MessagePort } from 'node:worker_threads';
import type { Device, ResolvedBatching } from '../deployments/index.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/** Where a thread replica writes its batch figures: its deployment's counters and its slot there. */
export interface CounterSlot {
  buffer: SharedArrayBuffer;
  slots: number;
  slot: number;
}

/** What a replica needs to load its model and batch its calls. */
export interface ReplicaSpec {
  deployment: string;
  replicaId: string;
  modelPath: string;
  device: Device;
  intraOpThreads: number;
  batching: ResolvedBatching;
  /** Thread replicas write their figures here; a process replica reports them to its host instead. */
  counters: CounterSlot | null;
}

/**
 * Control messages the control plane sends a replica host. `attach` hands
 * the replica one end of an ingress's MessageChannel (a process host keeps
 * the port and relays what crosses it as `calls` and `cancel` with the
 * source's number).
 */
export type ToReplica =
  | { type: 'init'; spec: ReplicaSpec }
  | { type: 'attach'; source: number; port: MessagePort }
  | { type: 'detach'; source: number }
  | ({ source: number } & ToActor);

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

/** Control messages a replica host sends back; a process replica's answers and batch figures come this way too. */
export type FromReplica =
  | ({ type: 'ready'; loadMs: number } & LoadedModel)
  | { type: 'init-failed'; message: string; code?: string }
  | { type: 'batch-started'; at: number }
  | { type: 'batch-finished'; rows: number; ms: number; sources: number }
  | ({ source: number } & FromActor);

/** One call as an ingress sends it: `enqueuedAt` is epoch ms (see epochMs), the clock every thread shares. */
export interface WireCall {
  id: number;
  inputs: TensorMap;
  rows: number;
  enqueuedAt: number;
}

/** What an ingress sends a replica over its channel: the calls gathered in one turn, or calls it gave up on. */
export type ToActor = { type: 'calls'; calls: WireCall[] } | { type: 'cancel'; ids: number[] };

/** One call's answer: its outputs, why it failed, or that it left the mailbox unrun after a cancel. */
export type Answer = { id: number; outputs: TensorMap } | { id: number; error: string } | { id: number; cancelled: true };

/**
 * What a replica sends an ingress after each batch: the answers to that
 * ingress's calls in it, and when the batch began (epoch ms, so each
 * ingress reads its calls' queue wait). Exactly one ingress per batch gets
 * `batch`, so the process counts each batch once.
 */
export interface FromActor {
  type: 'answers';
  answers: Answer[];
  startedAt: number;
  batch?: { rows: number; inferenceMs: number };
}
