import type { ResolvedDeployment } from '../deployments/index.js';
import type { FerryMetrics, MetricSnapshot } from '../metrics/index.js';
import type { ServingPool } from '../replicas/index.js';
import type { IngressDeployment } from './ingress.js';
import type { IngressThreadSpec } from './ingress-protocol.js';
import { IngressThread } from './ingress-thread.js';
import type { GatewayJobs } from './job-routes.js';
import type { GatewayControl } from './control-routes.js';
import { assertPortFree } from './reuse-port.js';

/** What the gateway needs of a deployment beyond its pool. */
export type IngressRoute = Pick<
  ResolvedDeployment,
  'routePrefix' | 'version' | 'requestTimeoutMs' | 'maxOngoingRequests' | 'maxQueuedRequests' | 'routes' | 'websockets'
>;

/** One deployment as the threads serve it: its pool (which ServingPool.peerKey names to them) and its config. */
function ingressDeploymentOf(pool: ServingPool, route: IngressRoute): IngressDeployment {
  return {
    name: pool.name,
    key: pool.peerKey,
    ...route,
    metadata: pool.metadata,
    batching: pool.batching,
    counters: { buffer: pool.counters.buffer, slots: pool.counters.slots },
    routing: pool.routing,
    readiness: pool.readiness(),
    atZero: pool.targetReplicas === 0,
  };
}

/** Everything the ingress threads are given. */
export interface IngressThreadsOptions {
  count: number;
  pools: readonly ServingPool[];
  /** Per deployment, in the pools' order: what the gateway needs beyond the pool. */
  routes: readonly IngressRoute[];
  gateway: Omit<IngressThreadSpec, 'source' | 'deployments' | 'connections' | 'jobs' | 'control'>;
  /** Config updates and repository load/unload. */
  control?: GatewayControl;
  /** The control plane's own metrics, merged with every thread's at scrape time. */
  metrics: FerryMetrics;
  status(): unknown;
  /** What the status page polls (see IngressHost.dashboard). */
  dashboard(since: number): unknown;
  /** The job store, where asynchronous inference is served. */
  jobs?: GatewayJobs;
  /** Where the threads' log lines go. */
  log(line: string): void;
  /** A thread ended without being asked to. */
  lost(reason: string): void;
}

/**
 * The process's ingress threads, seen from the control plane: it starts
 * them, connects each to every pool (so each has its own channel to every
 * replica), has them listen on one port, answers their readiness and status
 * requests, merges their metrics, and closes them.
 */
export class IngressThreads {
  private readonly threads: IngressThread[] = [];
  private readonly accepted: Int32Array;
  /** The pools serving now, and those an update replaced or removed that have not stopped yet (still connected). */
  private pools: ServingPool[];
  private readonly draining = new Set<ServingPool>();

  constructor(private readonly opts: IngressThreadsOptions) {
    this.pools = [...opts.pools];
    const deployments = opts.pools.map((pool, i) => ingressDeploymentOf(pool, opts.routes[i]));
    this.accepted = new Int32Array(new SharedArrayBuffer(4 * opts.count));
    const connections = this.accepted.buffer as SharedArrayBuffer;
    for (let source = 1; source <= opts.count; source++) {
      const thread = new IngressThread(
        { source, deployments, connections, ...opts.gateway, jobs: opts.jobs !== undefined, control: opts.control !== undefined },
        {
          demand: (name) => this.pools.find((p) => p.name === name)?.demand(),
          status: () => opts.status(),
          dashboard: (since) => opts.dashboard(since),
          metrics: () => this.metrics(),
          readiness: () => Object.fromEntries(this.pools.map((p) => [p.name, p.readiness()])),
          log: (line) => opts.log(line),
          ...(opts.jobs ? { jobs: opts.jobs } : {}),
          ...(opts.control ? { control: opts.control } : {}),
          lost: (t, reason) => {
            for (const p of [...this.pools, ...this.draining]) p.disconnect(t);
            opts.lost(reason);
          },
        },
      );
      this.threads.push(thread);
      for (const p of opts.pools) p.connect(thread);
    }
  }

  /**
   * Serves a config update's deployments (every one, in order, with its pool
   * and config): each thread takes the list first, so it has a router for
   * every new pool before that pool announces a replica to it. Pools left
   * out stay connected, draining, until {@link forget}.
   */
  async update(pools: readonly ServingPool[], routes: readonly IngressRoute[]): Promise<void> {
    const fresh = pools.filter((p) => !this.pools.includes(p));
    for (const p of this.pools) if (!pools.includes(p)) this.draining.add(p);
    this.pools = [...pools];
    const deployments = pools.map((pool, i) => ingressDeploymentOf(pool, routes[i]));
    await Promise.all(this.threads.map((t) => t.update(deployments)));
    for (const t of this.threads) for (const p of fresh) p.connect(t);
  }

  /** A pool an update replaced or removed has stopped: the threads drop its router, and it their channels. */
  forget(pool: ServingPool): void {
    this.draining.delete(pool);
    for (const t of this.threads) {
      t.forget(pool.peerKey);
      pool.disconnect(t);
    }
  }

  /** Connections each thread has accepted since it started, in thread order. */
  connections(): number[] {
    return Array.from(this.accepted, (_, i) => Atomics.load(this.accepted, i));
  }

  /**
   * Listens: the first thread binds (port 0 picks one), the others join it on
   * that port. Fails, as one gateway would, if anything listens there already.
   * Resolves with the address.
   */
  async listen(host: string, port: number): Promise<string> {
    await assertPortFree(host, port);
    const url = await this.threads[0].listen(host, port);
    const bound = Number(new URL(url).port);
    await Promise.all(this.threads.slice(1).map((t) => t.listen(host, bound)));
    return url;
  }

  /** Every thread's metrics merged with the control plane's: one process. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    return this.opts.metrics.exposeWith(await this.snapshots());
  }

  /** Every thread's own figures (requests, the batches its answers carried). */
  snapshots(): Promise<MetricSnapshot[]> {
    return Promise.all(this.threads.map((t) => t.collect()));
  }

  /** Closes every thread (each lets its requests finish for up to `graceMs`, then answers the rest 503). */
  async close(graceMs: number): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close(graceMs)));
    for (const t of this.threads) for (const p of [...this.pools, ...this.draining]) p.disconnect(t);
  }
}
