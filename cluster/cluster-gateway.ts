import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import type { ResolvedDeployment } from '../deployments/index.js';
import type { PoolObserver } from '../replicas/index.js';
import type { LoadedModel } from '../replicas/protocol.js';
import { BullJobStore } from '../jobs/bullmq-jobs.js';
import type { JobState } from '../jobs/job-types.js';
import { ClusterController } from './cluster-controller.js';
import { ClusterStore, type AssignmentRecord, type DeploymentLoad, type NodeRecord, type ReplicaReport } from './cluster-store.js';

/** The config the controller serves the cluster, as Redis holds it. */
interface ServedConfig {
  deployments: ResolvedDeployment[];
  /** The gateway that serves it. */
  by?: string;
}
import { NodeConnection } from './node-connection.js';
import { RemotePool, type RemotePoolHost } from './remote-pool.js';
import { CLUSTER_TIMING, type ClusterTiming } from './timing.js';

/** Options for {@link ClusterGateway}. */
export interface ClusterGatewayOptions {
  redisUrl: string;
  /** The gateway's name in the cluster. @default `<hostname>-<random>` */
  id?: string;
  timing?: Partial<ClusterTiming>;
  prefix?: string;
  log?: (level: 'info' | 'warn', msg: string) => void;
  /** False for a node reaching other deployments for its replicas' handle calls: it never takes the controller's lock. @default true */
  controller?: boolean;
}

/** What `GET /-/status` shows of the cluster. */
export interface ClusterStatus {
  gateway: string;
  controller: string | null;
  redis: { connected: boolean; unavailable: string | null };
  nodes: NodeRecord[];
  /** Nodes this gateway cannot connect to, with why. */
  unreachable: Record<string, string>;
  assignment: AssignmentRecord | null;
}

/**
 * A gateway's side of the cluster: its connection to Redis and to every
 * live node, the remote pools its routes serve from, and its share of the
 * control work. Every control interval it reads the nodes (connecting to new
 * ones, dropping those whose heartbeat lapsed), the assignment and every
 * gateway's load, publishes its own load, and runs the controller's pass
 * (which acts only where it holds the lock). Past one heartbeat TTL
 * without Redis it refuses calls at once with 503: it can no longer tell
 * which nodes live. It reconnects by itself.
 */
export class ClusterGateway implements RemotePoolHost {
  readonly id: string;
  readonly store: ClusterStore;
  private readonly timing: ClusterTiming;
  private readonly pools = new Map<string, RemotePool>();
  private readonly connections = new Map<string, NodeConnection>();
  /** Which pool each channel belongs to, per connection. */
  private readonly channels = new Map<NodeConnection, Map<number, RemotePool>>();
  private readonly sources = new Set<number>([0]);
  private readonly targets = new Map<string, number>();
  private controller: ClusterController | null = null;
  private assignment: AssignmentRecord | null = null;
  private loads: Record<string, DeploymentLoad> | null = null;
  private nodes: NodeRecord[] = [];
  /** Each replica as its node last reported it, by `node/replica`. */
  private reports = new Map<string, ReplicaReport>();
  private holder: string | null = null;
  private lastRedisOk = Date.now();
  /** Set while Redis does not answer; after it answers again, until this time, nodes missing from it are not taken as gone. */
  private redisFailed = false;
  private graceUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private subscriber: { disconnect(): void } | null = null;
  private passing: Promise<void> | null = null;
  /** Nodes this gateway has failed to connect to, since when and why; cleared once a connection is made. */
  private readonly unreachable = new Map<string, { since: number; reason: string }>();
  /** This gateway's deployments, as its config file resolved them, each serialized once to compare with the served config's. */
  private own: { name: string; json: string }[] = [];
  /** This gateway's deployments the config the controller serves lacks, with why: no replica is placed for them. */
  private notInCluster = new Map<string, string>();
  /** How this gateway's config differs from the served one, as last said (said again when it changes). */
  private toldDifference = '';
  private closed = false;

  constructor(private readonly opts: ClusterGatewayOptions) {
    this.id = opts.id ?? `gateway-${hostname()}-${randomBytes(3).toString('hex')}`;
    this.store = new ClusterStore(opts.redisUrl, opts.prefix);
    this.timing = { ...CLUSTER_TIMING, ...opts.timing };
  }

  /** Connects to Redis; rejects with a message naming the URL when it does not answer. */
  async connect(deployments: readonly ResolvedDeployment[]): Promise<void> {
    try {
      await this.store.connect();
    } catch (err) {
      throw new Error(`cannot reach Redis at ${this.opts.redisUrl}: ${(err as Error).message}`);
    }
    this.own = deployments.map((d) => ({ name: d.name, json: JSON.stringify(d) }));
    if (this.opts.controller !== false) this.controller = new ClusterController(this.store, this.id, deployments, this.timing.lockTtlMs);
    this.subscriber = this.store.subscriber(() => void this.pass());
    this.timer = setInterval(() => void this.pass(), this.timing.controlIntervalMs).unref();
    await this.pass();
  }

  /** The pool a deployment's routes serve from. */
  pool(config: ResolvedDeployment, observer?: PoolObserver): RemotePool {
    const pool = new RemotePool(config, this, observer);
    this.pools.set(config.name, pool);
    for (const conn of this.connections.values()) conn.claim(config.name);
    return pool;
  }

  /** One control pass (one at a time; asked during one, it is skipped). */
  pass(): Promise<void> {
    this.passing ??= this.passOnce().finally(() => (this.passing = null));
    return this.passing;
  }

  private async passOnce(): Promise<void> {
    if (this.closed) return;
    try {
      const own: Record<string, DeploymentLoad> = {};
      for (const [name, pool] of this.pools) own[name] = pool.localLoad();
      await this.store.writeLoad(this.id, own, this.timing.heartbeatTtlMs);
      await this.store.writeUnreachable(this.id, this.longUnreachable(), this.timing.heartbeatTtlMs);
      const [nodes, assignment, loads, holder, served] = await Promise.all([
        this.store.nodes(),
        this.store.assignment(),
        this.store.loads(),
        this.store.lockHolder(),
        this.store.config<ServedConfig>(),
      ]);
      this.compare(served, holder);
      this.holder = holder;
      const gone = this.nodes.filter((n) => !nodes.some((m) => m.id === n.id));
      this.nodes = nodes;
      this.reports = new Map(nodes.flatMap((n) => n.replicas.map((r) => [`${n.id}/${r.id}`, r] as const)));
      this.assignment = assignment;
      this.loads = loads;
      this.lastRedisOk = Date.now();
      if (this.redisFailed) {
        // Heartbeats could not be written while Redis was away (or lapsed while it restarted): nodes get one TTL to beat again before any is taken as gone.
        this.redisFailed = false;
        this.graceUntil = Date.now() + this.timing.heartbeatTtlMs;
      }
      const grace = Date.now() < this.graceUntil;
      if (!grace) for (const n of gone) this.opts.log?.('warn', `node ${n.id} stopped beating: its calls are retried on other replicas, and the controller places its replicas elsewhere`);
      this.follow(nodes, grace);
      const wasController = this.controller?.isController ?? false;
      await this.controller?.pass(this.targets, !grace);
      if (this.controller?.isController && !wasController) this.opts.log?.('info', `this gateway (${this.id}) is now the cluster's controller${holder && holder !== this.id ? ` (after ${holder})` : ''}`);
    } catch {
      this.redisFailed = true;
      // Redis unreachable: calls go on to the nodes known until a heartbeat TTL has passed (see unavailable()).
    }
  }

  /**
   * Compares this gateway's deployments with the config the controller
   * serves (the cluster runs that one): a deployment it lacks gets no
   * replica, so calls to it are refused at once rather than left to time
   * out, and a difference is logged whenever it changes.
   */
  private compare(served: ServedConfig | null, holder: string | null): void {
    // One left by a controller that is gone is not the cluster's any more: its successor serves its own at once.
    if (!served || served.by !== holder || this.opts.controller === false) return;
    const theirs = new Map(served.deployments.map((d) => [d.name, JSON.stringify(d)]));
    const by = served.by ?? 'the controller';
    this.notInCluster = new Map(
      this.own.filter((d) => !theirs.has(d.name)).map((d) => [d.name, `deployment ${d.name} is not in the config ${by} serves the cluster, so no replica of it is placed`]),
    );
    const differing = this.own.filter((d) => theirs.has(d.name) && theirs.get(d.name) !== d.json).map((d) => d.name);
    const extra = [...theirs.keys()].filter((name) => !this.own.some((d) => d.name === name));
    const parts = [
      ...(this.notInCluster.size > 0 ? [`not in it: ${[...this.notInCluster.keys()].join(', ')} (answered 503 here)`] : []),
      ...(differing.length > 0 ? [`set differently there: ${differing.join(', ')} (the cluster runs them as ${by} set them)`] : []),
      ...(extra.length > 0 ? [`only there: ${extra.join(', ')}`] : []),
    ];
    const difference = parts.join('; ');
    if (difference !== this.toldDifference && difference !== '') {
      this.opts.log?.('warn', `this gateway's config differs from the one ${by} serves the cluster: ${difference}. Give every gateway the same config`);
    }
    this.toldDifference = difference;
  }

  /** Connects to nodes new to it and drops those whose heartbeat lapsed (or that came back elsewhere). */
  private follow(nodes: readonly NodeRecord[], grace = false): void {
    const live = new Map(nodes.map((n) => [n.id, n]));
    for (const [id, conn] of this.connections) {
      const now = live.get(id);
      if (!now && grace) continue;
      if (!now || now.host !== conn.node.host || now.port !== conn.node.port || now.startedAt !== conn.node.startedAt) conn.close(`node ${id} stopped beating`);
    }
    for (const node of nodes) {
      if (this.connections.has(node.id)) continue;
      const events = {
        up: (c: NodeConnection, ch: number, source: number, d: string, r: string) => this.up(c, ch, source, d, r),
        gone: (c: NodeConnection, ch: number, reason: string) => this.gone(c, ch, reason),
        lost: (c: NodeConnection) => {
          for (const pool of this.pools.values()) pool.nodeLost(c);
        },
      };
      const conn = new NodeConnection(node, events, (c) => {
        if (this.connections.get(c.node.id) === c) this.connections.delete(c.node.id);
        this.channels.delete(c);
        if (c.failure !== null) this.failedToReach(c.node, c.failure);
      });
      void conn.ready.then(() => this.unreachable.delete(node.id), () => {});
      this.connections.set(node.id, conn);
      for (const source of this.sources) conn.attach(source);
    }
  }

  /** Notes a node this gateway cannot connect to, and says so once while it stays so. */
  private failedToReach(node: NodeRecord, reason: string): void {
    const known = this.unreachable.get(node.id);
    if (known) {
      known.reason = reason;
      return;
    }
    this.unreachable.set(node.id, { since: Date.now(), reason });
    this.opts.log?.(
      'warn',
      `cannot reach node ${node.id} at ${node.host}:${node.port} (${reason}): no call goes to its replicas from this gateway, and past a heartbeat TTL ` +
        `the controller places none there; a node on another machine needs --advertise <an address gateways reach>`,
    );
  }

  /** Nodes unreachable for longer than a heartbeat TTL, with why: what this gateway reports to the controller. */
  private longUnreachable(): Record<string, string> {
    const out: Record<string, string> = {};
    const live = new Set(this.nodes.map((n) => n.id));
    for (const [id, u] of this.unreachable) {
      if (!live.has(id)) this.unreachable.delete(id);
      else if (Date.now() - u.since > this.timing.heartbeatTtlMs) out[id] = u.reason;
    }
    return out;
  }

  private up(conn: NodeConnection, ch: number, source: number, deployment: string, replicaId: string): MessagePort | null {
    const pool = this.pools.get(deployment);
    const port = pool?.remoteUp(conn, ch, source, replicaId) ?? null;
    if (!port) return null;
    let chans = this.channels.get(conn);
    if (!chans) this.channels.set(conn, (chans = new Map()));
    chans.set(ch, pool!);
    return port;
  }

  private gone(conn: NodeConnection, ch: number, reason: string): void {
    const pool = this.channels.get(conn)?.get(ch);
    this.channels.get(conn)?.delete(ch);
    pool?.remoteGone(conn, ch, reason);
  }

  attachSource(source: number): void {
    if (this.sources.has(source)) return;
    this.sources.add(source);
    for (const conn of this.connections.values()) conn.attach(source);
  }

  unavailable(): string | null {
    const silent = Date.now() - this.lastRedisOk;
    if (silent <= this.timing.heartbeatTtlMs) return null;
    return `Redis at ${this.opts.redisUrl} has not answered for ${Math.round(silent / 1000)} s, so this gateway cannot tell which nodes live; it reconnects by itself`;
  }

  notServed(deployment: string): string | null {
    return this.notInCluster.get(deployment) ?? null;
  }

  clusterLoad(deployment: string): number | null {
    const l = this.loads?.[deployment];
    return l ? l.queued + l.ongoing : null;
  }

  placed(deployment: string): { target: number; pending: number } | null {
    const a = this.assignment;
    if (!a || a.targets[deployment] === undefined) return null;
    return { target: a.targets[deployment], pending: a.pending[deployment] ?? 0 };
  }

  setTarget(deployment: string, n: number): void {
    if (this.targets.get(deployment) === n) return;
    this.targets.set(deployment, n);
    // The controller places the new target at once rather than at its next pass.
    if (this.controller?.isController) void this.pass();
  }

  log(msg: string): void {
    this.opts.log?.('info', msg);
  }

  reconfigure(deployment: string, userConfig: unknown): Promise<void> {
    return this.store.writeUserConfig(deployment, userConfig);
  }

  reported(node: string, replicaId: string): ReplicaReport | null {
    return this.reports.get(`${node}/${replicaId}`) ?? null;
  }

  model(deployment: string): Promise<LoadedModel | null> {
    return this.store.model(deployment);
  }

  /** The cluster's asynchronous jobs, in its Redis (BullMQ). */
  jobStore(settings: { resultTtlMs: number; maxQueuedJobs: number }, onFinished?: (deployment: string, state: JobState) => void): BullJobStore {
    // A job's lock lapses as the controller's does, twice over: a dead gateway's jobs go to another within seconds, not minutes.
    const lockMs = Math.max(2000, 2 * this.timing.lockTtlMs);
    return new BullJobStore({ redisUrl: this.opts.redisUrl, ...(this.opts.prefix ? { prefix: this.opts.prefix.replace(/:$/, '') } : {}), ...settings, lockMs, ...(onFinished ? { onFinished } : {}) });
  }

  /** The cluster as this gateway last read it. */
  status(): ClusterStatus {
    return {
      gateway: this.id,
      controller: this.holder,
      redis: { connected: this.store.connected, unavailable: this.unavailable() },
      nodes: this.nodes,
      unreachable: Object.fromEntries([...this.unreachable].map(([id, u]) => [id, u.reason])),
      assignment: this.assignment,
    };
  }

  /** Leaves the cluster: the lock goes (another gateway takes over), node connections close. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.subscriber?.disconnect();
    await this.passing?.catch(() => {});
    await this.controller?.release();
    await this.store.removeLoad(this.id).catch(() => {});
    for (const conn of [...this.connections.values()]) conn.close('the gateway is closing');
    await this.store.close();
  }
}
