import type { ResolvedAuth, ResolvedTracing } from '../deployments/index.js';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { MessagePort } from 'node:worker_threads';
import type { ResolvedDeployment } from '../deployments/index.js';
import {
  buildRouter,
  heldModelsOf,
  loadRouterClass,
  routerFallbackMessage,
  DeploymentCounters,
  DeploymentRouter,
  PoolClosedError,
  type AnswerObserver,
  type ModelMetadata,
  type ReplicaStartFailedError,
  type RequestRouterClass,
  type RoutingSpec,
} from '../replicas/index.js';
import { buildGateway, type GatewayMetrics } from './build-gateway.js';
import type { GatewayJobs } from './job-routes.js';
import type { GatewayControl } from './control-routes.js';
import { boundTarget, type InferenceTarget, type Readiness, type TargetBinding, type TargetSource } from './inference-target.js';
import { cutWhatIsLeft, type ShutdownState } from './shutdown-state.js';

/** One deployment as an ingress serves it: routes, limits, the model, and its counters in shared memory. */
export interface IngressDeployment {
  name: string;
  /** The name its pool's replicas are announced by (ServingPool.peerKey): the name, or one of its own for a pool replacing another. */
  key: string;
  routePrefix: string | null;
  version: string | null;
  requestTimeoutMs: number;
  maxOngoingRequests: number;
  maxQueuedRequests: number;
  metadata: ModelMetadata;
  batching: boolean;
  counters: { buffer: SharedArrayBuffer; slots: number };
  routing: RoutingSpec;
  /** A code deployment's own routes and WebSocket message handlers. */
  routes: ResolvedDeployment['routes'];
  websockets: ResolvedDeployment['websockets'];
  /** Its readiness at start; readiness routes ask the control plane again each time. */
  readiness: Readiness;
  atZero: boolean;
}

/** What an ingress asks of the control plane, wherever that runs. */
export interface IngressControl {
  /** A call was queued for a deployment at zero replicas. */
  demand(deployment: string): void;
  /** What `GET /-/status` answers: the whole process. */
  status(): Promise<unknown>;
  /** What `GET /metrics` answers: every ingress's figures and the control plane's, merged. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Every deployment's readiness now, by name. */
  readiness(): Promise<Record<string, Readiness>>;
  /** What the status page polls (`GET /-/dashboard/data?since=N`). */
  dashboard(since: number): Promise<unknown>;
}

/** What an ingress records: each request, and what the replicas' answers carry. */
export type IngressMetrics = AnswerObserver & Pick<GatewayMetrics, 'observeRequest'>;

/** Everything an ingress is given. */
export interface IngressOptions {
  deployments: IngressDeployment[];
  bodyLimitBytes: number;
  maxTensorElements: number;
  receiveTimeoutMs: number;
  /** A log line per request. @default false */
  requestLog?: boolean;
  /** API keys and the routes left open. @default none: every route open */
  auth?: ResolvedAuth | null;
  /** Ingress threads sharing the port. @default 1 */
  gateways?: number;
  /** Where request spans go. @default none */
  tracing?: ResolvedTracing | null;
  /** False when the admin routes have their own listener. @default true */
  adminRoutes?: boolean;
  server: { name: string; version: string };
  logger?: FastifyServerOptions['logger'];
  control: IngressControl;
  metrics: IngressMetrics;
  /** Each deployment's custom request router class (see loadRouterClass), by name; built-in routers are made here. */
  routerClasses?: ReadonlyMap<string, RequestRouterClass | null>;
  /** How long idle keep-alive connections stay open at shutdown. */
  lingerMs: number;
  /** The control plane's job store, where asynchronous inference is served. */
  jobs?: GatewayJobs;
  /** Config updates and repository load/unload, run by the control plane. */
  gatewayControl?: GatewayControl;
  /** Where this ingress counts the connections it accepts: a shared Int32 cell per ingress. */
  connections?: { counts: Int32Array; index: number };
}

/**
 * One ingress: a Fastify gateway with its own router per deployment, over
 * its own channel to every replica. Several run in one process, each in a
 * worker thread, all listening on one port (`reusePort`); the control plane
 * announces replicas to each and answers its status and metrics requests.
 */
export class Ingress {
  readonly app: FastifyInstance;
  /** Routers by their pool's key (IngressDeployment.key): during an update a deployment has two, the old one draining. */
  private readonly routers = new Map<string, DeploymentRouter>();
  private readonly readiness = new Map<string, Readiness>();
  private readonly shutdown: ShutdownState;
  /** What each deployment's target serves now, by name. */
  private readonly bindings = new Map<string, TargetBinding>();
  private readonly targets = new Map<string, InferenceTarget>();

  constructor(private readonly opts: IngressOptions) {
    this.shutdown = { active: false, lingerMs: opts.lingerMs };
    const targets = this.targets;
    for (const d of opts.deployments) this.serve(d, opts.routerClasses?.get(d.name) ?? null);
    const metrics: GatewayMetrics = {
      observeRequest: (deployment, code, seconds) => opts.metrics.observeRequest(deployment, code, seconds),
      expose: () => opts.control.metrics(),
    };
    this.app = buildGateway({
      targets,
      bodyLimitBytes: opts.bodyLimitBytes,
      maxTensorElements: opts.maxTensorElements,
      receiveTimeoutMs: opts.receiveTimeoutMs,
      requestLog: opts.requestLog ?? false,
      auth: opts.auth ?? null,
      gateways: opts.gateways ?? 1,
      tracing: opts.tracing ?? null,
      adminRoutes: opts.adminRoutes ?? true,
      logger: opts.logger,
      server: opts.server,
      metrics,
      status: () => opts.control.status(),
      dashboard: (since) => opts.control.dashboard(since),
      shutdown: this.shutdown,
      ...(opts.jobs ? { jobs: opts.jobs } : {}),
      ...(opts.gatewayControl ? { control: opts.gatewayControl } : {}),
      freshenReadiness: async () => {
        for (const [name, r] of Object.entries(await opts.control.readiness())) if (this.readiness.has(name)) this.readiness.set(name, r);
      },
    });
    const counted = opts.connections;
    if (counted) this.app.server.on('connection', () => Atomics.add(counted.counts, counted.index, 1));
  }

  /** A router for `d`'s pool, and `d`'s target bound to it (a new target, or an existing one moved to it). */
  private serve(d: IngressDeployment, Router: RequestRouterClass | null): void {
    const opts = this.opts;
    const counters = new DeploymentCounters(d.counters.slots, d.counters.buffer);
    const held = heldModelsOf(d.routing);
    const router = new DeploymentRouter({
      deployment: d.name,
      maxOngoing: d.maxOngoingRequests,
      maxQueued: d.maxQueuedRequests,
      counters,
      onDemand: () => opts.control.demand(d.name),
      observer: opts.metrics,
      requestRouter: buildRouter(d.name, d.maxOngoingRequests, d.routing, counters, Router),
      onRouterError: (reason) => this.app.log.warn({ deployment: d.name }, routerFallbackMessage(d.name, reason)),
      heldModels: held && { table: held, modelIds: d.routing.multiplex!.modelIds },
    });
    router.setAtZero(d.atZero);
    this.routers.set(d.key, router);
    this.readiness.set(d.name, d.readiness);
    const readiness = this.readiness;
    const source: TargetSource = {
      metadata: d.metadata,
      batching: d.batching,
      readiness: () => readiness.get(d.name) ?? { ready: false, reason: 'not served' },
      infer: (inputs, rows, control) => router.infer(inputs, rows, control),
      callRoute: (call, control) => router.callRoute(call, control),
    };
    const route = { ...d, multiplex: d.routing.multiplex };
    const binding = this.bindings.get(d.name);
    if (binding) {
      binding.route = route;
      binding.source = source;
      return;
    }
    const bound: TargetBinding = { route, source };
    this.bindings.set(d.name, bound);
    this.targets.set(d.name, boundTarget(bound, this.shutdown));
  }

  /**
   * Serves the deployments of a config update: a deployment whose pool is
   * new (added, or replacing its old one) gets a router for it and its
   * target moves there; one whose pool stays takes its new limits; one left
   * out is no longer served here (its old router stays until `forget`).
   * The control plane announces the new pools' replicas after this.
   */
  async update(deployments: IngressDeployment[]): Promise<void> {
    for (const d of deployments) {
      const router = this.routers.get(d.key);
      if (!router) {
        this.serve(d, await loadRouterClass(d.routing));
        continue;
      }
      router.setMaxQueued(d.maxQueuedRequests);
      this.bindings.get(d.name)!.route = { ...d, multiplex: d.routing.multiplex };
    }
    const kept = new Set(deployments.map((d) => d.name));
    for (const name of [...this.targets.keys()]) {
      if (kept.has(name)) continue;
      this.targets.delete(name);
      this.bindings.delete(name);
      this.readiness.delete(name);
    }
  }

  /** A pool replaced or removed by an update has stopped: what its router still holds is answered 503, and the router goes. */
  forget(key: string): void {
    this.routers.get(key)?.abandon(new PoolClosedError(key));
    this.routers.delete(key);
  }

  /** Listens; with `reusePort`, beside the other ingresses on the same port. Resolves with the address. */
  listen(host: string, port: number, reusePort: boolean): Promise<string> {
    return this.app.listen({ host, port, ...(reusePort ? { reusePort: true } : {}) });
  }

  /** A replica of `deployment` is ready: this ingress may send it calls over `port`. */
  replicaUp(deployment: string, slot: number, port: MessagePort, replicaId: string): void {
    this.routers.get(deployment)?.replicaUp(slot, port, replicaId);
  }

  /** A replica is gone: the calls this ingress had sent it are retried (see DeploymentRouter.replicaGone). */
  replicaGone(deployment: string, slot: number, reason: string): void {
    this.routers.get(deployment)?.replicaGone(slot, reason);
  }

  setAtZero(deployment: string, atZero: boolean): void {
    this.routers.get(deployment)?.setAtZero(atZero);
  }

  failQueued(deployment: string, err: ReplicaStartFailedError): void {
    this.routers.get(deployment)?.failQueued(err);
  }

  /**
   * Refuses new requests, lets those admitted finish for up to `graceMs`,
   * then answers what is left 503 (`PoolClosedError`) and closes.
   */
  async close(graceMs: number): Promise<void> {
    this.shutdown.active = true;
    this.shutdown.lingerMs = Math.min(this.shutdown.lingerMs, graceMs);
    // Requests admitted before (a body still arriving) still reach their routers and are served.
    const closed = this.app.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const [name, r] of this.routers) r.abandon(new PoolClosedError(name));
    await cutWhatIsLeft(this.app, closed);
  }
}
