import type { AuthConfig, ResolvedAuth } from './auth-config.js';

/** Where request spans go (OpenTelemetry, OTLP over HTTP with JSON). */
export interface TracingConfig {
  /** The collector's traces URL, e.g. `http://otel-collector:4318/v1/traces`. */
  otlpEndpoint: string;
  /** `service.name` on every span. @default 'ferry' */
  serviceName?: string;
}

/** Tracing with its defaults applied. */
export type ResolvedTracing = Required<TracingConfig>;
import type { AutoscalingConfig, ResolvedAutoscaling } from '../autoscaler/index.js';

/** What one replica reserves on a node. */
export interface ResourcesConfig {
  /** CPU cores. @default 1 */
  cpus?: number;
  /** GPUs. @default 0 */
  gpus?: number;
}

/** Where a replica runs its model. */
export type Device = 'cpu' | 'cuda';

/** What hosts a replica actor. */
export type HostKind = 'thread' | 'process';

/** How a replica groups calls into one onnxruntime run. */
export interface BatchingConfig {
  /** Most rows in one batch; a single call with more rows runs as a batch of its own. @default 32 */
  maxBatchSize?: number;
  /** How long the oldest call may wait for the batch to fill; 0 sends whatever is queued at once. @default 0 */
  batchWaitTimeoutMs?: number;
  /**
   * Adaptive batching: each replica chooses its wait window from the batch
   * cost it measures (a linear fit of time over rows) and the rate calls
   * arrive, making batches as large as it can while a call's time in the
   * replica (queue and run) stays within this many ms. Used instead of
   * `batchWaitTimeoutMs`. @default none (the fixed window)
   */
  targetLatencyMs?: number;
}

/** One of a code deployment's own HTTP routes, served under its routePrefix by a method of its handler. */
export interface RouteConfig {
  /** @default 'POST' */
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the deployment's routePrefix, e.g. `/increment` or `/items/:id` (Fastify's syntax for parameters). */
  path: string;
  /** The handler method that answers (it receives a RouteRequest). */
  call: string;
  /** The request body: parsed JSON, or the raw bytes. @default 'json' */
  body?: 'json' | 'bytes';
  /** What the method's return value is sent as: JSON, or bytes. @default 'json' */
  response?: 'json' | 'bytes';
  /** Content-Type of a bytes response. @default 'application/octet-stream' */
  contentType?: string;
}

/** WebSocket messages to a code deployment: each message calls the handler method; what it returns is sent back. */
export interface WebSocketRouteConfig {
  /** Path under the deployment's routePrefix, e.g. `/ws`. */
  path: string;
  /** The handler method each message calls (its RouteRequest's body is the message). */
  call: string;
  /** Messages and answers: JSON text, or binary frames. @default 'json' */
  messages?: 'json' | 'bytes';
}

/** One model, or the user's code, served behind its own routes by a pool of replicas. */
export interface DeploymentConfig {
  /** Name used in `/v2/models/{name}`; letters, digits, `_`, `-`, `.`. */
  name: string;
  /** Path of the ONNX file, relative to the config file. Required unless a `handler` is given. */
  model?: string;
  /**
   * Several ONNX files for a handler, by the names it reads them under
   * (`context.models.<name>`), relative to the config file. @default none
   */
  models?: Record<string, string>;
  /**
   * A TypeScript or JavaScript module (relative to the config file, loaded
   * without a build step) whose default export is a class each replica
   * constructs once (see FerryHandler): pre- and post-processing, pipelines
   * through handles, state, or code alone. `file.ts#Name` takes the export
   * `Name` instead. @default none (the model alone)
   */
  handler?: string;
  /** JSON given to the handler (`context.userConfig`, then `reconfigure`). @default none */
  userConfig?: unknown;
  /** How often a handler's `checkHealth` is polled, in ms (Ray Serve's health_check_period_s). @default 10000 */
  healthCheckPeriodMs?: number;
  /** How long a health check may take before the replica counts as unhealthy, in ms (Ray Serve's health_check_timeout_s). @default 30000 */
  healthCheckTimeoutMs?: number;
  /** A handler's own HTTP routes, under routePrefix (which they require). @default none */
  routes?: RouteConfig[];
  /** A handler's WebSocket message handlers, under routePrefix (which they require). @default none */
  websockets?: WebSocketRouteConfig[];
  /** Extra route prefix for the same endpoints, e.g. `/mnist` serves `POST /mnist/infer`. @default none */
  routePrefix?: string;
  /**
   * How each call picks its replica (Ray Serve's request routers):
   * `power-of-two-choices` (the replica with fewer calls of two random ones),
   * `session-affinity` (every call of one session — header
   * `ferry-session-id`, one WebSocket connection, a handle call's
   * `sessionId` — to one replica while it lives, see `sessionAffinity`),
   * `model-aware` (a multiplexed deployment's calls to replicas already
   * holding their model), or a module `./file.ts#Export` (relative to the
   * config) whose export is a RequestRouter class.
   * @default 'model-aware' with `multiplex`, else 'power-of-two-choices'
   */
  requestRouter?: string;
  /** How `session-affinity` places sessions. */
  sessionAffinity?: SessionAffinityConfig;
  /**
   * Serve many models from one folder (Ray Serve's model multiplexing),
   * instead of `model`: each request names one, and a replica loads it on
   * first use. @default none (one model)
   */
  multiplex?: MultiplexConfig;
  /** The model version served at `/v2/models/{name}/versions/{version}`. @default none (only the unversioned routes) */
  version?: string;
  /** How long a request may take, queue included, before it is answered 408. @default 60000 */
  requestTimeoutMs?: number;
  /**
   * How long one batch may run before its replica counts as hung: the host is
   * killed and replaced, and its calls are retried once elsewhere.
   * @default 20 × the slowest batch seen so far, and at least 30 s (FERRY_HUNG_BATCH_FLOOR_MS)
   */
  batchTimeoutMs?: number;
  /** Execution provider: `cuda` needs onnxruntime-node's CUDA binaries. @default 'cpu' */
  device?: Device;
  /** What hosts each replica: `thread` (a worker thread, fastest) or `process` (a child process, isolates native crashes). @default 'thread' */
  replicaHost?: HostKind;
  /** @deprecated The old name of `replicaHost` (easily confused with `http.host`); still read for this release, with a warning. */
  host?: HostKind;
  /** Number of replicas, when not autoscaling. @default 1 */
  numReplicas?: number;
  /** Grow and shrink the pool from its load (Ray Serve's rule); excludes numReplicas. @default fixed numReplicas */
  autoscaling?: AutoscalingConfig;
  /** What each replica reserves on the node; replicas that do not fit wait as pending. @default { cpus: 1, gpus: 0 } */
  resources?: ResourcesConfig;
  /** onnxruntime intra-op threads per replica. @default 1 */
  intraOpThreads?: number;
  /**
   * Batching per replica. Left out, a deployment batches along dimension 0
   * when the model allows it (every input and output has a dynamic
   * dimension 0) and otherwise runs each request alone. `false` never
   * batches; `true` or an object requires batching, and a model that cannot
   * batch is a config error naming the input or output that prevents it.
   * @default batch when the model allows it, with { maxBatchSize: 32, batchWaitTimeoutMs: 0 }
   */
  batching?: BatchingConfig | boolean;
  /** Calls a replica holds at once (running + waiting in its mailbox); beyond, calls wait in the deployment queue. @default 64 */
  maxOngoingRequests?: number;
  /** Calls the deployment queue holds; beyond, requests get 503. @default 1000 */
  maxQueuedRequests?: number;
}

/** The HTTP listener. */
export interface HttpConfig {
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one. @default 8000 */
  port?: number;
  /** Largest request body (and WebSocket message) in bytes. @default sized from the largest model input × maxBatchSize, at least 1 MiB */
  bodyLimitBytes?: number;
  /** Most elements one input tensor may declare. @default 16777216 */
  maxTensorElements?: number;
  /** How long a client may take to send a whole request (headers and body); slower ones get 408 and are closed. @default 30000 */
  receiveTimeoutMs?: number;
  /**
   * Gateways (Fastify instances), each in a worker thread with its own
   * routers, listening on one port (`reusePort`: Node ≥ 22.12 or ≥ 23.1, on
   * Linux). Where the runtime cannot share a port, one gateway serves in the
   * main thread and Ferry says so at start. @default see defaultIngressThreads
   */
  ingressThreads?: number;
  /**
   * A log line per answered request, through the gateway's logger at info:
   * request id, method, URL, status, duration and, for a deployment's calls,
   * the replica, queue wait and batch rows (all in ms). Off by default: at
   * thousands of requests a second the lines cost more than small models'
   * inference. @default false
   */
  requestLog?: boolean;
}

/** What this machine offers to replicas. */
export interface NodeConfig {
  /** CPU cores replicas may reserve. @default the machine's core count */
  cpus?: number;
  /** GPUs replicas may reserve. @default 0 */
  gpus?: number;
}

/** A Ferry config, as written in `ferry.config.ts`. */
export interface FerryConfig {
  /** The HTTP listener. */
  http?: HttpConfig;
  /** The local node's capacity. */
  node?: NodeConfig;
  /**
   * On SIGTERM or SIGINT, how long calls in flight and queued (HTTP and
   * WebSocket) may take to finish, in ms; what is left then is answered 503
   * and the process exits by this + 1 s. @default FERRY_SHUTDOWN_GRACE_MS, else 30000
   */
  shutdownGraceMs?: number;
  /** Requests sent with `Prefer: respond-async`: answered 202 with a job to poll at `/v2/jobs/{id}`. */
  asyncInference?: AsyncInferenceConfig;
  /**
   * A listener of its own for `/-/status`, `/metrics` and the model
   * repository (taken off the inference listener). @default none: they are
   * served with everything else
   */
  admin?: { host?: string; port?: number };
  /**
   * The model directory (Triton's `--model-repository`), relative to the
   * config file: `POST /v2/repository/models/{name}/load` serves
   * `{name}.onnx` or `{name}/model.onnx` from it while Ferry runs, and every
   * model path, in this config and in any update, must lie inside it
   * (symbolic links followed). @default none: loads name only deployments
   * of the config, and model paths go unchecked
   */
  modelRepository?: string;
  /** OpenTelemetry: spans of each request sent over OTLP/HTTP to a collector. @default none: no spans */
  tracing?: TracingConfig;
  /** API keys: with them, every route but those left public needs `Authorization: Bearer <key>` with the right scope. @default none: every route open */
  auth?: AuthConfig;
  /** The models to serve. */
  deployments: DeploymentConfig[];
}

/**
 * Asynchronous inference (Ray Serve's since 2.50, over a queue): a request
 * with `Prefer: respond-async` is accepted as a job, run when a place is
 * free, and its result kept for polling. In memory on one machine; in Redis
 * (BullMQ) with `--redis`, where jobs survive restarts.
 */
export interface AsyncInferenceConfig {
  /** How long a finished job's result is kept, in ms. @default 3600000 (1 h) */
  resultTtlMs?: number;
  /** Jobs waiting at most; beyond, 503 FERRY_ERR_QUEUE_FULL. @default 10000 */
  maxQueuedJobs?: number;
  /** Jobs one Ferry (each cluster gateway) runs at once. @default 16 */
  concurrency?: number;
}

/** How sticky sessions are placed and kept (`requestRouter: 'session-affinity'`). */
export interface SessionAffinityConfig {
  /**
   * ε of consistent hashing with bounded loads: no replica takes more than
   * ⌈(1 + ε) · sessions / replicas⌉ of the sessions. @default 0.25
   */
  loadBound?: number;
  /** A session unused this long gives its place up (its next call is placed anew), in ms. @default 600000 */
  idleTimeoutMs?: number;
  /** Sessions the placement table holds; past it, the one idle longest near a new key gives its place up. @default 65536 */
  maxSessions?: number;
}

/**
 * A deployment serving every `<modelId>.onnx` of a folder. A request names
 * its model (`ferry-model-id`, or the OIP name `{deployment}/{modelId}`);
 * each replica loads a model on its first call and releases the least
 * recently used beyond `maxModelsPerReplica`. Every model must have the same
 * inputs and outputs (names, datatypes, shapes): one deployment, one interface.
 */
export interface MultiplexConfig {
  /** The folder of models, relative to the config file; the ids are the `.onnx` files there at start. */
  directory: string;
  /** Models one replica keeps loaded at once. @default 3 */
  maxModelsPerReplica?: number;
}

/** `multiplex` resolved: the folder made absolute, the bound applied, the model ids found at start (sorted). */
export interface ResolvedMultiplex {
  directory: string;
  maxModelsPerReplica: number;
  modelIds: string[];
}

/** Batching with defaults applied; `mode` records what the config asked for. */
export interface ResolvedBatching extends Required<Omit<BatchingConfig, 'targetLatencyMs'>> {
  /** Null: the fixed window `batchWaitTimeoutMs`. */
  targetLatencyMs: number | null;
  /** `auto`: batch when the model allows it; `on`: the config requires it; `off`: never. */
  mode: 'auto' | 'on' | 'off';
}

/** A deployment with every default applied and the model and handler paths made absolute. */
export interface ResolvedDeployment {
  name: string;
  /** Null for a handler without a `model`. */
  model: string | null;
  models: Record<string, string>;
  handler: string | null;
  /** The handler module's export that is the class: `default` unless the config names one after `#`. */
  handlerExport: string;
  userConfig: unknown;
  healthCheckPeriodMs: number;
  healthCheckTimeoutMs: number;
  routes: Required<RouteConfig>[];
  websockets: Required<WebSocketRouteConfig>[];
  routePrefix: string | null;
  /** A built-in router's name, or a module's absolute path (its export in `requestRouterExport`). */
  requestRouter: string;
  requestRouterExport: string;
  sessionAffinity: Required<SessionAffinityConfig>;
  /** Null for a deployment of one model (or a handler). */
  multiplex: ResolvedMultiplex | null;
  version: string | null;
  requestTimeoutMs: number;
  /** Null: derived from the slowest batch seen, with a floor. */
  batchTimeoutMs: number | null;
  device: Device;
  host: HostKind;
  numReplicas: number;
  autoscaling: ResolvedAutoscaling | null;
  resources: Required<ResourcesConfig>;
  intraOpThreads: number;
  batching: ResolvedBatching;
  maxOngoingRequests: number;
  maxQueuedRequests: number;
}

/** A config with every default applied. */
export interface ResolvedConfig {
  http: { host: string; port: number; bodyLimitBytes: number | null; maxTensorElements: number; receiveTimeoutMs: number; ingressThreads: number; requestLog: boolean };
  node: Required<NodeConfig>;
  /** See {@link FerryConfig.shutdownGraceMs}. */
  shutdownGraceMs: number;
  asyncInference: Required<AsyncInferenceConfig>;
  /** See {@link FerryConfig.admin}; null when the admin routes share the inference listener. */
  admin: { host: string; port: number } | null;
  /** See {@link FerryConfig.tracing}; null when off. */
  tracing: ResolvedTracing | null;
  /** See {@link FerryConfig.auth}; null when no key is configured. */
  auth: ResolvedAuth | null;
  /** See {@link FerryConfig.modelRepository}: its real absolute path, or null. */
  modelRepository: string | null;
  deployments: ResolvedDeployment[];
  /** Where the config came from; relative model paths were resolved against its folder. */
  source: string;
  /** The config as written, before defaults (what `GET /-/config` answers, and `PUT /-/config` takes back). */
  given?: FerryConfig;
  /** Problems that do not stop serving but deserve the user's attention. */
  warnings: string[];
}
