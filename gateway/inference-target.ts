import type { ResolvedDeployment } from '../deployments/index.js';
import type { CallControl, ModelMetadata, RouteCall, TensorMap } from '../replicas/index.js';
import type { ShutdownState } from './shutdown-state.js';

/** What the gateway serves for one deployment; the gateway never sees replicas. */
export interface InferenceTarget {
  /** The model name in `/v2/models/{name}`. */
  readonly name: string;
  /** Extra prefix the same endpoints answer under, or null. */
  readonly routePrefix: string | null;
  /** The declared model version, or null. */
  readonly version: string | null;
  /** A multiplexed deployment's model ids (each request names one), or null for a deployment of one model. */
  readonly modelIds: ReadonlySet<string> | null;
  /** Milliseconds a request may take before it is answered 408. */
  readonly requestTimeoutMs: number;
  /** Lifecycle state for the repository index, e.g. READY or UNAVAILABLE. */
  readonly state: string;
  /** True while the deployment can take requests (scaled to zero counts: a request starts a replica). */
  readonly ready: boolean;
  /** Why it is not ready, or what its readiness rests on (e.g. scaled to zero); '' when there is nothing to say. */
  readonly reason: string;
  /** The model's inputs and outputs. */
  readonly metadata: ModelMetadata;
  /**
   * True when calls are concatenated along dimension 0 (every input and
   * output has a dynamic dimension 0); false when each request runs alone
   * with its exact shapes (Triton's `max_batch_size: 0`).
   */
  readonly batching: boolean;
  /** Runs one request whose inputs share dimension 0 (`rows`); `control.cancel` drops it if not yet running. */
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap>;
  /** A code deployment's own HTTP routes. */
  readonly routes: ResolvedDeployment['routes'];
  /** A code deployment's WebSocket message handlers. */
  readonly websockets: ResolvedDeployment['websockets'];
  /** Calls a handler method for one of its own routes; resolves with JSON text or bytes (see RouteCall.response). */
  callRoute(route: RouteCall, control?: CallControl): Promise<unknown>;
}

/** Whether a deployment should be sent requests, and why not. */
export interface Readiness {
  ready: boolean;
  reason: string;
}

/** What a target reads of its deployment, live: a replica pool, or an ingress thread's router with the readiness it last asked for. */
export interface TargetSource {
  readonly metadata: ModelMetadata;
  readonly batching: boolean;
  readiness(): Readiness;
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap>;
  callRoute(route: RouteCall, control?: CallControl): Promise<unknown>;
}

/** What a target serves of its deployment's config. */
export type TargetRoute = Pick<InferenceTarget, 'name' | 'routePrefix' | 'version' | 'requestTimeoutMs' | 'routes' | 'websockets'> & {
  multiplex: { modelIds: readonly string[] } | null;
};

/**
 * A target's deployment config and source, which a config update replaces:
 * a new source (a new pool, or an ingress's router for it) takes the calls
 * that come after; calls already made stay with the source they went to.
 */
export interface TargetBinding {
  route: TargetRoute;
  source: TargetSource;
}

/** A deployment as the gateway serves it: its routes, and its source's readiness until shutdown begins (then not ready: shutting down). */
export function inferenceTarget(route: TargetRoute, source: TargetSource, shutdown: ShutdownState): InferenceTarget {
  return boundTarget({ route, source }, shutdown);
}

/** A target that reads its binding on every use, so an update that replaces the binding's route or source moves the traffic that follows. */
export function boundTarget(binding: TargetBinding, shutdown: ShutdownState): InferenceTarget {
  let ids: { from: readonly string[]; set: ReadonlySet<string> } | null = null;
  return {
    get name() {
      return binding.route.name;
    },
    get modelIds() {
      const m = binding.route.multiplex;
      if (!m) return null;
      if (ids?.from !== m.modelIds) ids = { from: m.modelIds, set: new Set(m.modelIds) };
      return ids.set;
    },
    get routePrefix() {
      return binding.route.routePrefix;
    },
    get version() {
      return binding.route.version;
    },
    get requestTimeoutMs() {
      return binding.route.requestTimeoutMs;
    },
    get routes() {
      return binding.route.routes;
    },
    get websockets() {
      return binding.route.websockets;
    },
    get ready() {
      return !shutdown.active && binding.source.readiness().ready;
    },
    get state() {
      return this.ready ? 'READY' : 'UNAVAILABLE';
    },
    get reason() {
      return shutdown.active ? 'shutting down' : binding.source.readiness().reason;
    },
    get metadata() {
      return binding.source.metadata;
    },
    get batching() {
      return binding.source.batching;
    },
    infer: (inputs, rows, control) => binding.source.infer(inputs, rows, control),
    callRoute: (call, control) => binding.source.callRoute(call, control),
  };
}
