import type { MessagePort } from 'node:worker_threads';
import type { Device, ResolvedBatching } from '../deployments/index.js';
import type { BatchReport } from './batch-report.js';
import type { CallSession } from './handler-types.js';
import type { MultiplexSpec } from './multiplexed-models.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/** Where a thread replica writes its batch figures: its deployment's counters and its slot there. */
export interface CounterSlot {
  buffer: SharedArrayBuffer;
  slots: number;
  slot: number;
}

/** What a replica needs to load its model (or handler) and batch its calls. */
export interface ReplicaSpec {
  deployment: string;
  replicaId: string;
  /** The deployment's `model`, or null (a handler without one, or a multiplexed deployment). */
  modelPath: string | null;
  /** A multiplexed deployment's models (see MultiplexedModels), or null. */
  multiplex: MultiplexSpec | null;
  /** A handler's named models. */
  models: Record<string, string>;
  /** The handler module, or null for a deployment that serves its model alone. */
  handlerPath: string | null;
  /** The module's export that is the handler class (`default` unless named). */
  handlerExport: string;
  /** The handler's userConfig (undefined when the config gives none). */
  userConfig: unknown;
  /** The methods the deployment's own routes and WebSocket handlers call: each must exist on the handler. */
  routeMethods: string[];
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
  | { type: 'reconfigure'; userConfig: unknown }
  /** A new fixed batch window for the replica's queue, applied in place (a config update). */
  | { type: 'batch-window'; maxBatchSize: number; batchWaitTimeoutMs: number }
  | { type: 'check-health'; id: number }
  | ({ type: 'handle-answer' } & HandleAnswer)
  | ({ source: number } & ToActor);

/** The control plane's answer to a handle call a replica made. */
export type HandleAnswer = { id: number; outputs: TensorMap } | { id: number; result: unknown } | { id: number; error: string; code: string; statusCode: number };

/** What a handler serves, as its replica finds it on its class. */
export interface HandlerInfo {
  /** It defines infer or inferBatch (OIP inference). */
  infer: boolean;
  /** It defines inferBatch: calls are gathered into batches of calls. */
  batched: boolean;
}

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
  /** Set for a code deployment: what its handler serves. */
  handler?: HandlerInfo;
}

/** Control messages a replica host sends back; a process replica's answers and batch figures come this way too. */
export type FromReplica =
  | ({ type: 'ready'; loadMs: number } & LoadedModel)
  | { type: 'init-failed'; message: string; code?: string }
  | { type: 'batch-started'; at: number }
  | BatchReport
  | { type: 'model-loaded'; index: number }
  | { type: 'model-evicted'; index: number }
  | { type: 'reconfigured'; error: string | null }
  | { type: 'health'; id: number; error: string | null }
  | { type: 'handle-call'; id: number; deployment: string; inputs: TensorMap; method?: string; body?: unknown; sessionId?: string; modelId?: string; traceparent?: string }
  | { type: 'handle-cancel'; id: number }
  | ({ source: number } & FromActor);

/**
 * A call to one of a code deployment's own routes (or WebSocket message
 * handlers): the handler's method by name and what the request carried.
 */
export interface RouteCall {
  /** The handler method to call. */
  method: string;
  /** The parsed JSON body, or the raw bytes (a Uint8Array) for a route that takes bytes. */
  body: unknown;
  /** Path parameters (`/items/:id` gives `id`). */
  params: Record<string, string>;
  /** Query string parameters (the first value of each). */
  query: Record<string, string>;
  /** What the method's return value becomes: JSON text, or bytes. */
  response: 'json' | 'bytes';
}

/** One call as an ingress sends it: `enqueuedAt` is epoch ms (see epochMs), the clock every thread shares. */
export interface WireCall {
  id: number;
  inputs: TensorMap;
  rows: number;
  enqueuedAt: number;
  /** Set for a call to a handler's own route; `inputs` is then empty. */
  route?: RouteCall;
  /** Set for a call carrying a session key (see CallSession). */
  session?: CallSession;
  /** Set for a call to a multiplexed deployment: the model it names. */
  modelId?: string;
  /** The call's W3C trace context (see trace-context.ts), when it carries one. */
  traceparent?: string;
}


/** What an ingress sends a replica over its channel: the calls gathered in one turn, or calls it gave up on. */
export type ToActor = { type: 'calls'; calls: WireCall[] } | { type: 'cancel'; ids: number[] };

/** One call's answer: its outputs, why it failed (with a Ferry code when user code failed), or that it left the mailbox unrun after a cancel. */
export type Answer =
  | { id: number; outputs: TensorMap }
  | { id: number; result: unknown }
  | { id: number; error: string; code?: string; statusCode?: number; passed?: true }
  | { id: number; cancelled: true };

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
  /** Rows in the batch these answers came from, every ingress's calls together (absent for cancels and failures before a batch ran). */
  rows?: number;
  /** onnxruntime's time on that batch, ms, to every ingress (for its calls' spans); absent where no model ran it (a handler's batch). */
  inferenceMs?: number;
}
