import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { initialOf, type ResolvedDeployment } from '../deployments/index.js';
import { BackendUnavailableError } from '../errors.js';
import {
  buildRouter,
  DeploymentCounters,
  DeploymentRouter,
  loadRouterClass,
  ModelView,
  poolRouterOf,
  PoolClosedError,
  routingSpecOf,
  SlotState,
  type CallControl,
  type IngressPeer,
  type PoolObserver,
  type PoolStats,
  type RoutingSpec,
  type ServingPool,
  type TensorMap,
} from '../replicas/index.js';
import type { LoadedModel, RouteCall } from '../replicas/protocol.js';
import type { ReplicaReport } from './cluster-store.js';
import type { NodeConnection } from './node-connection.js';

/** What a remote pool asks of its gateway. */
export interface RemotePoolHost {
  /** Gives every node connection a channel for `source` (an ingress thread joining). */
  attachSource(source: number): void;
  /** Why calls cannot go now (Redis unreachable too long), or null. */
  unavailable(): string | null;
  /** Why the cluster runs no replica of `deployment` (not in the config the controller serves), or null. */
  notServed(deployment: string): string | null;
  /** The cluster's load on the deployment (every gateway's calls queued and in flight), or null when unknown. */
  clusterLoad(deployment: string): number | null;
  /** Replicas the controller placed for the deployment, and how many fit nowhere. */
  placed(deployment: string): { target: number; pending: number } | null;
  /** What the autoscaler wants: the controller places this many. */
  setTarget(deployment: string, n: number): void;
  /** What replica `replicaId`'s node last reported of it (batches, rows, latency...), or null. */
  reported(node: string, replicaId: string): ReplicaReport | null;
  /** What a node reported of the deployment's model, once one has. */
  model(deployment: string): Promise<LoadedModel | null>;
  /** A line for the operator (e.g. why a start waits). */
  log?(msg: string): void;
  /** Sets a code deployment's userConfig for every node to apply. */
  reconfigure(deployment: string, userConfig: unknown): Promise<void>;
}

/** One replica on a node, as this gateway reaches it: a slot in its counters and a channel per router. */
interface RemoteReplica {
  id: string;
  node: string;
  slot: number;
  /** The channel of each router (by source) and the connection it runs on. */
  channels: Map<number, { conn: NodeConnection; ch: number; relay: MessagePort }>;
}

/** Slots beyond the most replicas the deployment may want: replicas coming and going overlap. */
const spareSlots = (max: number): number => 2 * max + 8;

/** A replica's figures before its node's heartbeat reports them. */
const NOT_REPORTED: ReplicaReport = Object.freeze({
  deployment: '',
  id: '',
  state: 'ready',
  host: 'thread',
  hostId: -1,
  batches: 0,
  rows: 0,
  maxBatchRows: 0,
  mergedBatches: 0,
  batchWindowMs: 0,
  batchCostMs: { fixed: 0, perRow: 0 },
  latencyP99Ms: null,
  models: [],
  modelLoads: 0,
  modelEvictions: 0,
  loadMs: 0,
  startMs: 0,
});

/** How often start() looks again for a node's report of the model. */
const MODEL_POLL_MS = 100;

/**
 * A deployment served by replicas on a cluster's nodes, as one gateway sees
 * it. Calls take the same path as on one machine — the gateway's bounded
 * queue, its routers (one per ingress), power of two choices or the
 * configured router, the same cancel and retry — and each replica batches
 * what every gateway sends it. Each router's channel to a replica is carried
 * over the gateway's connection to the node; a replica or node that goes
 * away hands its calls back for one retry elsewhere. In-flight counts are
 * this gateway's own; the autoscaler reads every gateway's, summed through
 * Redis.
 */
export class RemotePool extends ModelView implements ServingPool {
  readonly name: string;
  /** A cluster gateway takes no config update, so its pools keep the deployment's name. */
  get peerKey(): string {
    return this.name;
  }
  readonly counters: DeploymentCounters;
  readonly routing: RoutingSpec;
  private readonly router: DeploymentRouter;
  private readonly peers = new Map<number, IngressPeer>();
  private readonly replicas = new Map<string, RemoteReplica>();
  private readonly byChannel = new Map<NodeConnection, Map<number, RemoteReplica>>();
  private readonly freeSlots: number[];
  private closed = false;
  private demandListener: (() => void) | null = null;

  constructor(
    private readonly config: ResolvedDeployment,
    private readonly host: RemotePoolHost,
    observer?: PoolObserver,
  ) {
    super(config);
    this.name = config.name;
    const most = config.autoscaling ? Math.max(config.autoscaling.maxReplicas, config.autoscaling.initialReplicas) : config.numReplicas;
    this.counters = new DeploymentCounters(spareSlots(most));
    this.freeSlots = Array.from({ length: this.counters.slots }, (_, i) => i);
    this.routing = routingSpecOf(config, this.counters.slots);
    const own = poolRouterOf(config, this.routing, this.counters, () => this.demand(), observer);
    this.router = own.router;
    this.peers.set(0, own.peer);
  }

  /** Waits until a node has loaded the model (the gateway needs its interface to serve), then loads a custom router. */
  async start(): Promise<void> {
    const Router = await loadRouterClass(this.routing);
    if (Router) this.router.useRequestRouter(buildRouter(this.name, this.config.maxOngoingRequests, this.routing, this.counters, Router));
    this.host.setTarget(this.name, initialOf(this.config));
    const since = Date.now();
    let told = 0;
    while (!this.closed && !this.model.known) {
      const model = await this.host.model(this.name).catch(() => null);
      if (model) this.model.learn(model);
      else await new Promise((r) => setTimeout(r, MODEL_POLL_MS));
      // Every 10 s: a gateway waits for a node to load the model before it serves; say so.
      const waited = Math.floor((Date.now() - since) / 10_000);
      if (waited > told) {
        told = waited;
        const notServed = this.host.notServed(this.name);
        this.host.log?.(`${this.name}: waiting ${waited * 10} s for a node to load its model (${notServed ?? 'is a `ferry node` running with room for it?'})`);
      }
    }
    if (this.closed) throw new PoolClosedError(this.name);
  }

  /** A node opened `source`'s channel `ch` to one of its replicas; returns the end the replica's answers go to. */
  remoteUp(conn: NodeConnection, ch: number, source: number, replicaId: string): MessagePort | null {
    const peer = this.peers.get(source);
    if (!peer || this.closed) return null;
    const key = `${conn.node.id}/${replicaId}`;
    let replica = this.replicas.get(key);
    if (!replica) {
      const slot = this.freeSlots.shift();
      if (slot === undefined) return null;
      replica = { id: replicaId, node: conn.node.id, slot, channels: new Map() };
      this.replicas.set(key, replica);
      this.counters.reset(slot, SlotState.READY);
    }
    const { port1, port2 } = new MessageChannel();
    replica.channels.set(source, { conn, ch, relay: port2 });
    let chans = this.byChannel.get(conn);
    if (!chans) this.byChannel.set(conn, (chans = new Map()));
    chans.set(ch, replica);
    peer.replicaUp(this.name, replica.slot, port1, replicaId);
    return port2;
  }

  /** Every replica on the node behind `conn` stops taking calls at once, before any of its calls is retried (elsewhere, then). */
  nodeLost(conn: NodeConnection): void {
    for (const replica of this.byChannel.get(conn)?.values() ?? []) this.counters.setState(replica.slot, SlotState.DEAD);
  }

  /** The replica behind `ch` is gone for its router: its calls go back to that router's queue. */
  remoteGone(conn: NodeConnection, ch: number, reason: string): void {
    const replica = this.byChannel.get(conn)?.get(ch);
    if (!replica) return;
    this.byChannel.get(conn)!.delete(ch);
    for (const [source, c] of replica.channels) {
      if (c.conn !== conn || c.ch !== ch) continue;
      replica.channels.delete(source);
      c.relay.close();
      const peer = this.peers.get(source);
      const gone = peer ? peer.replicaGone(this.name, replica.slot, reason) : Promise.resolve();
      if (replica.channels.size > 0) continue;
      this.replicas.delete(`${replica.node}/${replica.id}`);
      this.counters.setState(replica.slot, SlotState.DEAD);
      // The slot is reused once the router has let go of it.
      void gone.then(() => this.freeSlots.push(replica.slot));
    }
  }

  /** Replicas this gateway has a channel to. */
  get readyReplicas(): number {
    return this.replicas.size;
  }

  get targetReplicas(): number {
    return this.host.placed(this.name)?.target ?? initialOf(this.config);
  }

  get ready(): boolean {
    return !this.closed && this.replicas.size > 0 && this.unavailable() === null;
  }

  private unavailable(): string | null {
    return this.host.unavailable() ?? this.host.notServed(this.name);
  }

  readiness(): { ready: boolean; reason: string } {
    if (this.closed) return { ready: false, reason: 'shutting down' };
    const unavailable = this.unavailable();
    if (unavailable) return { ready: false, reason: unavailable };
    if (this.replicas.size > 0) return { ready: true, reason: '' };
    const placed = this.host.placed(this.name);
    if (placed && placed.target === 0 && this.model.known) return { ready: true, reason: 'scaled to zero: a request starts a replica' };
    return { ready: false, reason: `no ready replica on any node yet${placed?.pending ? ` (${placed.pending} pending: no node has room)` : ''}` };
  }

  get queueDepth(): number {
    return this.counters.queued;
  }

  /** This gateway's calls in flight to the deployment's replicas. */
  get ongoing(): number {
    let n = 0;
    for (const r of this.replicas.values()) n += this.counters.inFlight(r.slot);
    return n;
  }

  /** Every gateway's calls queued and in flight (from Redis), else this gateway's. */
  load(): number {
    return this.host.clusterLoad(this.name) ?? this.counters.queued + this.ongoing;
  }

  /** This gateway's own load, which it publishes for the controller. */
  localLoad(): { queued: number; ongoing: number } {
    return { queued: this.counters.queued, ongoing: this.ongoing };
  }

  get adaptiveBatching(): boolean {
    return this.config.batching.targetLatencyMs !== null;
  }

  get multiplexTotals(): { loads: number; evictions: number } | null {
    return null;
  }

  get runsCode(): boolean {
    return this.config.handler !== null;
  }

  connect(peer: IngressPeer): void {
    this.peers.set(peer.source, peer);
    peer.atZero(this.name, this.targetReplicas === 0);
    this.host.attachSource(peer.source);
  }

  disconnect(peer: IngressPeer): void {
    this.peers.delete(peer.source);
  }

  demand(): void {
    this.demandListener?.();
  }

  onDemand(listener: () => void): void {
    this.demandListener = listener;
  }

  /** Nodes reserve their own resources. */
  reserveFirst(): boolean {
    return true;
  }

  /** Asks the controller for `n` replicas (it places them on nodes with room). */
  scaleTo(n: number): void {
    if (this.closed) return;
    this.host.setTarget(this.name, n);
    for (const peer of this.peers.values()) peer.atZero(this.name, n === 0);
  }

  private refuse(): Error | null {
    if (this.closed) return new PoolClosedError(this.name);
    const why = this.unavailable();
    return why ? new BackendUnavailableError(why) : null;
  }

  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap> {
    const refused = this.refuse();
    return refused ? Promise.reject(refused) : this.router.infer(inputs, rows, control);
  }

  callRoute(route: RouteCall, control?: CallControl): Promise<unknown> {
    const refused = this.refuse();
    return refused ? Promise.reject(refused) : this.router.callRoute(route, control);
  }

  /**
   * Sets the userConfig in Redis; each node gives it to its replicas'
   * reconfigure as it reads it (within a control interval) and to replicas it
   * starts later. Resolves once it is set: a handler's refusal is the node's
   * to report (its log and `ferry status --redis`), not this gateway's.
   */
  async reconfigure(userConfig: unknown): Promise<{ replica: string; error: string }[]> {
    await this.host.reconfigure(this.name, userConfig);
    return [];
  }

  /** Replicas run on nodes: a gateway cannot kill one. */
  killReplica(): boolean {
    return false;
  }

  /** Stops taking calls, lets those held finish (up to `graceMs`), then answers what is left 503. */
  async stop(graceMs = 5000): Promise<void> {
    this.closed = true;
    this.router.close();
    const deadline = performance.now() + graceMs;
    while (this.counters.queued + this.ongoing > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.router.abandon(new PoolClosedError(this.name));
  }

  stats(): PoolStats {
    const placed = this.host.placed(this.name);
    return {
      deployment: this.name,
      queueDepth: this.counters.queued,
      ongoing: this.ongoing,
      target: placed?.target ?? initialOf(this.config),
      pending: placed?.pending ?? 0,
      replicas: [...this.replicas.values()].map((r) => {
        // Figures are the node's (from its last heartbeat); calls in flight and sessions, this gateway's own.
        const { deployment: _d, ...reported } = this.host.reported(r.node, r.id) ?? NOT_REPORTED;
        return { ...reported, id: r.id, state: 'ready', node: r.node, ongoing: this.counters.inFlight(r.slot), sessions: this.counters.sessions(r.slot) };
      }),
      restarts: 0,
      startFailures: { inARow: 0, lastError: '' },
      retried: this.counters.retried,
      cancelled: this.counters.cancelled,
      batching: this.batchingStatus(),
      readiness: this.readiness(),
    };
  }
}
