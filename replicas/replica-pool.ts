import { applyOrtEnvironment, SHUTDOWN_GRACE_MS } from '../constants.js';
import { initialOf, type ResolvedDeployment } from '../deployments/index.js';
import { BufferPool } from './buffer-pool.js';
import { NodeResources } from './node-resources.js';
import { defaultHostFactory } from './host-factory.js';
import { createCall, type PendingCall } from './pending-call.js';
import { DeploymentModel } from './deployment-model.js';
import { BackPressureError, ModelCannotBatchError, PoolClosedError, ReplicaCrashedError } from './pool-errors.js';
import type { BatchObserver } from './replica.js';
import type { HostFactory } from './replica-host.js';
import { ReplicaSet } from './replica-set.js';
import type { CallControl, PoolStats } from './pool-types.js';
import { pickReplica } from './router.js';
import type { OmittedOutput } from './protocol.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/** A call is handed back after its replica dies at most this many times. */
const MAX_RETRIES = 1;

/**
 * A deployment's calls: admission into a bounded queue, routing to a replica
 * with spare capacity (power of two choices), cancellation, and one retry
 * elsewhere for the calls of a replica that dies. Past `maxQueuedRequests`
 * calls are refused with BackPressureError. The replicas themselves — start,
 * scale, drain, replace, reservations — are its {@link ReplicaSet}'s.
 */
export class ReplicaPool {
  readonly name: string;
  private queue: PendingCall[] = [];
  private closed = false;
  private retried = 0;
  private cancelled = 0;
  private readonly model: DeploymentModel;
  private readonly set: ReplicaSet;
  private readonly idleWaiters = new Set<() => void>();
  private demandListener: (() => void) | null = null;

  constructor(
    private readonly config: ResolvedDeployment,
    hostFactory: HostFactory = defaultHostFactory,
    observer?: BatchObserver,
    /** The node's capacity, shared with the other pools. @default the configured node alone */
    resources: NodeResources = new NodeResources(Infinity, Infinity),
    /** Where the deployment sits in the config's `deployments`, so messages name the setting to change. @default unknown */
    configIndex: number | null = null,
  ) {
    this.name = config.name;
    applyOrtEnvironment();
    this.model = new DeploymentModel(config.name, config.batching);
    this.set = new ReplicaSet({
      config,
      hostFactory,
      resources,
      model: this.model,
      buffers: new BufferPool(),
      observer,
      configIndex,
      events: {
        capacity: () => this.dispatch(),
        orphaned: (orphans, reason) => this.onOrphans(orphans, reason),
        noReplica: (err) => this.failQueued(err),
      },
    });
  }

  /** Reserves the first replica's share of the node before any pool starts (see ReplicaSet.reserveFirst). */
  reserveFirst(): boolean {
    return this.set.reserveFirst();
  }

  /** Called when a call arrives while the pool has no replica and none wanted (scale from zero). */
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
    return this.set.ongoing;
  }

  /**
   * Starts the initial replicas (numReplicas, or autoscaling.initialReplicas)
   * and waits until those that fit are ready; fails if any cannot load, or
   * if the config requires batching the model cannot do.
   */
  async start(): Promise<void> {
    try {
      await this.set.start(initialOf(this.config));
      if (this.closed) throw new PoolClosedError(this.name);
      const conflict = this.model.batchingConflict;
      if (conflict) throw new ModelCannotBatchError(this.name, conflict);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
  }

  /** Sets the replicas the pool should have (see ReplicaSet.scaleTo). */
  scaleTo(n: number): void {
    if (!this.closed) this.set.scaleTo(n);
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
      const replica = this.queue.length === 0 ? pickReplica(this.set.replicas, this.config.maxOngoingRequests) : null;
      if (replica) replica.assign(call);
      else if (this.queue.length >= this.config.maxQueuedRequests) {
        reject(new BackPressureError(this.name, this.queue.length, this.config.maxQueuedRequests));
        return;
      } else {
        this.queue.push(call);
        if (this.set.targetReplicas === 0) this.demandListener?.();
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
      const replica = pickReplica(this.set.replicas, this.config.maxOngoingRequests);
      if (!replica) return;
      const call = this.queue.shift()!;
      if (!call.settled) replica.assign(call);
    }
  }

  /** The calls of a replica that died: each is retried once elsewhere, ahead of the queue. */
  private onOrphans(orphans: PendingCall[], reason: string): void {
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
    if (this.closed) this.failQueued(new ReplicaCrashedError(this.name, reason));
    else this.dispatch();
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
    this.set.close();
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
    await this.set.stop(new PoolClosedError(this.name));
  }

  /** Kills a replica as a crash would (for failure drills and tests); false if no replica has that id. */
  killReplica(id: string): boolean {
    return this.set.kill(id);
  }

  /** A snapshot of the pool's counters. */
  stats(): PoolStats {
    return {
      deployment: this.name,
      queueDepth: this.queue.length,
      ongoing: this.ongoing,
      target: this.set.targetReplicas,
      pending: this.set.pending,
      replicas: this.set.replicas.map((r) => r.stats()),
      restarts: this.set.restarts,
      retried: this.retried,
      cancelled: this.cancelled,
      batching: this.batchingStatus(),
      readiness: this.readiness(),
    };
  }
}
