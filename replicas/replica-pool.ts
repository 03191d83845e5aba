import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { applyOrtEnvironment, SHUTDOWN_GRACE_MS } from '../constants.js';
import { initialOf, type ResolvedDeployment } from '../deployments/index.js';
import { DeploymentCounters } from './deployment-counters.js';
import type { AnswerObserver, DeploymentRouter } from './deployment-router.js';
import { NodeResources, UNBUDGETED, type Reservation } from './node-resources.js';
import { defaultHostFactory } from './host-factory.js';
import { ModelView } from './model-view.js';
import type { HeldModels } from './held-models.js';
import { ModelCannotBatchError, PoolClosedError, ReplicaStartFailedError } from './pool-errors.js';
import type { HandleCalls, LifecycleObserver, Replica } from './replica.js';
import type { HostFactory } from './replica-host.js';
import { poolRouterOf } from './pool-router.js';
import { buildRouter, loadRouterClass, routingSpecOf, type RoutingSpec } from './router-factory.js';
import { ReplicaSet } from './replica-set.js';
import type { CallControl, PoolStats } from './pool-types.js';
import type { LoadedModel, RouteCall } from './protocol.js';
import type { ServingPool } from './serving-pool.js';
import type { TensorMap } from './tensor.js';

/** What the pool reports: replica losses, and each batch's figures and queue waits as the routers see them. */
export type PoolObserver = LifecycleObserver &
  AnswerObserver & {
    /** A request router's answer was not used, and why (see DeploymentRouterOptions.onRouterError). */
    routerFallback?(deployment: string, reason: string): void;
  };

/**
 * An ingress as one deployment's pool sees it: where its replicas are
 * announced, each over a channel of the ingress's own. The pool's own router
 * is one (source 0); each ingress thread is another.
 */
export interface IngressPeer {
  /** Numbers the ingress in the replicas' mailboxes. */
  readonly source: number;
  replicaUp(deployment: string, slot: number, port: MessagePort, replicaId: string): void;
  /** Resolves once the ingress has let go of the replica (and retried the calls it held). */
  replicaGone(deployment: string, slot: number, reason: string): Promise<void>;
  /** Whether the deployment wants no replica now (a queued call must ask for one). */
  atZero(deployment: string, atZero: boolean): void;
  /** A start failed while no replica runs: fail the queued calls with this. */
  failQueued(deployment: string, err: ReplicaStartFailedError): void;
}

/** Slots for replicas beyond the most the deployment may want: replacements and drains overlap. */
const spareSlots = (max: number): number => 2 * max + 8;

/** Replicas every pool is sized for at least, so a config update can add replicas in place up to this many. */
const IN_PLACE_REPLICAS = 16;

/**
 * A deployment's replicas as the control plane holds them: its
 * {@link ReplicaSet} (start, scale, drain, replace, reservations), its
 * counters in shared memory, and the channels that connect every replica to
 * every ingress. Calls never pass through it: each ingress routes its own
 * (see {@link DeploymentRouter}); `infer()` uses the pool's own router, the
 * one an ingress in this thread serves from.
 */
export class ReplicaPool extends ModelView implements ServingPool {
  readonly name: string;
  /** The deployment's figures in shared memory, for routers in other threads. */
  readonly counters: DeploymentCounters;
  /** How the deployment routes, for routers in other threads (its session table included). */
  readonly routing: RoutingSpec;
  private readonly router: DeploymentRouter;
  private readonly held: HeldModels | null;
  private readonly peers: IngressPeer[] = [];
  private closed = false;
  private atZero = false;
  private readonly set: ReplicaSet;
  private demandListener: (() => void) | null = null;
  /** The most replicas its shared counters were sized for (see spareSlots). */
  readonly mostReplicas: number;
  /**
   * The name ingress threads know this pool by: the deployment's name, or,
   * for a pool that replaces another of the same deployment during a config
   * update, a name of its own, so each thread's routers for the two stay apart.
   */
  peerKey: string;

  constructor(
    private readonly config: ResolvedDeployment,
    hostFactory: HostFactory = defaultHostFactory,
    observer?: PoolObserver,
    /** The node's capacity, shared with the other pools. @default the configured node alone */
    resources: NodeResources = new NodeResources(Infinity, Infinity),
    /** Where the deployment sits in the config's `deployments`, so messages name the setting to change. @default unknown */
    configIndex: number | null = null,
    /** Runs the handle calls its replicas' code makes (a code deployment's). @default every call fails */
    handles?: HandleCalls,
    /** On a cluster node: the most replicas it may be asked for, and its name, which each replica id carries (`mlp#<node>-1`). */
    clusterNode?: { mostReplicas: number; id: string },
  ) {
    super(config);
    this.name = config.name;
    this.peerKey = config.name;
    applyOrtEnvironment();
    const most =
      clusterNode?.mostReplicas ??
      Math.max(IN_PLACE_REPLICAS, config.autoscaling ? Math.max(config.autoscaling.maxReplicas, config.autoscaling.initialReplicas ?? 0) : config.numReplicas);
    this.mostReplicas = most;
    this.counters = new DeploymentCounters(spareSlots(most));
    this.routing = routingSpecOf(config, this.counters.slots);
    const own = poolRouterOf(config, this.routing, this.counters, () => this.demand(), observer);
    this.router = own.router;
    this.held = own.held;
    this.peers.push(own.peer);
    this.set = new ReplicaSet({
      config,
      hostFactory,
      resources,
      model: this.model,
      counters: this.counters,
      observer,
      configIndex,
      handles,
      held: this.held,
      replicaIdPrefix: clusterNode ? `${clusterNode.id}-` : '',
      events: {
        ready: (r) => this.announce(r),
        gone: (r, reason) => this.withdraw(r, reason),
        noReplica: (err) => {
          const failure = err instanceof ReplicaStartFailedError ? err : new ReplicaStartFailedError(this.name, err.message);
          for (const p of this.peers) p.failQueued(this.peerKey, failure);
        },
      },
    });
  }

  /** Connects an ingress: every ready replica gets a channel to it now, and every later one as it becomes ready. */
  connect(peer: IngressPeer): void {
    this.peers.push(peer);
    peer.atZero(this.peerKey, this.atZero);
    for (const r of this.set.replicas) if (r.state === 'ready') this.link(r, peer);
  }

  /** Disconnects an ingress that has ended: the replicas drop its channel. */
  disconnect(peer: IngressPeer): void {
    const i = this.peers.indexOf(peer);
    if (i < 0) return;
    this.peers.splice(i, 1);
    for (const r of this.set.replicas) r.detach(peer.source);
  }

  private link(replica: Replica, peer: IngressPeer): void {
    const { port1, port2 } = new MessageChannel();
    replica.attach(peer.source, port2);
    peer.replicaUp(this.peerKey, replica.slot, port1, replica.id);
  }

  private announce(replica: Replica): void {
    for (const p of this.peers) this.link(replica, p);
  }

  /** Tells every ingress the replica is gone; its slot is reused once all have let go. */
  private withdraw(replica: Replica, reason: string): void {
    const told = this.peers.map((p) => p.replicaGone(this.peerKey, replica.slot, reason));
    // replicaGone() never rejects: a peer that ended resolves at once.
    void Promise.all(told).then(() => this.set.releaseSlot(replica.slot));
  }

  /** A call was queued, in some ingress, while the deployment wants no replica: scaling from zero begins. */
  demand(): void {
    this.demandListener?.();
  }

  private setAtZero(atZero: boolean): void {
    if (atZero === this.atZero) return;
    this.atZero = atZero;
    for (const p of this.peers) p.atZero(this.peerKey, atZero);
  }

  /** Reserves the first replica's share of the node before any pool starts (see ReplicaSet.reserveFirst). */
  reserveFirst(): boolean {
    return this.set.reserveFirst();
  }

  /** Called when a call is queued while the pool has no replica and none wanted (scale from zero), in any ingress. */
  onDemand(listener: () => void): void {
    this.demandListener = listener;
  }

  /** Replicas ready to take calls. */
  get readyReplicas(): number {
    return this.set.count('ready');
  }

  /** Replicas the pool is meant to have. */
  get targetReplicas(): number {
    return this.set.targetReplicas;
  }

  /** What the first replica reported of the model (for a cluster's gateways), or null before one has. */
  get loadedModel(): LoadedModel | null {
    return this.model.reported;
  }

  /** True while at least one replica can take calls. */
  get ready(): boolean {
    return !this.closed && this.set.count('ready') > 0;
  }

  /**
   * Whether a load balancer should send this deployment requests, and why
   * not. A deployment scaled to zero is ready: a request starts a replica
   * (pulling the pod would mean that request never comes). One whose
   * replicas fail to start, or that is shutting down, is not.
   */
  readiness(): { ready: boolean; reason: string } {
    if (this.closed) return { ready: false, reason: 'shutting down' };
    if (this.ready) return { ready: true, reason: '' };
    if (this.set.failedStarts > 0) return { ready: false, reason: `replicas fail to start: ${this.set.lastStartError}` };
    if (this.set.targetReplicas === 0 && this.model.known) return { ready: true, reason: 'scaled to zero: a request starts a replica' };
    return { ready: false, reason: `no ready replica yet (${this.set.count('starting')} starting, ${this.set.pending} pending)` };
  }

  /** Calls waiting for a replica with room, in every ingress. */
  get queueDepth(): number {
    return this.counters.queued;
  }

  /** Ongoing + queued calls: the load the autoscaler reads. */
  load(): number {
    return this.counters.queued + this.ongoing;
  }

  /** Calls sent to replicas and not yet answered, from every ingress. */
  get ongoing(): number {
    return this.set.ongoing;
  }

  /**
   * Starts the initial replicas (numReplicas, or autoscaling.initialReplicas)
   * and waits until those that fit are ready; fails if any cannot load, or
   * if the config requires batching the model cannot do.
   */
  async start(): Promise<void> {
    this.setAtZero(initialOf(this.config) === 0);
    try {
      const Router = await loadRouterClass(this.routing);
      if (Router) this.router.useRequestRouter(buildRouter(this.name, this.config.maxOngoingRequests, this.routing, this.counters, Router));
      await this.set.start(initialOf(this.config));
      if (this.closed) throw new PoolClosedError(this.name);
      const conflict = this.model.batchingConflict;
      if (conflict) throw new ModelCannotBatchError(this.name, conflict);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
  }

  /**
   * Applies a new `userConfig` to a code deployment's live replicas (their
   * handler's reconfigure, no restart) and to those it starts later.
   * Resolves with what each handler threw, by replica id (empty when all took it).
   */
  reconfigure(userConfig: unknown): Promise<{ replica: string; error: string }[]> {
    return this.set.reconfigure(userConfig);
  }

  /**
   * Takes the settings of `next` that need no new replica (a config update,
   * checked by configChange): the queue bound, the request timeout, the
   * fixed batch window (live replicas get it now), the replica count where
   * it does not autoscale, the autoscaling config (the controller reads it),
   * and userConfig (through each handler's reconfigure). Replicas started
   * later take all of them. Resolves with what handlers threw, by replica id.
   */
  async adjust(next: ResolvedDeployment): Promise<{ replica: string; error: string }[]> {
    const c = this.config;
    c.requestTimeoutMs = next.requestTimeoutMs;
    c.maxQueuedRequests = next.maxQueuedRequests;
    this.router.setMaxQueued(next.maxQueuedRequests);
    const window = next.batching.maxBatchSize !== c.batching.maxBatchSize || next.batching.batchWaitTimeoutMs !== c.batching.batchWaitTimeoutMs;
    c.batching = next.batching;
    if (window) for (const r of this.set.replicas) r.setBatchWindow(next.batching.maxBatchSize, next.batching.batchWaitTimeoutMs);
    // Live replicas hold no more than the new reservation; later ones reserve it.
    c.resources = next.resources;
    for (const r of this.set.replicas) r.lease.shrink(next.resources);
    c.autoscaling = next.autoscaling;
    c.numReplicas = next.numReplicas;
    if (!next.autoscaling) this.scaleTo(next.numReplicas);
    const userConfigChanged = JSON.stringify(next.userConfig) !== JSON.stringify(c.userConfig);
    c.userConfig = next.userConfig;
    return userConfigChanged && this.runsCode ? this.reconfigure(next.userConfig) : [];
  }

  /**
   * What its replicas will give back on the node if each holds at most `to`
   * (all of it when `to` is null: the pool stops): what a config update may
   * borrow for its new replicas meanwhile (see NodeResources.lend).
   */
  givesBack(to: Reservation | null): Reservation {
    const n = this.set.replicas.filter((r) => r.lease !== UNBUDGETED).length;
    const { cpus, gpus } = this.config.resources;
    return { cpus: n * Math.max(0, cpus - (to?.cpus ?? 0)), gpus: n * Math.max(0, gpus - (to?.gpus ?? 0)) };
  }

  /** Numbers this pool's replicas after `old`'s (a pool replacing another in an update), so no two replicas of a deployment share an id. */
  continueIdsFrom(old: ServingPool): void {
    if (old instanceof ReplicaPool) this.set.seq = Math.max(this.set.seq, old.set.seq);
  }

  /** True when replicas choose their batch window to a latency target (batching.targetLatencyMs). */
  get adaptiveBatching(): boolean {
    return this.config.batching.targetLatencyMs !== null;
  }

  /** A multiplexed deployment's model loads and evictions over every replica it has had; null when it does not multiplex. */
  get multiplexTotals(): { loads: number; evictions: number } | null {
    return this.held?.totals() ?? null;
  }

  /** True for a code deployment (one that names a handler), whose replicas take a userConfig. */
  get runsCode(): boolean {
    return this.config.handler !== null;
  }

  /** Sets the replicas the pool should have (see ReplicaSet.scaleTo). */
  scaleTo(n: number): void {
    if (this.closed) return;
    this.set.scaleTo(n);
    this.setAtZero(n === 0);
  }

  /**
   * Runs one call through the pool's own router: `inputs` share dimension 0
   * (`rows`). Resolves with the call's own outputs; rejects with
   * BackPressureError when the deployment's queue is full. `control.cancel`,
   * set while the call is pending, gives up on it (see DeploymentRouter.infer).
   */
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap> {
    if (this.closed) return Promise.reject(new PoolClosedError(this.name));
    return this.router.infer(inputs, rows, control);
  }

  /** Calls one of a code deployment's own routes through the pool's own router (see DeploymentRouter.callRoute). */
  callRoute(route: RouteCall, control?: CallControl): Promise<unknown> {
    if (this.closed) return Promise.reject(new PoolClosedError(this.name));
    return this.router.callRoute(route, control);
  }

  /**
   * Stops taking calls, lets queued and running ones finish (up to the
   * shutdown grace period), answers what is left with PoolClosedError, then
   * stops every replica.
   */
  async stop(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    this.closed = true;
    this.router.close();
    this.set.close();
    const deadline = performance.now() + graceMs;
    while (this.load() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    // Past the grace, calls still held (a batch that does not finish) are answered 503, not waited for.
    this.router.abandon(new PoolClosedError(this.name));
    await this.set.stop();
  }

  /** Kills a replica as a crash would (for failure drills and tests); false if no replica has that id. */
  killReplica(id: string): boolean {
    return this.set.kill(id);
  }

  /** A snapshot of the pool's counters. */
  stats(): PoolStats {
    return {
      deployment: this.name,
      queueDepth: this.counters.queued,
      ongoing: this.ongoing,
      target: this.set.targetReplicas,
      pending: this.set.pending,
      replicas: this.set.replicas.map((r) => r.stats()),
      restarts: this.set.restarts,
      startFailures: { inARow: this.set.failedStarts, lastError: this.set.failedStarts > 0 ? this.set.lastStartError : '' },
      retried: this.counters.retried,
      cancelled: this.counters.cancelled,
      batching: this.batchingStatus(),
      readiness: this.readiness(),
    };
  }
}
