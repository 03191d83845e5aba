import type { ModelMetadata, TensorDtype, TensorMap } from './tensor.js';

/**
 * One loaded model as a handler runs it (an onnxruntime InferenceSession).
 * `run` blocks the replica's thread for the model's whole run.
 */
export interface ModelSession {
  /** The model's tensor inputs and outputs. */
  readonly metadata: ModelMetadata;
  /** Runs the model once on `inputs` (by input name); resolves with every tensor output by name. Rejects with onnxruntime's error. */
  run(inputs: TensorMap): Promise<TensorMap>;
}

/** Options of one call through a {@link DeploymentHandle}. */
export interface HandleCallOptions {
  /** Gives up on the call: it leaves the deployment's queue or its replica's mailbox if it has not started, and the promise rejects. */
  signal?: AbortSignal;
  /** The call's session key: where the deployment routes by session affinity, every call carrying it goes to one replica. */
  sessionId?: string;
  /** The model of a multiplexed deployment the call is for (Ray Serve's `multiplexed_model_id`); required there, refused elsewhere. */
  modelId?: string;
}

/**
 * Calls another deployment from code, as Ray Serve's `DeploymentHandle`
 * does: through that deployment's router, queue and batcher, with its
 * backpressure (BackPressureError, 503 `FERRY_ERR_QUEUE_FULL`), its
 * requestTimeoutMs (RequestTimeoutError) and cancellation; no HTTP hop. Each
 * call returns a promise (Ray's `DeploymentResponse`/`ObjectRef`): fan calls
 * out and gather them with `Promise.all`. A call made while a request is
 * being handled is cancelled with that request.
 */
export interface DeploymentHandle {
  /** The deployment called. */
  readonly deployment: string;
  /**
   * The deployment's OIP inference: `inputs` by input name (dimension 0 is
   * the rows when the deployment batches), resolving with its outputs by
   * name. Rejects with the deployment's error (its `code` as the gateway
   * would answer it).
   */
  infer(inputs: TensorMap, options?: HandleCallOptions): Promise<TensorMap>;
  /**
   * Calls one of the deployment's handler methods by name with `body` (any
   * JSON value), as its own routes do (`{ body, params: {}, query: {} }`);
   * resolves with what the method returned, as JSON. Ray's
   * `handle.method.remote(...)`.
   */
  call(method: string, body?: unknown, options?: HandleCallOptions): Promise<unknown>;
}

/**
 * A call's session as a handler sees it (deployments with
 * `requestRouter: 'session-affinity'` keep every call of one session on one
 * replica while it lives). `isNew` is true on the call that placed the
 * session; `movedFrom` names the replica it was on, on the first call after
 * that replica died or was scaled away: the state kept there is gone, so
 * rebuild it or refuse the call.
 */
export interface CallSession {
  /** The key every call of the session carries: `ferry-session-id`, a WebSocket connection's own, or a handle call's `sessionId`. */
  readonly id: string;
  readonly isNew: boolean;
  readonly movedFrom: string | null;
}

/** What a handler learns of one call besides its inputs. */
export interface CallInfo {
  /** The call's session, or null when it carries none. */
  readonly session: CallSession | null;
  /**
   * The call's W3C `traceparent` (https://www.w3.org/TR/trace-context/), or
   * null: the client's, or one Ferry made for the request. Handle calls made
   * while serving the call carry a child of it, so one trace id follows a
   * request through a pipeline.
   */
  readonly traceparent: string | null;
}

/**
 * What a handler method serving one of the deployment's own routes (or
 * WebSocket messages) receives. It returns the answer: any JSON value for a
 * route that answers JSON, or a Uint8Array (an ArrayBuffer, a string) for
 * one that answers bytes. A throw answers 500 `FERRY_ERR_HANDLER_FAILED`.
 */
export interface RouteRequest<Body = unknown> {
  /** The parsed JSON body (undefined when there is none), or the raw bytes (a Uint8Array) for a route that takes bytes. */
  body: Body;
  /** Path parameters: `/items/:id` gives `params.id`. */
  params: Record<string, string>;
  /** Query string parameters, the first value of each. */
  query: Record<string, string>;
  /** The call's session (see {@link CallSession}), or null when it carries none. */
  session: CallSession | null;
}

/** What each replica of a code deployment is constructed with. */
export interface ReplicaContext<UserConfig = unknown> {
  /** The deployment's name. */
  readonly deployment: string;
  /** This replica's id, e.g. `counter#2`. */
  readonly replicaId: string;
  /** The deployment's `userConfig` as the config gives it (JSON); later changes reach `reconfigure`. */
  readonly userConfig: UserConfig;
  /** The deployment's `model`, loaded in this replica, or null when it names none. */
  readonly model: ModelSession | null;
  /** The deployment's `models`, by the names the config gives them, loaded in this replica. */
  readonly models: Readonly<Record<string, ModelSession>>;
  /** A handle to another deployment of the same Ferry (see {@link DeploymentHandle}). */
  handle(deployment: string): DeploymentHandle;
}

/** One tensor of a handler's OIP interface; -1 marks a dynamic dimension, and the first is the rows when calls batch. */
export interface HandlerTensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: number[];
}

/**
 * What a code deployment's class may define; every member is optional. The
 * module named by the deployment's `handler` exports the class as its
 * default export; each replica constructs one instance with its
 * {@link ReplicaContext}, in its own thread or process, and keeps it for its
 * whole life (state lives there, as in a Ray actor).
 *
 * A throw in a method answers that call 500 `FERRY_ERR_HANDLER_FAILED` with
 * the message; the replica goes on serving. A throw in the constructor or in
 * `init` is a failed start: the replica is retried with back-off and the
 * error is in `ferry status`.
 */
export interface FerryHandler {
  /** Async initialisation, awaited before the replica takes calls. */
  init?(): void | Promise<void>;
  /**
   * OIP inference: one request's tensors in, its outputs out. Calls run
   * concurrently (up to maxOngoingRequests per replica), as an async Ray
   * actor's do.
   */
  infer?(inputs: TensorMap, call: CallInfo): TensorMap | Promise<TensorMap>;
  /**
   * The batched form (what Ray's `@serve.batch` gives): the calls gathered
   * for one batch, up to `batching.maxBatchSize` calls, waiting at most
   * `batching.batchWaitTimeoutMs` for more; returns one output map per call,
   * in order. Batches run one at a time. Used instead of `infer` when defined.
   */
  inferBatch?(batch: TensorMap[], calls: CallInfo[]): TensorMap[] | Promise<TensorMap[]>;
  /** Applied after `init` when the deployment has a `userConfig`, and to live replicas when only `userConfig` changes (no restart). */
  reconfigure?(userConfig: unknown): void | Promise<void>;
  /** Polled every healthCheckPeriodMs; a throw, or no answer within healthCheckTimeoutMs, replaces the replica. */
  checkHealth?(): void | Promise<void>;
}

/**
 * A code deployment's class. Its static `metadata`, when given, is the OIP
 * interface `infer` serves (checked by the gateway like a model's); without
 * it, a deployment with one `model` serves that model's interface.
 */
export interface FerryHandlerClass<UserConfig = unknown> {
  new (context: ReplicaContext<UserConfig>): FerryHandler;
  metadata?: { inputs: HandlerTensorSpec[]; outputs: HandlerTensorSpec[] };
}
