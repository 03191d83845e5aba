import { createHash, randomBytes } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Writable } from 'node:stream';
import pino from 'pino';
import { describeChanges, notPlainJson, type ResolvedConfig, type ResolvedDeployment, type ValidateOptions } from './deployments/index.js';
import { LiveDeployments, type LiveDeployment, type UpdateOrigin, type UpdateRecord } from './live-deployments.js';
import {
  buildAdminGateway,
  buildGateway,
  cutWhatIsLeft,
  deploymentHandle,
  handleCalls,
  IngressThreads,
  type GatewayControl,
  reusePortUnavailable,
  type HandleCall,
  type ShutdownState,
} from './gateway/index.js';
import {
  defaultHostFactory,
  ModelCannotBatchError,
  NodeResources,
  ReplicaPool,
  routerFallbackMessage,
  type DeploymentHandle,
  type PoolObserver,
  type HostFactory,
  type PoolStats,
  type ServingPool,
} from './replicas/index.js';
import { BodyInvalidError, ConfigInvalidError, ModelNotFoundError, NotServedError } from './errors.js';
import { VERSION } from './version.js';
import { FerryMetrics } from './metrics/index.js';
import { StatusPage } from './dashboard/index.js';
import { AutoscalerController, type DecisionRecord, type ResolvedAutoscaling } from './autoscaler/index.js';
import type { ClusterGateway, ClusterStatus } from './cluster/cluster-gateway.js';
import { runJobOver } from './jobs/job-runner.js';
import { RequestTracer } from './gateway/tracing.js';
import type { JobStore } from './jobs/job-types.js';
import { MemoryJobStore } from './jobs/memory-jobs.js';
import type { GatewayJobs } from './gateway/job-routes.js';

/** Options for {@link FerryServer.start}. */
export interface FerryServerOptions {
  /** Creates replica hosts. @default threads or processes per deployment */
  hostFactory?: HostFactory;
  /** Fastify's logger option. @default false */
  logger?: FastifyServerOptions['logger'];
  /** How configs given while serving (`PUT /-/config`, repository loads) are validated, as the first was. @default no device check */
  validate?: ValidateOptions;
  /** Overrides `http.host` / `http.port` of the config (the CLI's flags). */
  listen?: { host?: string; port?: number };
  /**
   * Serve as a cluster gateway: replicas run on `ferry node`s, found and
   * placed through Redis (see ClusterGateway). @default replicas in this process
   */
  cluster?: ClusterGateway;
  /** Told as each replica begins to start and is ready (`ferry serve` shows it as it happens). @default nothing */
  progress?: (event: StartProgress) => void;
  /** Milliseconds between the status page's samples (`/-/dashboard`). @default 2000 */
  statusPageIntervalMs?: number;
  /**
   * Abandons the start: a cluster gateway stops waiting for nodes to load
   * its models, and start() rejects (after cleaning up). Replicas loading
   * on this machine are not cut short. @default never
   */
  signal?: AbortSignal;
}

/** One step of a replica's start, as `ferry serve` shows it: begun, or ready after `ms`. */
export type StartProgress = { deployment: string; replica: string; phase: 'starting' } | { deployment: string; replica: string; phase: 'ready'; ms: number };

/** How requests come in: the gateways serving, and why fewer than asked when the runtime cannot share a port. */
export interface IngressInfo {
  /** Gateways serving: worker threads sharing the port, or 1 in the main thread. */
  threads: number;
  /** What `http.ingressThreads` asked for. */
  requested: number;
  /** True when the gateways run in worker threads with reusePort. */
  reusePort: boolean;
  /** Why fewer than requested serve, or ''. */
  note: string;
}

/** How requests come in, live: {@link IngressInfo} and the connections each gateway has accepted. */
export interface IngressStatus extends IngressInfo {
  /** Connections accepted since start, per gateway (the kernel spreads them over threads sharing the port). */
  connections: number[];
}

/** What `GET /-/status` and `ferry status` show. */
export interface FerryStatus {
  version: string;
  ingress: IngressStatus;
  /** This machine's resources and what replicas reserve of them; absent on a cluster gateway, whose replicas run on nodes (see `cluster.nodes`). */
  node?: { cpus: number; gpus: number; usedCpus: number; usedGpus: number };
  deployments: (PoolStats & {
    autoscaling: ResolvedAutoscaling | null;
    resources: { cpus: number; gpus: number };
    decisions: { latest: DecisionRecord | null; changes: DecisionRecord[] } | null;
  })[];
  /** Config updates, oldest first (the last 50): where each came from, what it changed, how it ended and why. */
  updates: UpdateRecord[];
  /** A cluster gateway's view of the cluster (nodes, their replicas, the controller); absent on one machine. */
  cluster?: ClusterStatus;
}

/** Bytes a JSON number takes at most, about: `-1.2345678e-12,`. */
const JSON_BYTES_PER_ELEMENT = 24;

/** Bytes in the largest tensor `maxTensorElements` allows, as float32 binary data. */
const FLOAT32_BYTES = 4;

/** The body limit in force and why it was chosen, as the banner says it. */
export interface BodyLimit {
  bytes: number;
  reason: string;
}

/**
 * The default body limit. For fixed shapes: the largest request any
 * deployment takes as JSON (a full batch where it batches), at least 1 MiB.
 * A model with dynamic dimensions beyond the batch (images of any size,
 * sequences of any length) has no largest request, so its limit is the
 * largest tensor `maxTensorElements` allows, in float32 binary
 * (16,777,216 elements: 64 MiB; a 224×224 RGB image as JSON is ~3 MB).
 */
function defaultBodyLimit(pools: readonly ServingPool[], config: ResolvedConfig): BodyLimit {
  let limit: BodyLimit = { bytes: 1024 * 1024, reason: 'the default' };
  pools.forEach((pool, i) => {
    const from = pool.batching ? 1 : 0;
    const specs = pool.metadata.inputs;
    // BYTES elements have no largest size either.
    const dynamic = specs.find((s) => s.dtype === 'string' || s.shape.slice(from).some((d) => d < 0));
    const bytes = dynamic
      ? config.http.maxTensorElements * FLOAT32_BYTES
      : specs.reduce((n, s) => n + s.shape.slice(from).reduce((a, d) => a * d, 1), 0) *
        (pool.batching ? config.deployments[i].batching.maxBatchSize : 1) *
        JSON_BYTES_PER_ELEMENT;
    if (bytes > limit.bytes) {
      const why = dynamic
        ? `input '${dynamic.name}' of ${pool.name} ${dynamic.dtype === 'string' ? 'takes BYTES' : 'has dynamic dimensions'}: the largest tensor http.maxTensorElements allows, as float32`
        : `the largest JSON request of ${pool.name}`;
      limit = { bytes, reason: why };
    }
  });
  return limit;
}

/** Start failures that are config errors (batching a model that cannot batch), all in one error. */
function configProblemsOf(started: PromiseSettledResult<void>[], config: ResolvedConfig): Error | null {
  const problems: string[] = [];
  started.forEach((s, i) => {
    if (s.status === 'rejected' && s.reason instanceof ModelCannotBatchError) {
      problems.push(
        `  - deployments[${i}].batching: ${config.deployments[i].name}'s model cannot batch along dimension 0 (${s.reason.reason}); ` +
          `leave batching out to serve each request alone, or set batching: false`,
      );
    }
  });
  return problems.length > 0 ? new ConfigInvalidError(config.source, problems.join('\n')) : null;
}

/** How long open keep-alive connections are kept at shutdown, so requests on the wire get 503 rather than a reset. */
const SHUTDOWN_LINGER_MS = 500;

/**
 * One Ferry: every deployment's replica pool behind one Fastify gateway,
 * in this process. Start with {@link FerryServer.start}, stop with `close()`.
 */
export class FerryServer {
  private closing: Promise<void> | null = null;

  private constructor(
    /** The main thread's Fastify app (for `inject()` in tests); null when the gateways run in ingress threads. */
    readonly app: FastifyInstance | null,
    /** The deployments serving, which config updates change. */
    private readonly live: LiveDeployments,
    /** The address it listens on, e.g. `http://127.0.0.1:8000`. */
    readonly url: string,
    private readonly controller: AutoscalerController,
    /** What `GET /-/status` answers. */
    readonly status: () => FerryStatus,
    /** The largest request body (and WebSocket message) accepted, and why that size. */
    readonly bodyLimit: BodyLimit,
    /** Shared with the gateway: set when close() begins. */
    private readonly shutdown: ShutdownState,
    /** How long close() lets calls finish by default (the config's shutdownGraceMs). */
    private readonly graceMs: number,
    /** The gateways in worker threads, or null when one serves in this thread. */
    private readonly threads: IngressThreads | null,
    /** How requests come in (see {@link IngressInfo}). */
    readonly ingress: IngressInfo,
    private readonly call: HandleCall,
    /** The cluster this gateway serves, or null on one machine. */
    readonly cluster: ClusterGateway | null = null,
    /** Stops taking asynchronous jobs, lets those running finish within the grace, then gives up the rest (in a cluster another gateway runs them again). */
    private readonly stopJobs: (graceMs: number) => Promise<void> = async () => {},
    /** The admin listener (`admin` in the config) and its address, or null. */
    private readonly admin: { app: FastifyInstance; url: string } | null = null,
    /** Sends the control plane's last spans (handle calls'). */
    private readonly flushSpans: () => Promise<void> = async () => {},
    /** Samples what `/-/dashboard` charts; stopped at close. */
    private readonly statusPage: StatusPage | null = null,
  ) {}

  /** Replica pools by deployment name, as they serve now. */
  get pools(): ReadonlyMap<string, ServingPool> {
    return new Map(this.live.entries().map((e) => [e.config.name, e.pool]));
  }

  /** The config serving now (an update replaces it; deployments unloaded through the repository left out). */
  get config(): ResolvedConfig {
    return this.live.config;
  }

  /**
   * Applies a new config without dropping a request (Ray Serve's in-place
   * update): settings that need no new replica change in place; a new
   * model file, host kind, handler or other setting starts new replicas,
   * moves traffic to them once all are ready, then drains the old ones;
   * removed deployments drain, then stop. `load` gives the config (a file
   * read again); it runs in turn, after updates before it. Resolves once
   * old replicas have stopped, with the update's record (also in status).
   * Rejects, the config serving before going on, with
   * ConfigUpdateInvalidError (400) for an invalid config, ConfigRefusedError
   * (409) for one that changes what is fixed at start (http, node, admin,
   * auth, tracing, asyncInference, a deployment's routes), ReplicaStartError
   * (503) when new replicas fail to start.
   */
  update(load: ResolvedConfig | (() => Promise<ResolvedConfig>), origin: UpdateOrigin = 'api'): Promise<UpdateRecord> {
    return this.live.apply(typeof load === 'function' ? load : async () => load, origin);
  }

  /** Applies a config given as JSON (what `PUT /-/config` takes), resolved against the config file's folder; see {@link update}. */
  updateJson(raw: unknown): Promise<UpdateRecord> {
    return this.live.applyJson(raw);
  }

  /** Config updates so far, oldest first (the last 50). */
  updates(): UpdateRecord[] {
    return this.live.history();
  }

  /** Where the admin routes listen (`admin` in the config), e.g. `http://127.0.0.1:8001`; null when they share the inference listener. */
  get adminUrl(): string | null {
    return this.admin?.url ?? null;
  }

  /**
   * A handle to a deployment, as Ray Serve's `serve.run` returns one: calls
   * go through its router, queue and batcher, with its backpressure and
   * timeout, without HTTP (see DeploymentHandle).
   */
  handle(deployment: string): DeploymentHandle {
    return deploymentHandle(deployment, this.call);
  }

  /**
   * Gives a code deployment's live replicas a new `userConfig` through their
   * handler's `reconfigure`, without a restart (Ray Serve's rule when only
   * user_config changes); replicas started later get it too. Resolves with
   * what each handler threw, by replica id (empty when all took it). Throws
   * ModelNotFoundError for an unknown deployment, NotServedError (404) for a
   * deployment that runs no code (a model alone reads no userConfig),
   * BodyInvalidError for a userConfig that is not plain JSON.
   */
  async reconfigure(deployment: string, userConfig: unknown): Promise<{ replica: string; error: string }[]> {
    const pool = this.pools.get(deployment);
    if (!pool) throw new ModelNotFoundError(deployment);
    if (!pool.runsCode) throw new NotServedError(`deployment '${deployment}' runs no handler, so it has no userConfig to reconfigure`);
    const why = notPlainJson(userConfig);
    if (why) throw new BodyInvalidError(`userConfig must be plain JSON: ${why}`);
    return pool.reconfigure(userConfig);
  }

  /** Starts every deployment's replicas, then listens. Fails (and cleans up) if any replica cannot load. */
  static async start(config: ResolvedConfig, opts: FerryServerOptions = {}): Promise<FerryServer> {
    const metrics = new FerryMetrics();
    // The gateway's logger exists once the app is built; losses before that (a failed first start) end the start anyway.
    let log: FastifyBaseLogger | null = null;
    const progress = opts.progress;
    const observer: PoolObserver = {
      answered: metrics.answered.bind(metrics),
      ...(progress
        ? {
            replicaStarting: (deployment, replica) => progress({ deployment, replica, phase: 'starting' }),
            replicaStarted: (deployment, replica, ms) => progress({ deployment, replica, phase: 'ready', ms }),
          }
        : {}),
      routerFallback: (deployment, reason) => log?.warn({ deployment }, routerFallbackMessage(deployment, reason)),
      replicaLost: (deployment, replicaId, cause, reason) => {
        metrics.replicaRestarts.inc({ deployment, reason: cause });
        const what =
          cause === 'crashed' ? 'crashed' : cause === 'hung' ? 'hung and was killed' : cause === 'unhealthy' ? 'failed its health check and was killed' : 'failed to start';
        // A start that failed is tried again after its back-off (the reason says when); a crash or a hang is replaced now.
        const next = cause === 'start_failed' ? '' : '; replacing it';
        log?.warn({ deployment, replica: replicaId, cause }, `replica ${replicaId} ${what}: ${reason}${next}`);
      },
    };
    const node = new NodeResources(config.node.cpus, config.node.gpus);
    // Handle calls from replicas' code (and embedders') run through the target pool's own router.
    let live: LiveDeployments | null = null;
    // Handle calls get spans of their own in the trace their request began (the gateways' tracers cover the requests).
    const handleTracer = config.tracing ? new RequestTracer(config.tracing) : null;
    const call = handleCalls((name) => {
      const found = live?.get(name);
      if (!found) return undefined;
      const { pool, config: d } = found;
      return {
        requestTimeoutMs: d.requestTimeoutMs,
        modelIds: d.multiplex ? new Set(d.multiplex.modelIds) : null,
        batching: pool.batching,
        servesInference: pool.servesInference,
        runsCode: pool.runsCode,
        metadata: pool.knownMetadata,
        infer: (inputs, rows, control) => pool.infer(inputs, rows, control),
        callRoute: (route, control) => pool.callRoute(route, control),
      };
    }, handleTracer);
    const cluster = opts.cluster;
    if (cluster) await cluster.connect(config.deployments);
    const onFinished = (deployment: string, outcome: string) => metrics.asyncJobs.inc({ deployment, outcome });
    const jobs: JobStore = cluster ? cluster.jobStore(config.asyncInference, onFinished) : new MemoryJobStore({ ...config.asyncInference, onFinished });
    metrics.readJobsFrom(() => jobs.counts());
    const gatewayJobs: GatewayJobs = { submit: (r) => jobs.submit(r), get: (id) => jobs.get(id), cancel: (id) => jobs.cancel(id) };
    const running = new AbortController();
    const shutdown: ShutdownState = { active: false, lingerMs: SHUTDOWN_LINGER_MS };
    const makePool = (d: ResolvedDeployment, i: number): ServingPool =>
      cluster ? cluster.pool(d, observer) : new ReplicaPool(d, opts.hostFactory ?? defaultHostFactory, observer, node, i, call);
    const pools: ServingPool[] = config.deployments.map(makePool);
    // Set once the gateways and the autoscaler exist; an update waits for start to end.
    let settle: (serving: readonly LiveDeployment[]) => Promise<void> = async () => {};
    let stopped: (pool: ServingPool) => void = () => {};
    let logUpdate: (r: UpdateRecord) => void = () => {};
    live = new LiveDeployments(config, pools, {
      makePool,
      shutdown,
      validate: opts.validate ?? {},
      graceMs: () => config.shutdownGraceMs,
      onServing: (serving) => settle(serving),
      onStopped: (pool) => stopped(pool),
      onRecord: (r) => logUpdate(r),
      lend: (r) => node.lend(r),
      refusal: cluster ? 'a cluster gateway serves the config its cluster shares in Redis: restart the gateways with the new config to change it' : null,
    });
    const deployments = live;
    metrics.readFrom(() =>
      deployments.entries().map(({ pool: p, config: d }) => {
        const s = p.stats();
        const replicas: Record<string, number> = {};
        for (const r of s.replicas) replicas[r.state] = (replicas[r.state] ?? 0) + 1;
        replicas.pending = s.pending;
        const adaptive = p.adaptiveBatching
          ? s.replicas.map((r) => ({ replica: r.id, windowMs: r.batchWindowMs, fixedMs: r.batchCostMs.fixed, perRowMs: r.batchCostMs.perRow }))
          : [];
        const totals = p.multiplexTotals;
        const multiplex = totals && { ...totals, held: s.replicas.map((r) => ({ replica: r.id, models: r.models.length })) };
        const autoscaling = d.autoscaling && { minReplicas: d.autoscaling.minReplicas, maxReplicas: d.autoscaling.maxReplicas };
        return { deployment: p.name, queueDepth: s.queueDepth, ongoing: s.ongoing, replicas, adaptive, multiplex, queueCapacity: d.maxQueuedRequests, ...(autoscaling ? { autoscaling } : {}) };
      }),
    );
    // Every first replica is reserved before any pool starts its others: validation
    // checked that the first replicas fit together, not in whatever order pools start.
    for (const p of pools) p.reserveFirst();
    const abandon = () => {
      if (cluster) for (const p of pools) void p.stop(0);
    };
    opts.signal?.addEventListener('abort', abandon, { once: true });
    if (opts.signal?.aborted) abandon();
    const started = await Promise.allSettled(pools.map((p) => p.start()));
    opts.signal?.removeEventListener('abort', abandon);
    const failed = started.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) {
      await Promise.all(pools.map((p) => p.stop(0)));
      await jobs.close();
      await cluster?.close();
      await handleTracer?.shutdown();
      throw configProblemsOf(started, config) ?? failed.reason;
    }
    const bodyLimit: BodyLimit =
      config.http.bodyLimitBytes === null ? defaultBodyLimit(pools, config) : { bytes: config.http.bodyLimitBytes, reason: 'http.bodyLimitBytes' };
    const requested = config.http.ingressThreads;
    const unavailable = requested > 1 ? reusePortUnavailable() : null;
    const ingress: IngressInfo = {
      threads: requested > 1 && !unavailable ? requested : 1,
      requested,
      reusePort: requested > 1 && !unavailable,
      note: unavailable ? `http.ingressThreads is ${requested}, but ${unavailable}: one gateway serves, in the main thread` : '',
    };
    // Jobs run as requests to this gateway: with API keys, over a key of this process's own, made now and never shown.
    const jobKey = config.auth ? randomBytes(32).toString('hex') : undefined;
    const auth = config.auth && jobKey ? { ...config.auth, keys: [...config.auth.keys, { name: 'ferry-async-jobs', sha256: createHash('sha256').update(jobKey).digest('hex'), admin: false, infer: '*' as const }] } : null;
    let app: FastifyInstance | null = null;
    const accepted = [0];
    let threads: IngressThreads | null = null;
    // What the main thread's gateway and the admin listener serve: each deployment, read from its pool (an update rebinds it).
    const targets = deployments.targets;
    const control: GatewayControl = {
      applyConfig: (raw) => deployments.applyJson(raw),
      config: async () => deployments.given(),
      index: async () => deployments.index(),
      load: (name, text) => deployments.load(name, text),
      unload: (name) => deployments.unload(name),
    };
    let admin: { app: FastifyInstance; url: string } | null = null;
    if (ingress.reusePort) {
      const logging = controlLogging(opts.logger);
      log = logging.logger;
      threads = new IngressThreads({
        count: ingress.threads,
        pools,
        routes: config.deployments,
        gateway: {
          bodyLimitBytes: bodyLimit.bytes,
          maxTensorElements: config.http.maxTensorElements,
          receiveTimeoutMs: config.http.receiveTimeoutMs,
          requestLog: config.http.requestLog,
          auth,
          gateways: ingress.threads,
          tracing: config.tracing,
          adminRoutes: config.admin === null,
          server: { name: 'ferry', version: VERSION },
          logLevel: logging.level,
          lingerMs: SHUTDOWN_LINGER_MS,
        },
        metrics,
        status: () => status(),
        dashboard: (since) => statusPage.data(since),
        jobs: gatewayJobs,
        control,
        log: logging.write,
        lost: (reason) => log?.error(`${reason}; the other ingress threads go on serving`),
      });
    } else {
      app = buildGateway({
        targets,
        bodyLimitBytes: bodyLimit.bytes,
        maxTensorElements: config.http.maxTensorElements,
        receiveTimeoutMs: config.http.receiveTimeoutMs,
        requestLog: config.http.requestLog,
        auth,
        tracing: config.tracing,
        adminRoutes: config.admin === null,
        logger: opts.logger,
        server: { name: 'ferry', version: VERSION },
        metrics,
        status: () => status(),
        dashboard: (since) => statusPage.data(since),
        jobs: gatewayJobs,
        control,
        shutdown,
      });
      log = app.log;
      app.server.on('connection', () => accepted[0]++);
    }
    if (ingress.note) log.warn(ingress.note);
    const logger = log;
    const scaled = config.deployments.flatMap((d, i) => (d.autoscaling ? [{ target: pools[i], config: d.autoscaling }] : []));
    const controller = new AutoscalerController(scaled, {
      onChange: (r) => {
        metrics.decisions.inc({ deployment: r.deployment, direction: r.direction });
        logger.info({ decision: r }, `autoscaler: ${r.deployment} ${r.from} → ${r.to}: ${r.reason}`);
      },
      onTick: (r) => metrics.desiredReplicas.set({ deployment: r.deployment }, r.to),
    });
    // Each deployment served, at start and after each update: its event counters from 0, and its fixed target where it does not autoscale.
    const countFor = (d: ResolvedDeployment) => {
      metrics.countFromZero(d.name, d.autoscaling !== null);
      if (!d.autoscaling) metrics.desiredReplicas.set({ deployment: d.name }, d.numReplicas);
    };
    config.deployments.forEach(countFor);
    let described = new Set(config.deployments.map((d) => d.name));
    const status = (): FerryStatus => ({
      version: VERSION,
      ingress: { ...ingress, connections: threads ? threads.connections() : [...accepted] },
      ...(cluster ? {} : { node: node.usage() }),
      deployments: deployments.entries().map(({ config: d, pool }) => {
        const s = pool.stats();
        return { ...s, autoscaling: d.autoscaling, resources: d.resources, decisions: controller.report(d.name) };
      }),
      updates: deployments.history(),
      ...(cluster ? { cluster: cluster.status() } : {}),
    });
    const statusPage = new StatusPage(
      { status, metrics: async () => metrics.traffic(threads ? await threads.snapshots() : []) },
      opts.statusPageIntervalMs,
    );
    settle = async (serving) => {
      for (const { config: d, pool } of serving) {
        controller.track(pool, d.autoscaling);
        countFor(d);
      }
      const names = new Set(serving.map((s) => s.config.name));
      for (const name of described) if (!names.has(name)) metrics.desiredReplicas.remove({ deployment: name });
      described = names;
      await threads?.update(
        serving.map((s) => s.pool),
        serving.map((s) => s.config),
      );
    };
    stopped = (pool) => threads?.forget(pool);
    logUpdate = (r) => {
      const what = describeChanges(r.changes) || 'nothing changed';
      if (r.result === 'applied') logger.info({ update: r }, `config update (${r.origin}) applied in ${r.durationMs} ms: ${what}${r.reason ? `; ${r.reason}` : ''}`);
      else logger.warn({ update: r }, `config update (${r.origin}) ${r.result}, the config serving before goes on: ${r.reason}`);
    };
    try {
      const host = opts.listen?.host ?? config.http.host;
      const port = opts.listen?.port ?? config.http.port;
      const url = threads ? await threads.listen(host, port) : await app!.listen({ host, port });
      if (config.admin) {
        const adminApp = buildAdminGateway({
          targets,
          metrics,
          status: () => status(),
          dashboard: (since) => statusPage.data(since),
          auth,
          logger: opts.logger,
          control,
        });
        admin = { app: adminApp, url: await adminApp.listen({ host: config.admin.host, port: config.admin.port }) };
      }
      controller.start();
      statusPage.start();
      // Jobs run as requests to this gateway, over loopback when it listens on every interface.
      const own = new URL(url);
      if (own.hostname === '0.0.0.0' || own.hostname === '[::]') own.hostname = '127.0.0.1';
      jobs.work((r) => runJobOver(own.origin, r, running.signal, jobKey), config.asyncInference.concurrency);
      return new FerryServer(
        app,
        deployments,
        url,
        controller,
        status,
        bodyLimit,
        shutdown,
        config.shutdownGraceMs,
        threads,
        ingress,
        call,
        cluster ?? null,
        async (graceMs) => {
          await jobs.close(graceMs);
          running.abort();
        },
        admin,
        async () => handleTracer?.shutdown(),
        statusPage,
      );
    } catch (err) {
      await admin?.app.close();
      await app?.close();
      await threads?.close(0);
      await Promise.all(pools.map((p) => p.stop(0)));
      await jobs.close();
      await cluster?.close();
      await handleTracer?.shutdown();
      throw err;
    }
  }

  /** Counters of every pool. */
  stats(): PoolStats[] {
    return [...this.pools.values()].map((p) => p.stats());
  }

  /**
   * Stops taking connections, lets in-flight requests finish, then stops
   * every replica. Safe to call more than once.
   */
  close(graceMs: number = this.graceMs): Promise<void> {
    this.closing ??= (async () => {
      this.shutdown.active = true;
      this.shutdown.lingerMs = Math.min(SHUTDOWN_LINGER_MS, graceMs);
      this.controller.stop();
      this.statusPage?.stop();
      const deadline = performance.now() + graceMs;
      // Jobs running here are requests to this gateway: they finish (or are let go) while it still serves.
      await this.stopJobs(graceMs);
      // Requests admitted before the shutdown (a body still arriving, a call
      // queued for a replica still starting) are served: the pools keep taking
      // their calls until every gateway has answered each one, or the grace ends.
      if (this.threads) await this.threads.close(graceMs);
      const gatewayClosed = this.app?.close() ?? Promise.resolve();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gatewayClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      // What is left past the grace is answered 503, so the gateway's open requests and streams end now.
      const left = Math.max(0, deadline - performance.now());
      await Promise.all([...this.pools.values()].map((p) => p.stop(left)));
      await this.cluster?.close();
      if (this.app) await cutWhatIsLeft(this.app, gatewayClosed);
      await this.admin?.app.close();
      await this.flushSpans();
    })();
    return this.closing;
  }
}

/**
 * The control plane's logger when the gateways run in threads (none in this
 * thread to borrow one from), from the same logger option; the threads'
 * lines go where it writes.
 */
function controlLogging(option: FastifyServerOptions['logger']): { logger: FastifyBaseLogger; level: string | false; write(line: string): void } {
  if (!option) return { logger: pino({ enabled: false }), level: false, write: () => {} };
  const { stream, ...rest } = (option === true ? {} : option) as { stream?: Writable; level?: string };
  const out = stream ?? process.stdout;
  return { logger: pino(rest, out), level: rest.level ?? 'info', write: (line) => void out.write(line) };
}
