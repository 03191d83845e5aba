import { HUNG_BATCH_FLOOR_MS, REPLICA_START_TIMEOUT_MS } from '../constants.js';
import { BatchQueue, type BatchQueueOptions } from './batch-queue.js';
import type { BufferPool } from './buffer-pool.js';
import type { Lease } from './node-resources.js';
import type { PendingCall } from './pending-call.js';
import { InferenceError, ReplicaStartFailedError } from './pool-errors.js';
import type { FromReplica, LoadedModel, ReplicaSpec } from './protocol.js';
import type { HostFactory, ReplicaHost } from './replica-host.js';
import type { HostKind } from '../deployments/index.js';
import { concatInputs, splitOutputs } from './tensor-batch.js';

/** Numbers the batch keys of calls sent to run alone; unique in the process, so such a call never shares a run again. */
let aloneSeq = 0;

/** Lifecycle of a replica: pending → starting → ready → stopping → stopped, or dead at any point. */
export type ReplicaState = 'starting' | 'ready' | 'stopping' | 'stopped' | 'dead';

/** Options for {@link Replica}. */
export interface ReplicaOptions {
  /** The share of the node this replica holds; whoever ends the replica gives it back through it (once). */
  lease: Lease;
  spec: ReplicaSpec;
  host: HostKind;
  hostFactory: HostFactory;
  batching: BatchQueueOptions;
  /** A batch finished: the pool may hand this replica more calls. */
  onIdle(replica: Replica): void;
  /** The host died (or hung and was killed); `orphans` are the calls it held, not yet answered. */
  onDeath(replica: Replica, orphans: PendingCall[], reason: string, cause: ReplicaLossCause): void;
  /** How long a batch may run before the replica counts as hung. @default never */
  batchTimeoutMs?: number | null;
  /** Where batch buffers come from and go back to (thread hosts hand them back). */
  buffers: BufferPool;
  /** Told of every batch run, for metrics. */
  observer?: BatchObserver;
}

/** Receives replica-side figures as each batch completes. */
export interface BatchObserver {
  batch(deployment: string, rows: number, inferenceMs: number, queueWaitsMs: readonly number[]): void;
  /** A replica ended without being asked to (`crashed`) or could not load (`start_failed`); the pool replaces it. */
  replicaLost?(deployment: string, replicaId: string, cause: ReplicaLossCause, reason: string): void;
}

/** Why a replica had to be replaced: the label of `ferry_replica_restarts_total`. */
export type ReplicaLossCause = 'crashed' | 'hung' | 'start_failed';

/** With no batchTimeoutMs set, a batch counts as hung past this many times the slowest batch seen (and the floor). */
const HUNG_FACTOR = 20;

/** A replica's counters, as `ferry status` and the tests read them. */
export interface ReplicaStats {
  id: string;
  state: ReplicaState;
  host: HostKind;
  hostId: number;
  ongoing: number;
  batches: number;
  rows: number;
  maxBatchRows: number;
  /** Time onnxruntime took to load the model, inside the replica. */
  loadMs: number;
  /** Cold start: from starting the host to the replica ready (thread or process start + model load). */
  startMs: number;
}

/**
 * The pool's handle on one replica actor: its host, its mailbox, and the
 * batch it is running. One batch is in flight at a time.
 */
export class Replica {
  readonly id: string;
  /** This replica's reservation on the node; releasing it twice gives it back once. */
  readonly lease: Lease;
  private host: ReplicaHost | null = null;
  private readonly mailbox: BatchQueue<PendingCall>;
  private running: PendingCall[] = [];
  private runningWaitsMs: number[] = [];
  private batchSeq = 0;
  private startWaiter: { resolve(m: LoadedModel): void; reject(e: Error): void } | null = null;
  private stopWaiter: (() => void) | null = null;
  private _state: ReplicaState = 'starting';
  private _startCancelled = false;
  private watchdog: NodeJS.Timeout | null = null;
  private batchStartedAt = 0;
  /** The longest a batch has taken here, host round trip included: what the default hang deadline scales with. */
  private slowestBatchMs = 0;
  private batches = 0;
  private rows = 0;
  private maxBatchRows = 0;
  private loadMs = 0;
  private startMs = 0;
  private startedAt = 0;

  constructor(private readonly opts: ReplicaOptions) {
    this.id = opts.spec.replicaId;
    this.lease = opts.lease;
    this.mailbox = new BatchQueue(opts.batching, (batch) => this.runBatch(batch));
  }

  get state(): ReplicaState {
    return this._state;
  }

  /** True when stop() ended this replica's start on purpose (a scale-down), not a failure to load. */
  get startCancelled(): boolean {
    return this._startCancelled;
  }

  /** Calls held: waiting in the mailbox plus running. */
  get ongoing(): number {
    return this.mailbox.length + this.running.length;
  }

  /** Starts the host and loads the model; resolves with the model's metadata and the outputs left out. */
  start(): Promise<LoadedModel> {
    this.startedAt = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`model did not load within ${REPLICA_START_TIMEOUT_MS} ms`);
      }, REPLICA_START_TIMEOUT_MS);
      this.startWaiter = {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.host = this.opts.hostFactory(this.opts.host, {
        message: (msg) => this.onMessage(msg),
        exit: (reason) => this.onExit(reason),
      });
      this.host.post({ type: 'init', spec: this.opts.spec }, []);
    });
  }

  private fail(reason: string, code?: string): void {
    const waiter = this.startWaiter;
    this.startWaiter = null;
    this._state = 'dead';
    void this.host?.terminate();
    waiter?.reject(new ReplicaStartFailedError(this.opts.spec.deployment, reason, code));
  }

  /** Hands the replica a call; it joins the next batch. */
  assign(call: PendingCall): void {
    call.holder = this;
    this.mailbox.put(call);
  }

  /** Withdraws a call still waiting in the mailbox; false once it is running. */
  withdraw(call: PendingCall): boolean {
    return this.mailbox.remove(call);
  }

  private runBatch(batch: PendingCall[]): void {
    if (!this.host || this._state === 'dead') return;
    this.running = batch;
    if (this.opts.observer) {
      const now = performance.now();
      this.runningWaitsMs = batch.map((c) => now - c.enqueuedAt);
    }
    // Only a thread can hand buffers back without copying them.
    const recycle = this.opts.host === 'thread';
    const { inputs, transfer } = concatInputs(batch, recycle ? this.opts.buffers : undefined);
    this.host.post({ type: 'run', batchId: ++this.batchSeq, inputs, recycle }, transfer);
    this.batchStartedAt = performance.now();
    const deadline = this.opts.batchTimeoutMs ?? Math.max(HUNG_BATCH_FLOOR_MS, HUNG_FACTOR * this.slowestBatchMs);
    this.watchdog = setTimeout(() => this.onHung(deadline), deadline).unref();
  }

  /**
   * A batch ran past its deadline: the replica is taken as dead now (its calls
   * go to the retry path) and its host is killed. A thread stuck inside
   * onnxruntime ends when the run returns; a process ends at once.
   */
  private onHung(deadlineMs: number): void {
    this.watchdog = null;
    this.host?.kill();
    this.onExit(`a batch ran past ${deadlineMs} ms (batchTimeoutMs)`, 'hung');
  }

  private onMessage(msg: FromReplica): void {
    switch (msg.type) {
      case 'ready':
        this.loadMs = msg.loadMs;
        this.startMs = performance.now() - this.startedAt;
        this._state = 'ready';
        this.startWaiter?.resolve({ metadata: msg.metadata, omittedOutputs: msg.omittedOutputs });
        this.startWaiter = null;
        return;
      case 'init-failed':
        this.fail(msg.message, msg.code);
        return;
      case 'result':
      case 'failed':
        this.finishBatch(msg);
    }
  }

  private finishBatch(msg: Extract<FromReplica, { type: 'result' | 'failed' }>): void {
    for (const b of msg.recycled) this.opts.buffers.give(b);
    if (msg.batchId !== this.batchSeq || this._state === 'dead') return;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    this.slowestBatchMs = Math.max(this.slowestBatchMs, performance.now() - this.batchStartedAt);
    const batch = this.running;
    const waits = this.runningWaitsMs;
    this.running = [];
    if (msg.type === 'failed' && batch.length > 1) this.runEachAlone(batch);
    // The next batch goes to the actor before this one's callers are answered,
    // so the replica computes while the gateway writes responses.
    this.mailbox.markIdle();
    if (msg.type === 'failed') {
      // A failed batch of several calls went back to the mailbox above; a call that failed alone is answered.
      if (batch.length === 1) batch[0].reject(new InferenceError(this.opts.spec.deployment, msg.message));
    } else {
      let rows = 0;
      for (const call of batch) rows += call.rows;
      this.batches++;
      this.rows += rows;
      this.maxBatchRows = Math.max(this.maxBatchRows, rows);
      this.opts.observer?.batch(this.opts.spec.deployment, rows, msg.inferenceMs, waits);
      try {
        // A call that ran alone gets the outputs exactly as the model made them.
        if (batch.length === 1) batch[0].resolve(msg.outputs);
        else {
          const parts = splitOutputs(msg.outputs, batch.map((c) => c.rows));
          batch.forEach((call, i) => call.resolve(parts[i]));
        }
      } catch {
        // The model's outputs were not batch-major after all (it declared them
        // so): each call runs again alone and gets its outputs whole.
        this.runEachAlone(batch);
      }
    }
    if (this._state === 'stopping' && this.ongoing === 0) this.stopWaiter?.();
    this.opts.onIdle(this);
  }

  /**
   * onnxruntime rejected a whole batch, perhaps for one call's values (an
   * index out of range): each call runs again alone, first in the mailbox,
   * so only the call at fault fails and the others get their answers.
   * Calls already cancelled are dropped.
   */
  private runEachAlone(batch: readonly PendingCall[]): void {
    const again = batch.filter((c) => !c.settled);
    for (const call of again) call.batchKey = `alone#${++aloneSeq}`;
    this.mailbox.putBack(again);
  }

  private onExit(reason: string, cause: ReplicaLossCause = 'crashed'): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    if (this._state === 'dead' || this._state === 'stopped') return;
    if (this.startWaiter) {
      this.fail(reason);
      return;
    }
    this._state = 'dead';
    const orphans = [...this.running, ...this.mailbox.drain()];
    this.running = [];
    this.stopWaiter?.();
    this.opts.onDeath(this, orphans, reason, cause);
  }

  /** Finishes the calls it holds, then ends the host. */
  async stop(): Promise<void> {
    if (this._state === 'dead' || this._state === 'stopped') return;
    if (this.startWaiter) {
      this._startCancelled = true;
      this.fail('stopped while starting');
      return;
    }
    this._state = 'stopping';
    if (this.ongoing > 0) await new Promise<void>((resolve) => (this.stopWaiter = resolve));
    if (this._state === 'stopping') this._state = 'stopped';
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    await this.host?.terminate();
  }

  /**
   * Answers every call it holds with `err` now, running ones included (their
   * results, if they ever come, are dropped): a shutdown past its grace
   * answers rather than waits. A stop() waiting for those calls goes on.
   */
  abandon(err: Error): void {
    const held = [...this.running, ...this.mailbox.drain()];
    this.running = [];
    for (const call of held) call.reject(err);
    if (this._state === 'stopping') this.stopWaiter?.();
  }

  /** Ends the host at once, as a crash would; the pool sees a death. */
  kill(): void {
    this.host?.kill();
  }

  /** A snapshot of this replica's counters. */
  stats(): ReplicaStats {
    return {
      id: this.id,
      state: this._state,
      host: this.opts.host,
      hostId: this.host?.id ?? -1,
      ongoing: this.ongoing,
      batches: this.batches,
      rows: this.rows,
      maxBatchRows: this.maxBatchRows,
      loadMs: Math.round(this.loadMs),
      startMs: Math.round(this.startMs),
    };
  }
}
