import { applyOrtEnvironment, RESTART_BACKOFF_MS, SHUTDOWN_GRACE_MS } from '../constants.js';
import type { ResolvedDeployment } from '../deployments/index.js';
import { BufferPool } from './buffer-pool.js';
import { NodeResources, type Lease } from './node-resources.js';
import { defaultHostFactory } from './host-factory.js';
import { createCall, type PendingCall } from './pending-call.js';
import { DeploymentModel } from './deployment-model.js';
import { BackPressureError, ModelCannotBatchError, PoolClosedError, ReplicaCrashedError, ReplicaStartFailedError } from './pool-errors.js';
import { Replica, type BatchObserver, type ReplicaLossCause } from './replica.js';
import type { HostFactory } from './replica-host.js';
import type { CallControl, PoolStats } from './pool-types.js';
import { pickReplica } from './router.js';
import type { OmittedOutput } from './protocol.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/** A call is handed back after its replica dies at most this many times. */
const MAX_RETRIES = 1;

/**
 * A deployment's replicas and its bounded queue. Calls go to a replica with
 * spare capacity (power of two choices); when none has any, they wait in the
 * queue, and past `maxQueuedRequests` they are refused with BackPressureError.
 * A replica that dies is replaced and its calls retried once elsewhere.
 */
export class ReplicaPool {
  readonly name: string;
  private readonly replicas: Replica[] = [];
  private queue: PendingCall[] = [];
  private seq = 0;
  private closed = false;
  private restarts = 0;
  private retried = 0;
  private cancelled = 0;
  private failedStarts = 0;
  private lastStartError = '';
  private readonly model: DeploymentModel;
  private readonly idleWaiters = new Set<() => void>();
  private readonly buffers = new BufferPool();
  private target = 0;
  private pending = 0;
  private refillTimer: NodeJS.Timeout | null = null;
  /** The first replica's reservation, taken by reserveFirst() before any pool starts; the next replica to start takes it over. */
  private firstLease: Lease | null = null;
  private readonly stopListening: () => void;
  private demandListener: (() => void) | null = null;

  constructor(
    private readonly config: ResolvedDeployment,
    private readonly hostFactory: HostFactory = defaultHostFactory,
    private readonly observer?: BatchObserver,
    /** The node's capacity, shared with the other pools. @default the configured node alone */
    private readonly resources: NodeResources = new NodeResources(Infinity, Infinity),
    /** Where the deployment sits in the config's `deployments`, so messages name the setting to change. @default unknown */
    private readonly configIndex: number | null = null,
  ) {
    this.name = config.name;
    applyOrtEnvironment();
    this.model = new DeploymentModel(config.name, config.batching);
    this.stopListening = resources.onRelease(() => {
      if (this.pending > 0 && !this.closed) this.refill();
    });
  }

  /**
   * Reserves the first replica's share of the node now, for start() to use.
   * Validation guarantees that every deployment's first replica fits
   * together, but only if each reserves it before any reserves more: the
   * server calls this for every pool before it starts any. False (nothing
   * held) if it does not fit; start() then tries again itself.
   */
  reserveFirst(): boolean {
    this.firstLease ??= this.closed ? null : this.resources.lease(this.config.resources);
    return this.firstLease !== null;
  }

  /** A reservation for the next replica: the one reserveFirst() holds, else a new one if it fits. */
  private takeLease(): Lease | null {
    const lease = this.firstLease ?? this.resources.lease(this.config.resources);
    this.firstLease = null;
    return lease;
  }

  /** Called when a call arrives while the pool has no replica and none wanted (scale from zero). */
  onDemand(listener: () => void): void {
    this.demandListener = listener;
  }

  /** Replicas starting or ready: what counts toward the target. */
  private active(): number {
    let n = 0;
    for (const r of this.replicas) if (r.state === 'starting' || r.state === 'ready') n++;
    return n;
  }

  /** Replicas ready to take calls. */
  get readyReplicas(): number {
    let n = 0;
    for (const r of this.replicas) if (r.state === 'ready') n++;
    return n;
  }

  /** Replicas the pool is meant to have. */
  get targetReplicas(): number {
    return this.target;
  }

  /** The model's inputs and outputs, known once the first replica is ready. */
  get metadata(): ModelMetadata {
    return this.model.metadata;
  }

  /** The model's outputs that are not tensors (sequences, maps), left out of the metadata and every answer, and why. */
  get omittedOutputs(): readonly OmittedOutput[] {
    return this.model.omittedOutputs;
  }

  /** True when calls are concatenated along dimension 0; false when each runs alone with its own shapes. */
  get batching(): boolean {
    return this.model.batching;
  }

  /** Whether the deployment batches, and why (not): the model's shapes, or the config. */
  batchingStatus(): { enabled: boolean; reason: string } {
    return this.model.batchingStatus();
  }

  /** True while at least one replica can take calls. */
  get ready(): boolean {
    return !this.closed && this.replicas.some((r) => r.state === 'ready');
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
    if (this.failedStarts > 0) return { ready: false, reason: `replicas fail to start: ${this.lastStartError}` };
    if (this.target === 0 && this.model.known) return { ready: true, reason: 'scaled to zero: a request starts a replica' };
    const starting = this.replicas.filter((r) => r.state === 'starting').length;
    return { ready: false, reason: `no ready replica yet (${starting} starting, ${this.pending} pending)` };
  }

  /** Calls waiting for a replica with capacity. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Ongoing + queued calls: the load the autoscaler reads. */
  load(): number {
    return this.queue.length + this.ongoing;
  }

  /** Calls held by replicas (in mailboxes or running). */
  get ongoing(): number {
    return this.replicas.reduce((n, r) => n + r.ongoing, 0);
  }

  /**
   * Starts the initial replicas (numReplicas, or autoscaling.initialReplicas)
   * and waits until those that fit are ready; fails if any cannot load. At
   * zero initial replicas, one replica starts just to read the model's
   * metadata, then stops.
   */
  async start(): Promise<void> {
    const initial = this.config.autoscaling?.initialReplicas ?? this.config.numReplicas;
    try {
      if (initial === 0) {
        const lease = this.takeLease();
        if (!lease) throw this.noRoom('no room on the node for a replica to read the model metadata');
        // At a target of 0, startReplica retires the replica once it has reported the metadata.
        await this.startReplica(this.newReplica(lease));
      } else {
        this.target = initial;
        const started = await Promise.allSettled(this.fill());
        const failure = started.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
        if (failure) throw failure.reason;
        if (this.closed) throw new PoolClosedError(this.name);
        if (!this.model.known) throw this.noRoom(`none of its ${initial} initial replicas fits on the node`);
      }
      const conflict = this.model.batchingConflict;
      if (conflict) throw new ModelCannotBatchError(this.name, conflict);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
  }

  /**
   * Sets the replicas the pool should have. Growing starts replicas that fit
   * on the node (the rest wait as pending); shrinking drains the replicas
   * holding the fewest calls, which finish what they hold before they stop.
   */
  scaleTo(n: number): void {
    if (this.closed) return;
    this.target = n;
    let excess = this.active() - n;
    if (excess <= 0) {
      this.refill();
      return;
    }
    this.pending = 0;
    // Replicas still starting hold no calls and serve none yet: they go first.
    for (const r of this.replicas.filter((x) => x.state === 'starting')) {
      if (excess-- <= 0) break;
      void r.stop(); // ends the start; startReplica gives the reservation back (stop() of a start cannot reject)
    }
    const ready = this.replicas.filter((r) => r.state === 'ready').sort((a, b) => a.ongoing - b.ongoing);
    for (const r of ready) {
      if (excess-- <= 0) break;
      void this.retire(r);
    }
  }

  /** Starts replicas up to the target as far as the node has room; returns their start promises. */
  private fill(): Promise<Replica>[] {
    const started: Promise<Replica>[] = [];
    while (this.active() < this.target) {
      const lease = this.takeLease();
      if (!lease) break;
      started.push(this.startReplica(this.newReplica(lease)));
    }
    this.pending = Math.max(0, this.target - this.active());
    return started;
  }

  /** fill() outside start(): a replica that fails to start is tried again later. */
  private refill(): void {
    for (const p of this.fill()) p.catch(() => this.scheduleRefill());
  }

  /** After a failed start, tries again later, doubling the pause each time (up to 30 s). */
  private scheduleRefill(): void {
    if (this.closed || this.refillTimer) return;
    const backoff = Math.min(30_000, RESTART_BACKOFF_MS * 2 ** Math.max(0, this.failedStarts - 1));
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      this.refill();
    }, backoff);
  }

  /** Drains a replica, then stops it and gives its resources back. */
  private async retire(replica: Replica): Promise<void> {
    await replica.stop();
    this.remove(replica);
    replica.lease.release();
  }

  private newReplica(lease: Lease): Replica {
    return new Replica({
      lease,
      spec: {
        deployment: this.name,
        replicaId: `${this.name}#${++this.seq}`,
        modelPath: this.config.model,
        device: this.config.device,
        intraOpThreads: this.config.intraOpThreads,
      },
      host: this.config.host,
      hostFactory: this.hostFactory,
      batching: this.model.mailboxOptions,
      onIdle: () => this.dispatch(),
      onDeath: (r, orphans, reason, cause) => this.onDeath(r, orphans, reason, cause),
      batchTimeoutMs: this.config.batchTimeoutMs,
      buffers: this.buffers,
      observer: this.observer,
    });
  }

  /** Starts a replica that holds its reservation; it gives it back when it fails, dies or is retired. */
  private async startReplica(replica: Replica): Promise<Replica> {
    this.replicas.push(replica);
    try {
      this.model.learn(await replica.start());
      this.failedStarts = 0;
    } catch (err) {
      this.remove(replica);
      replica.lease.release();
      // Stopped on purpose while starting (a scale-down): not a failure, nothing to retry.
      if (replica.startCancelled) return replica;
      this.failedStarts++;
      this.lastStartError = err instanceof Error ? err.message : String(err);
      this.observer?.replicaLost?.(this.name, replica.id, 'start_failed', this.lastStartError);
      if (this.active() === 0) this.failQueued(err instanceof Error ? err : new ReplicaStartFailedError(this.name, String(err)));
      throw err;
    }
    // Scaled down, or closed, while it was starting.
    if (this.closed || this.active() > this.target) await this.retire(replica);
    else this.dispatch();
    return replica;
  }

  private remove(replica: Replica): void {
    const i = this.replicas.indexOf(replica);
    if (i >= 0) this.replicas.splice(i, 1);
  }

  /**
   * Runs one call: `inputs` share dimension 0 (`rows`). Resolves with the
   * call's own outputs; rejects with BackPressureError when the queue is full.
   * `control.cancel`, set while the call is pending, gives up on it: the
   * call leaves the queue or mailbox if it has not started running, and the
   * promise rejects with the given reason.
   */
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap> {
    if (this.closed) return Promise.reject(new PoolClosedError(this.name));
    return new Promise((resolve, reject) => {
      const call = createCall(inputs, rows, this.model.batchKeyOf(inputs), resolve, reject, () => {
        if (control) control.cancel = undefined;
        this.notifyIfIdle();
      });
      const replica = this.queue.length === 0 ? pickReplica(this.replicas, this.config.maxOngoingRequests) : null;
      if (replica) replica.assign(call);
      else if (this.queue.length >= this.config.maxQueuedRequests) {
        reject(new BackPressureError(this.name, this.queue.length, this.config.maxQueuedRequests));
        return;
      } else {
        this.queue.push(call);
        if (this.target === 0) this.demandListener?.();
      }
      if (control) control.cancel = (reason) => this.cancel(call, reason);
    });
  }

  /**
   * Gives up on a call: out of the queue or its replica's mailbox if it is
   * still waiting (a running batch cannot be stopped; its answer is dropped).
   */
  private cancel(call: PendingCall, reason: Error): void {
    if (call.settled) return;
    if (call.holder === null) {
      const i = this.queue.indexOf(call);
      if (i >= 0) this.queue.splice(i, 1);
    } else if (call.holder.withdraw(call)) {
      this.dispatch();
    }
    this.cancelled++;
    call.reject(reason);
  }

  /** Moves queued calls to replicas with spare capacity. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      const replica = pickReplica(this.replicas, this.config.maxOngoingRequests);
      if (!replica) return;
      const call = this.queue.shift()!;
      if (!call.settled) replica.assign(call);
    }
  }

  private onDeath(replica: Replica, orphans: PendingCall[], reason: string, cause: ReplicaLossCause): void {
    this.remove(replica);
    const retry: PendingCall[] = [];
    for (const call of orphans) {
      call.holder = null;
      if (call.settled) continue;
      if (call.retries < MAX_RETRIES) {
        call.retries++;
        retry.push(call);
      } else call.reject(new ReplicaCrashedError(this.name, reason));
    }
    this.retried += retry.length;
    // Retried calls were admitted already: they go first and ignore the queue bound.
    this.queue = [...retry, ...this.queue];
    replica.lease.release();
    if (this.closed) {
      this.failQueued(new ReplicaCrashedError(this.name, reason));
      return;
    }
    this.restarts++;
    this.observer?.replicaLost?.(this.name, replica.id, cause, reason);
    this.dispatch();
    this.refill();
  }

  private failQueued(err: Error): void {
    const queued = this.queue;
    this.queue = [];
    for (const call of queued) call.reject(err);
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.size === 0 || this.queue.length > 0 || this.ongoing > 0) return;
    for (const w of this.idleWaiters) w();
    this.idleWaiters.clear();
  }

  /**
   * Stops taking calls, lets queued and running ones finish (up to the
   * shutdown grace period), answers what is left with PoolClosedError, then
   * stops every replica.
   */
  async stop(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    this.closed = true;
    this.stopListening();
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.firstLease?.release();
    this.firstLease = null;
    if (this.queue.length > 0 || this.ongoing > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.add(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.failQueued(new PoolClosedError(this.name));
    // Past the grace, calls still held (a batch that does not finish) are answered 503, not waited for.
    for (const r of this.replicas) if (r.ongoing > 0) r.abandon(new PoolClosedError(this.name));
    await Promise.all([...this.replicas].map((r) => this.retire(r)));
  }

  /** A start that found no room: what each replica asks, what the node has free, and the setting to change. */
  private noRoom(what: string): ReplicaStartFailedError {
    const u = this.resources.usage();
    const r = this.config.resources;
    const freeCpus = Math.round((u.cpus - u.usedCpus) * 1e6) / 1e6;
    const short = r.cpus > freeCpus + 1e-9 ? 'cpus' : 'gpus';
    const setting = this.configIndex === null ? `${this.name}'s resources.${short}` : `deployments[${this.configIndex}].resources.${short}`;
    return new ReplicaStartFailedError(
      this.name,
      `${what} (each reserves ${r.cpus} cpus and ${r.gpus} gpus; the node has ${freeCpus} of ${u.cpus} cpus and ${u.gpus - u.usedGpus} of ${u.gpus} gpus free): ` +
        `lower ${setting} or raise node.${short}`,
    );
  }

  /** Kills a replica as a crash would (for failure drills and tests); false if no replica has that id. */
  killReplica(id: string): boolean {
    const replica = this.replicas.find((r) => r.id === id);
    replica?.kill();
    return replica !== undefined;
  }

  /** A snapshot of the pool's counters. */
  stats(): PoolStats {
    return {
      deployment: this.name,
      queueDepth: this.queue.length,
      ongoing: this.ongoing,
      target: this.target,
      pending: this.pending,
      replicas: this.replicas.map((r) => r.stats()),
      restarts: this.restarts,
      retried: this.retried,
      cancelled: this.cancelled,
      batching: this.batchingStatus(),
      readiness: this.readiness(),
    };
  }
}
