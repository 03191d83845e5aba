import { RESTART_BACKOFF_MS } from '../constants.js';
import { initialOf, type ResolvedDeployment } from '../deployments/index.js';
import type { DeploymentCounters } from './deployment-counters.js';
import type { DeploymentModel } from './deployment-model.js';
import type { HeldModels } from './held-models.js';
import { UNBUDGETED, type NodeResources, type Lease } from './node-resources.js';
import { ReplicaStartFailedError } from './pool-errors.js';
import { NO_HANDLES, Replica, type HandleCalls, type LifecycleObserver, type ReplicaLossCause } from './replica.js';
import type { HostFactory } from './replica-host.js';

/** What a replica set tells the pool, which connects replicas to the ingresses. */
export interface ReplicaSetEvents {
  /** A replica became ready: the ingresses may send it calls. */
  ready(replica: Replica): void;
  /**
   * A replica left the set: stopped after its calls were answered, or dead
   * (`reason` says why; the ingresses retry what it held). The pool gives
   * its slot back with releaseSlot() once no ingress reads it.
   */
  gone(replica: Replica, reason: string): void;
  /** A start failed while no replica runs: calls waiting for one will not get it soon. */
  noReplica(err: Error): void;
}

/**
 * The pause before starting again after `failedStarts` failed starts in a
 * row: RESTART_BACKOFF_MS (FERRY_RESTART_BACKOFF_MS, 250 ms) after the first,
 * doubling with each further failure, at most 30 s.
 */
export function restartBackoffMs(failedStarts: number): number {
  return Math.min(30_000, RESTART_BACKOFF_MS * 2 ** Math.max(0, failedStarts - 1));
}

/** The replica that reads a scale-to-zero deployment's metadata at start, outside the node's budget. */
const isProbe = (r: Replica): boolean => r.lease === UNBUDGETED;

/** Everything a replica set is given. */
export interface ReplicaSetOptions {
  config: ResolvedDeployment;
  hostFactory: HostFactory;
  resources: NodeResources;
  model: DeploymentModel;
  counters: DeploymentCounters;
  events: ReplicaSetEvents;
  observer?: LifecycleObserver;
  /** Where the deployment sits in the config's `deployments`, so messages name the setting to change. */
  configIndex: number | null;
  /** Runs the handle calls of a code deployment's replicas. @default each fails (NO_HANDLES) */
  handles?: HandleCalls;
  /** A multiplexed deployment's table of the models each replica holds. */
  held?: HeldModels | null;
  /** What each replica's number is prefixed with after `#` (a cluster node's name), so ids are unique in a cluster. @default '' */
  replicaIdPrefix?: string;
}

/**
 * A deployment's replicas and their lifecycle, in one place: start, scale,
 * drain, replace after a death, back-off after a failed start, and the
 * node reservations. Each replica holds a lease on its share of the node and
 * gives it back exactly once, whatever path ends it. The calls themselves
 * (queue, routing, retry) belong to the pool.
 */
export class ReplicaSet {
  /** Every replica, starting, ready or stopping; the pool routes over the ready ones. */
  readonly replicas: Replica[] = [];
  /** The number in the last replica id given (`mlp#3`: 3). */
  seq = 0;
  private readonly freeSlots: number[];
  private closed = false;
  private target = 0;
  private pendingCount = 0;
  private refillTimer: NodeJS.Timeout | null = null;
  /** The first replica's reservation, taken by reserveFirst() before any pool starts; the next replica to start takes it over. */
  private firstLease: Lease | null = null;
  private readonly stopListening: () => void;
  /** Replacements started after a death. */
  restarts = 0;
  /** Failed starts since the last one that worked; the back-off doubles with each. */
  failedStarts = 0;
  /** Why the last start failed. */
  lastStartError = '';
  /** The handler's userConfig for replicas started from now on (reconfigure() changes it). */
  private userConfig: unknown;

  constructor(private readonly opts: ReplicaSetOptions) {
    this.userConfig = opts.config.userConfig;
    this.freeSlots = Array.from({ length: opts.counters.slots }, (_, i) => i);
    this.stopListening = opts.resources.onRelease(() => {
      if (this.pendingCount > 0 && !this.closed) this.refill();
    });
  }

  private get name(): string {
    return this.opts.config.name;
  }

  /** Replicas the set is meant to have. */
  get targetReplicas(): number {
    return this.target;
  }

  /** Replicas wanted that fit on no node yet. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Replicas starting or ready: what counts toward the target (the metadata probe does not). */
  active(): number {
    let n = 0;
    for (const r of this.replicas) if ((r.state === 'starting' || r.state === 'ready') && !isProbe(r)) n++;
    return n;
  }

  /** Replicas in a given state. */
  count(state: Replica['state']): number {
    let n = 0;
    for (const r of this.replicas) if (r.state === state) n++;
    return n;
  }

  /** Calls held by replicas (in mailboxes or running). */
  get ongoing(): number {
    return this.replicas.reduce((n, r) => n + r.ongoing, 0);
  }

  /**
   * Reserves the first replica's share of the node now, for start() to use.
   * Validation guarantees that every deployment's first replica fits
   * together, but only if each reserves it before any reserves more: the
   * server calls this for every pool before it starts any. False (nothing
   * held) if it does not fit; start() then tries again itself. A deployment
   * that starts at zero reserves nothing: its metadata probe runs outside the
   * node's budget.
   */
  reserveFirst(): boolean {
    if (initialOf(this.opts.config) === 0) return true;
    this.firstLease ??= this.closed ? null : this.opts.resources.lease(this.opts.config.resources);
    return this.firstLease !== null;
  }

  /** A reservation for the next replica: the one reserveFirst() holds, else a new one if it fits. */
  private takeLease(): Lease | null {
    const lease = this.firstLease ?? this.opts.resources.lease(this.opts.config.resources);
    this.firstLease = null;
    return lease;
  }

  /**
   * Starts the initial replicas and waits until those that fit are ready;
   * rejects if any cannot load. At zero, one replica starts just to read the
   * model's metadata, then stops: that probe reserves nothing, so a deployment
   * at rest never needs room on the node (and a full node cannot stop it
   * from starting at zero).
   */
  async start(initial: number): Promise<void> {
    if (initial === 0) {
      // startReplica retires the probe once it has reported the metadata.
      await this.startReplica(this.newReplica(UNBUDGETED));
      return;
    }
    this.target = initial;
    const started = await Promise.allSettled(this.fill());
    const failure = started.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failure) throw failure.reason;
    if (!this.closed && !this.opts.model.known) throw this.noRoom(`none of its ${initial} initial replicas fits on the node`);
  }

  /**
   * Sets the replicas the set should have. Growing starts replicas that fit
   * on the node (the rest wait as pending); shrinking stops replicas still
   * starting first, then drains the ready ones holding the fewest calls.
   */
  scaleTo(n: number): void {
    if (this.closed) return;
    this.target = n;
    let excess = this.active() - n;
    if (excess <= 0) {
      this.refill();
      return;
    }
    this.pendingCount = 0;
    // Replicas still starting hold no calls and serve none yet: they go first.
    for (const r of this.replicas.filter((x) => x.state === 'starting' && !isProbe(x))) {
      if (excess-- <= 0) break;
      void r.stop(); // ends the start; startReplica gives the reservation back (stop() of a start cannot reject)
    }
    const ready = this.replicas.filter((r) => r.state === 'ready').sort((a, b) => a.ongoing - b.ongoing);
    for (const r of ready) {
      if (excess-- <= 0) break;
      void this.retire(r);
    }
  }

  /** Gives a gone replica's slot back once no ingress reads it any more. */
  releaseSlot(slot: number): void {
    this.freeSlots.push(slot);
  }

  /** Starts replicas up to the target as far as the node has room; returns their start promises. */
  private fill(): Promise<Replica>[] {
    const started: Promise<Replica>[] = [];
    // A slot is free when every ingress has let go of the replica that had it; until then a new replica waits as pending.
    while (this.active() < this.target && this.freeSlots.length > 0) {
      const lease = this.takeLease();
      if (!lease) break;
      started.push(this.startReplica(this.newReplica(lease)));
    }
    this.pendingCount = Math.max(0, this.target - this.active());
    return started;
  }

  /** fill() outside start(): a replica that fails to start is tried again later. */
  private refill(): void {
    for (const p of this.fill()) p.catch(() => this.scheduleRefill());
  }

  /** After a failed start, tries again later (see {@link restartBackoffMs}). */
  private scheduleRefill(): void {
    if (this.closed || this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      this.refill();
    }, restartBackoffMs(this.failedStarts));
  }

  /** Drains a replica, then stops it and gives its resources back. */
  private async retire(replica: Replica): Promise<void> {
    await replica.stop();
    this.remove(replica);
    replica.lease.release();
    this.opts.events.gone(replica, 'stopped');
  }

  private newReplica(lease: Lease): Replica {
    const { config } = this.opts;
    return new Replica({
      lease,
      spec: {
        deployment: config.name,
        replicaId: `${config.name}#${this.opts.replicaIdPrefix ?? ''}${++this.seq}`,
        modelPath: config.model,
        multiplex: config.multiplex && { ...config.multiplex, held: null },
        models: config.models,
        handlerPath: config.handler,
        handlerExport: config.handlerExport,
        userConfig: this.userConfig,
        routeMethods: [...new Set([...config.routes, ...config.websockets].map((r) => r.call))],
        device: config.device,
        intraOpThreads: config.intraOpThreads,
        batching: config.batching,
      },
      host: config.host,
      hostFactory: this.opts.hostFactory,
      counters: this.opts.counters,
      slot: this.freeSlots.shift()!,
      onDeath: (r, reason, cause) => this.onDeath(r, reason, cause),
      batchTimeoutMs: config.batchTimeoutMs,
      handles: this.opts.handles ?? NO_HANDLES,
      health: config.handler === null ? null : { periodMs: config.healthCheckPeriodMs, timeoutMs: config.healthCheckTimeoutMs },
      held: this.opts.held ?? null,
    });
  }

  /**
   * Gives every live replica a new userConfig through its handler's
   * reconfigure, without a restart, and starts later replicas with it.
   * Resolves with the errors the handlers threw, by replica id.
   */
  async reconfigure(userConfig: unknown): Promise<{ replica: string; error: string }[]> {
    this.userConfig = userConfig;
    const results = await Promise.all(this.replicas.map(async (r) => ({ replica: r.id, error: await r.reconfigure(userConfig) })));
    return results.filter((r): r is { replica: string; error: string } => r.error !== null);
  }

  /** Starts a replica that holds its reservation; it gives it back when it fails, dies or is retired. */
  private async startReplica(replica: Replica): Promise<Replica> {
    this.replicas.push(replica);
    const began = performance.now();
    this.opts.observer?.replicaStarting?.(this.name, replica.id);
    try {
      this.opts.model.learn(await replica.start());
      this.failedStarts = 0;
      this.opts.observer?.replicaStarted?.(this.name, replica.id, Math.round(performance.now() - began));
    } catch (err) {
      this.remove(replica);
      replica.lease.release();
      // No ingress ever heard of it.
      this.releaseSlot(replica.slot);
      // Stopped on purpose while starting (a scale-down): not a failure, nothing to retry.
      if (replica.startCancelled) return replica;
      this.failedStarts++;
      this.lastStartError = err instanceof Error ? err.message : String(err);
      const why = err instanceof ReplicaStartFailedError ? err.reason : this.lastStartError;
      this.opts.observer?.replicaLost?.(this.name, replica.id, 'start_failed', `${why} (next try in ${restartBackoffMs(this.failedStarts)} ms)`);
      if (this.active() === 0) this.opts.events.noReplica(err instanceof Error ? err : new ReplicaStartFailedError(this.name, String(err)));
      throw err;
    }
    // The probe has reported the model (replicas wanted meanwhile started beside
    // it: it never counts as active); a replica closed, or scaled away, while starting.
    if (isProbe(replica) || this.closed || this.active() > this.target) await this.retire(replica);
    else this.opts.events.ready(replica);
    return replica;
  }

  private remove(replica: Replica): void {
    const i = this.replicas.indexOf(replica);
    if (i >= 0) this.replicas.splice(i, 1);
  }

  private onDeath(replica: Replica, reason: string, cause: ReplicaLossCause): void {
    this.remove(replica);
    if (this.closed) {
      replica.lease.release();
      this.opts.events.gone(replica, reason);
      return;
    }
    this.restarts++;
    this.opts.observer?.replicaLost?.(this.name, replica.id, cause, reason);
    this.opts.events.gone(replica, reason);
    if (this.active() < this.target && !isProbe(replica) && this.freeSlots.length > 0) {
      // The replacement takes over the dead replica's lease: released first, the
      // room could go to another pool's pending replica and leave this one without any.
      this.startReplica(this.newReplica(replica.lease)).catch(() => this.scheduleRefill());
    } else replica.lease.release();
    this.refill();
  }

  /** Stops starting anything new and gives back the reservation held ahead; replicas keep serving until stop(). */
  close(): void {
    this.closed = true;
    this.stopListening();
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.firstLease?.release();
    this.firstLease = null;
  }

  /** Stops every replica now, without waiting for calls still held (the ingresses answered them at the end of the grace). */
  async stop(): Promise<void> {
    this.close();
    for (const r of this.replicas) r.abandon();
    await Promise.all([...this.replicas].map((r) => this.retire(r)));
  }

  /** A start that found no room: what each replica asks, what the node has free, and the setting to change. */
  private noRoom(what: string): ReplicaStartFailedError {
    const { resources, config, configIndex } = this.opts;
    const u = resources.usage();
    const r = config.resources;
    const freeCpus = Math.round((u.cpus - u.usedCpus) * 1e6) / 1e6;
    const short = r.cpus > freeCpus + 1e-9 ? 'cpus' : 'gpus';
    const setting = configIndex === null ? `${this.name}'s resources.${short}` : `deployments[${configIndex}].resources.${short}`;
    return new ReplicaStartFailedError(
      this.name,
      `${what} (each reserves ${r.cpus} cpus and ${r.gpus} gpus; the node has ${freeCpus} of ${u.cpus} cpus and ${u.gpus - u.usedGpus} of ${u.gpus} gpus free): ` +
        `lower ${setting} or raise node.${short}`,
    );
  }

  /** Kills a replica as a crash would (for failure drills and tests); false if no replica has that id. */
  kill(id: string): boolean {
    const replica = this.replicas.find((r) => r.id === id);
    replica?.kill();
    return replica !== undefined;
  }
}
