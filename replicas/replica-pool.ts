import { RESTART_BACKOFF_MS, SHUTDOWN_GRACE_MS } from '../constants.js';
import type { ResolvedDeployment } from '../deployments/index.js';
import { BufferPool } from './buffer-pool.js';
import { defaultHostFactory } from './host-factory.js';
import type { PendingCall } from './pending-call.js';
import { BackPressureError, PoolClosedError, ReplicaCrashedError, ReplicaStartFailedError } from './pool-errors.js';
import { Replica, type BatchObserver, type ReplicaStats } from './replica.js';
import type { HostFactory } from './replica-host.js';
import { pickReplica } from './router.js';
import { batchKeyOf } from './tensor-batch.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/** A call is handed back after its replica dies at most this many times. */
const MAX_RETRIES = 1;

/**
 * A caller's hold on a pending call, lighter than an AbortSignal on a path
 * taken thousands of times a second: the pool sets `cancel` while the call
 * is pending and clears it once the call is settled.
 */
export interface CallControl {
  cancel?: (reason: Error) => void;
}

/** A pool's counters, as `ferry status` and the tests read them. */
export interface PoolStats {
  deployment: string;
  queueDepth: number;
  ongoing: number;
  replicas: ReplicaStats[];
  /** Replacements started after a replica died. */
  restarts: number;
  /** Calls handed to another replica after theirs died. */
  retried: number;
  /** Calls given up on (timeout or client gone) before they were answered. */
  cancelled: number;
}

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
  private _metadata: ModelMetadata | null = null;
  private readonly idleWaiters = new Set<() => void>();
  private readonly buffers = new BufferPool();

  constructor(
    private readonly config: ResolvedDeployment,
    private readonly hostFactory: HostFactory = defaultHostFactory,
    private readonly observer?: BatchObserver,
  ) {
    this.name = config.name;
  }

  /** The model's inputs and outputs, known once the first replica is ready. */
  get metadata(): ModelMetadata {
    if (!this._metadata) throw new Error(`deployment ${this.name} has not started`);
    return this._metadata;
  }

  /** True while at least one replica can take calls. */
  get ready(): boolean {
    return !this.closed && this.replicas.some((r) => r.state === 'ready');
  }

  /** Calls waiting for a replica with capacity. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Calls held by replicas (in mailboxes or running). */
  get ongoing(): number {
    return this.replicas.reduce((n, r) => n + r.ongoing, 0);
  }

  /** Starts `numReplicas` replicas and waits until all are ready; fails if any cannot load. */
  async start(): Promise<void> {
    const started = await Promise.allSettled(Array.from({ length: this.config.numReplicas }, () => this.addReplica()));
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) {
      await this.stop();
      throw (failure as PromiseRejectedResult).reason;
    }
  }

  private async addReplica(): Promise<Replica> {
    const replica = new Replica({
      spec: {
        deployment: this.name,
        replicaId: `${this.name}#${++this.seq}`,
        modelPath: this.config.model,
        device: this.config.device,
        intraOpThreads: this.config.intraOpThreads,
      },
      host: this.config.host,
      hostFactory: this.hostFactory,
      batching: this.config.batching,
      onIdle: () => this.dispatch(),
      onDeath: (r, orphans, reason) => this.onDeath(r, orphans, reason),
      buffers: this.buffers,
      observer: this.observer,
    });
    this.replicas.push(replica);
    try {
      const metadata = await replica.start();
      this._metadata ??= metadata;
      this.failedStarts = 0;
    } catch (err) {
      this.remove(replica);
      throw err;
    }
    if (this.closed) {
      await replica.stop();
      this.remove(replica);
      return replica;
    }
    this.dispatch();
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
      const settle = () => {
        call.settled = true;
        if (control) control.cancel = undefined;
        this.notifyIfIdle();
      };
      const call: PendingCall = {
        inputs,
        rows,
        batchKey: batchKeyOf(inputs),
        enqueuedAt: performance.now(),
        retries: 0,
        holder: null,
        settled: false,
        resolve: (out) => {
          if (call.settled) return;
          settle();
          resolve(out);
        },
        reject: (err) => {
          if (call.settled) return;
          settle();
          reject(err);
        },
      };
      const replica = this.queue.length === 0 ? pickReplica(this.replicas, this.config.maxOngoingRequests) : null;
      if (replica) replica.assign(call);
      else if (this.queue.length >= this.config.maxQueuedRequests) {
        reject(new BackPressureError(this.name, this.queue.length, this.config.maxQueuedRequests));
        return;
      } else this.queue.push(call);
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

  private onDeath(replica: Replica, orphans: PendingCall[], reason: string): void {
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
    if (this.closed) {
      this.failQueued(new ReplicaCrashedError(this.name, reason));
      return;
    }
    this.restarts++;
    this.dispatch();
    void this.replace();
  }

  private async replace(): Promise<void> {
    const backoff = this.failedStarts === 0 ? 0 : Math.min(30_000, RESTART_BACKOFF_MS * 2 ** (this.failedStarts - 1));
    if (backoff > 0) await new Promise((r) => setTimeout(r, backoff));
    if (this.closed) return;
    try {
      await this.addReplica();
    } catch (err) {
      this.failedStarts++;
      if (!this.replicas.some((r) => r.state === 'ready' || r.state === 'starting')) {
        this.failQueued(err instanceof ReplicaStartFailedError ? err : new ReplicaStartFailedError(this.name, String(err)));
      }
      void this.replace();
    }
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
   * shutdown grace period), then stops every replica.
   */
  async stop(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    this.closed = true;
    if (this.queue.length > 0 || this.ongoing > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.add(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.failQueued(new PoolClosedError(this.name));
    await Promise.all(this.replicas.map((r) => r.stop()));
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
      replicas: this.replicas.map((r) => r.stats()),
      restarts: this.restarts,
      retried: this.retried,
      cancelled: this.cancelled,
    };
  }
}
