import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { FerryMetrics } from '../metrics/index.js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ResolvedDeployment } from '../deployments/index.js';
import { handleCalls } from '../gateway/index.js';
import { defaultHostFactory, NodeResources, ReplicaPool, type HostFactory, type PoolObserver } from '../replicas/index.js';
import { ClusterGateway } from './cluster-gateway.js';
import { ClusterStore, type NodeRecord, type ReplicaReport } from './cluster-store.js';
import type { RemotePool } from './remote-pool.js';
import { NodeServer } from './node-server.js';
import { CLUSTER_TIMING, type ClusterTiming } from './timing.js';

/** Options for {@link NodeAgent}. */
export interface NodeAgentOptions {
  redisUrl: string;
  /** The node's name in the cluster. @default `<hostname>-<random>` */
  id?: string;
  /** What replicas may reserve here. @default every core, no GPU */
  cpus: number;
  gpus: number;
  /** Where gateways connect: the interface listened on, the port (0 picks one), and the address advertised to gateways. */
  listenHost?: string;
  port?: number;
  advertiseHost?: string;
  timing?: Partial<ClusterTiming>;
  hostFactory?: HostFactory;
  /** Key prefix in Redis. @default 'ferry:' */
  prefix?: string;
  /** Where the node serves `/metrics`, `/v2/health/live` and `/v2/health/ready` (on `listenHost`). @default none */
  metricsPort?: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

/** The config the controller serves to nodes: every deployment, resolved (paths absolute). */
export interface ServedConfig {
  deployments: ResolvedDeployment[];
}

/**
 * `ferry node`: offers one machine's resources to the cluster and runs the
 * replicas the controller assigns it, with the same thread and process hosts
 * as one machine. It beats into Redis (a key with a TTL, listing its
 * replicas), follows the assignment (read on every announcement and every
 * control interval) by growing or shrinking a local pool per deployment,
 * and relays gateways' calls to its replicas over their connections.
 */
export class NodeAgent {
  readonly id: string;
  private readonly store: ClusterStore;
  private readonly timing: ClusterTiming;
  private readonly resources: NodeResources;
  private readonly pools = new Map<string, ReplicaPool>();
  private readonly server: NodeServer;
  private readonly startedAt = Date.now();
  /** This run of the node: another process started with the same id is refused, and cannot take its key. */
  private readonly instance = randomUUID();
  /** Set once another run of a node with this id was seen holding its key (warned once). */
  private displacedBy: string | null = null;
  private port = 0;
  private lastBeat = 0;
  private timers: NodeJS.Timeout[] = [];
  private subscriber: { disconnect(): void } | null = null;
  private reconciling: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly failures = new Map<string, string>();
  private readonly metrics = new FerryMetrics({ node: true });
  /** How the node's replicas reach every deployment for their handle calls: through the cluster, as a gateway does. */
  private reach: ClusterGateway | null = null;
  private readonly reachPools = new Map<string, RemotePool>();
  /** The userConfig text applied to each deployment's pool here. */
  private readonly applied = new Map<string, string>();
  private http: Server | null = null;

  constructor(private readonly opts: NodeAgentOptions) {
    this.id = opts.id ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
    this.store = new ClusterStore(opts.redisUrl, opts.prefix);
    this.timing = { ...CLUSTER_TIMING, ...opts.timing };
    this.resources = new NodeResources(opts.cpus, opts.gpus);
    this.server = new NodeServer(() => this.pools.values());
    this.metrics.readFrom(() =>
      [...this.pools.values()].map((p) => {
        const s = p.stats();
        const replicas: Record<string, number> = {};
        for (const r of s.replicas) replicas[r.state] = (replicas[r.state] ?? 0) + 1;
        return { deployment: p.name, queueDepth: s.queueDepth, ongoing: s.ongoing, replicas };
      }),
    );
  }

  /** Live while the process runs; ready while it is in the cluster (its last beat reached Redis). */
  private serveHttp(port: number): Promise<void> {
    this.http = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const send = (status: number, type: string, body: string) => res.writeHead(status, { 'content-type': type }).end(body);
      if (path === '/v2/health/live') return send(200, 'application/json', JSON.stringify({ live: true }));
      if (path === '/v2/health/ready') {
        const ready = !this.closed && this.store.connected && Date.now() - this.lastBeat <= this.timing.heartbeatTtlMs;
        return send(ready ? 200 : 503, 'application/json', JSON.stringify({ ready }));
      }
      if (path === '/metrics') {
        this.metrics.registry.metrics().then((text) => send(200, this.metrics.registry.contentType, text), (err: Error) => send(500, 'text/plain', err.message));
        return;
      }
      send(404, 'application/json', JSON.stringify({ error: `no route ${path} on a node`, code: 'FERRY_ERR_ROUTE_NOT_FOUND' }));
    });
    return new Promise((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(port, this.opts.listenHost ?? '0.0.0.0', () => resolve());
    });
  }

  /** The port `/metrics` and the health routes listen on, or null without them. */
  get metricsListenPort(): number | null {
    const a = this.http?.address();
    return a && typeof a === 'object' ? a.port : null;
  }

  /** Connects to Redis, listens for gateways, and begins beating and following the assignment. */
  async start(): Promise<void> {
    await this.store.connect();
    this.port = await this.server.listen(this.opts.listenHost ?? '0.0.0.0', this.opts.port ?? 0);
    if (this.opts.metricsPort !== undefined) await this.serveHttp(this.opts.metricsPort);
    const other = await this.store.writeNode(this.record(), this.timing.heartbeatTtlMs).catch(async (err: Error) => {
      await this.closeListeners();
      throw err;
    });
    if (other) {
      await this.closeListeners();
      throw new Error(
        `a node named ${this.id} already beats in this cluster (at ${other.host}:${other.port}, started ${new Date(other.startedAt).toISOString()}); ` +
          `give this one another --id, or stop that one first`,
      );
    }
    this.lastBeat = Date.now();
    this.subscriber = this.store.subscriber(() => void this.reconcile());
    this.timers.push(setInterval(() => void this.beat(), this.timing.heartbeatEveryMs).unref());
    this.timers.push(setInterval(() => void this.reconcile(), this.timing.controlIntervalMs).unref());
    await this.reconcile();
  }

  /** The port gateways connect to. */
  get listenPort(): number {
    return this.port;
  }

  private record(): NodeRecord {
    const replicas = [...this.pools.values()].flatMap((p) =>
      p.stats().replicas.map(({ ongoing: _o, sessions: _s, node: _n, ...r }): ReplicaReport => ({ deployment: p.name, ...r })),
    );
    return {
      id: this.id,
      host: this.opts.advertiseHost ?? '127.0.0.1',
      port: this.port,
      cpus: this.opts.cpus,
      gpus: this.opts.gpus,
      instance: this.instance,
      startedAt: this.startedAt,
      beatAt: Date.now(),
      replicas,
      ...(this.failures.size > 0 ? { failures: Object.fromEntries(this.failures) } : {}),
    };
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      const other = await this.store.writeNode(this.record(), this.timing.heartbeatTtlMs);
      if (other === null) {
        this.lastBeat = Date.now();
        this.displacedBy = null;
      } else if (this.displacedBy !== other.instance) {
        // Its key lapsed (Redis was away) and a node given the same id took it: it serves that node's assignment now.
        this.displacedBy = other.instance;
        this.opts.log?.('warn', `another node named ${this.id} (at ${other.host}:${other.port}) holds this node's place in the cluster; give one of them another --id`);
      }
    } catch {
      // Redis unreachable: the replicas serve on; the beat resumes when it answers.
    }
  }

  /** Brings the local pools to the assignment (one pass at a time; a request during one runs another after it). */
  reconcile(): Promise<void> {
    if (this.reconciling) {
      this.again = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcileOnce();
        } catch {
          // Redis unreachable: try again at the next interval.
        }
      } while (this.again && !this.closed);
      this.reconciling = null;
    })();
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.closed) return;
    const [config, assignment] = await Promise.all([this.store.config<ServedConfig>(), this.store.assignment()]);
    if (!config || !assignment) return;
    await this.reachEvery(config);
    const userConfigs = await this.store.userConfigs(config.deployments.filter((d) => d.handler !== null).map((d) => d.name));
    for (const [name, text] of userConfigs) {
      const pool = this.pools.get(name);
      if (!pool || this.applied.get(name) === text) continue;
      this.applied.set(name, text);
      const failures = await pool.reconfigure((JSON.parse(text) as { userConfig: unknown }).userConfig);
      if (failures.length > 0) {
        const why = failures.map((f) => `${f.replica}: ${f.error}`).join('; ');
        this.failures.set(name, `reconfigure failed: ${why}`);
        this.opts.log?.('warn', `reconfigure of ${name} on node ${this.id} failed: ${why}`);
      }
    }
    let changed = false;
    for (const d of config.deployments) {
      const count = assignment.assignment[d.name]?.[this.id] ?? 0;
      const pool = this.pools.get(d.name);
      if (pool) {
        if (pool.targetReplicas !== count) {
          this.opts.log?.('info', `${d.name}: ${pool.targetReplicas} → ${count} replicas on node ${this.id} (placement v${assignment.version})`);
          pool.scaleTo(count);
          changed = true;
        }
      } else if (count > 0) {
        this.opts.log?.('info', `${d.name}: ${count} replica${count === 1 ? '' : 's'} placed on node ${this.id} (placement v${assignment.version})`);
        // A userConfig set since start goes to the replicas started now.
        const set = userConfigs.get(d.name);
        if (set !== undefined) this.applied.set(d.name, set);
        this.startPool(set === undefined ? d : { ...d, userConfig: (JSON.parse(set) as { userConfig: unknown }).userConfig }, count, config);
        changed = true;
      }
    }
    for (const [name, pool] of this.pools) {
      if (config.deployments.some((d) => d.name === name)) continue;
      this.pools.delete(name);
      void pool.stop();
      changed = true;
    }
    if (changed) await this.beat();
  }

  /** Remote pools for every deployment, so handle calls from this node's replicas reach them wherever they run. */
  private async reachEvery(config: ServedConfig): Promise<void> {
    if (!this.reach) {
      const reach = new ClusterGateway({ redisUrl: this.opts.redisUrl, id: `node-${this.id}`, timing: this.timing, controller: false, ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}) });
      await reach.connect(config.deployments);
      this.reach = reach;
    }
    for (const d of config.deployments) {
      if (this.reachPools.has(d.name)) continue;
      const pool = this.reach.pool(d);
      this.reachPools.set(d.name, pool);
      // It learns the model once a node has loaded it; calls wait for a replica meanwhile.
      pool.start().catch(() => {});
    }
  }

  private startPool(d: ResolvedDeployment, count: number, config: ServedConfig): void {
    // A node's replicas restart here; their deployment's decisions are the gateways'.
    this.metrics.countFromZero(d.name, false);
    const most = Math.max(count, Math.floor(this.opts.cpus / Math.max(d.resources.cpus, 1e-9)));
    const observer: PoolObserver = {
      answered: (deployment, batch, waits) => this.metrics.answered(deployment, batch, waits),
      replicaLost: (deployment, replicaId, cause, reason) => {
        this.metrics.replicaRestarts.inc({ deployment, reason: cause });
        this.opts.log?.('warn', `replica ${replicaId} of ${deployment} ${cause}: ${reason}`);
      },
    };
    // Handle calls from replicas' code reach every deployment of the cluster, on this node or another.
    const handles = handleCalls((name) => {
      const pool = this.reachPools.get(name);
      const cfg = config.deployments.find((x) => x.name === name);
      if (!pool || !cfg) return undefined;
      return {
        requestTimeoutMs: cfg.requestTimeoutMs,
        batching: pool.batching,
        servesInference: pool.servesInference,
        runsCode: pool.runsCode,
        metadata: pool.knownMetadata,
        modelIds: cfg.multiplex ? new Set(cfg.multiplex.modelIds) : null,
        infer: (inputs, rows, control) => pool.infer(inputs, rows, control),
        callRoute: (route, control) => pool.callRoute(route, control),
      };
    });
    const pool = new ReplicaPool({ ...d, numReplicas: count, autoscaling: null }, this.opts.hostFactory ?? defaultHostFactory, observer, this.resources, null, handles, { mostReplicas: most, id: this.id });
    this.pools.set(d.name, pool);
    this.server.poolStarted(pool);
    pool.reserveFirst();
    pool.start().then(
      async () => {
        this.failures.delete(d.name);
        const model = pool.loadedModel;
        if (model) await this.store.writeModel(d.name, model);
        await this.beat();
      },
      (err: Error) => {
        // The pool is stopped: the next pass starts it again.
        this.failures.set(d.name, err.message);
        if (this.pools.get(d.name) === pool) this.pools.delete(d.name);
        this.opts.log?.('warn', `deployment ${d.name} failed to start on node ${this.id}: ${err.message}`);
      },
    );
  }

  /** Leaves the cluster: the heartbeat key goes (the controller places the replicas elsewhere), the replicas drain and stop. */
  async stop(graceMs = 5000): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.subscriber?.disconnect();
    await this.store.removeNode(this.id, this.instance).catch(() => {});
    await Promise.all([...this.pools.values()].map((p) => p.stop(graceMs)));
    await Promise.all([...this.reachPools.values()].map((p) => p.stop(0)));
    await this.reach?.close();
    await this.closeListeners();
  }

  /** Stops listening for gateways and on the metrics port, and leaves Redis. */
  private async closeListeners(): Promise<void> {
    await this.server.close();
    await new Promise((resolve) => (this.http ? this.http.close(resolve) : resolve(undefined)));
    await this.store.close();
  }
}
