import type { MessagePort } from 'node:worker_threads';
import { HUNG_BATCH_FLOOR_MS, REPLICA_START_TIMEOUT_MS } from '../constants.js';
import { epochMs, REPLICA_LATENCY_BUCKETS_MS, SlotState, type DeploymentCounters } from './deployment-counters.js';
import type { HeldModels } from './held-models.js';
import type { Lease } from './node-resources.js';
import { ReplicaStartFailedError } from './pool-errors.js';
import type { CallControl } from './pool-types.js';
import type { FromReplica, LoadedModel, ReplicaSpec, ToReplica } from './protocol.js';
import { transferablesOf, type TensorMap } from './tensor.js';
import type { HostFactory, ReplicaHost } from './replica-host.js';
import type { HostKind } from '../deployments/index.js';

/** Lifecycle of a replica: pending → starting → ready → stopping → stopped, or dead at any point. */
export type ReplicaState = 'starting' | 'ready' | 'stopping' | 'stopped' | 'dead';

/** Options for {@link Replica}. */
export interface ReplicaOptions {
  /** The share of the node this replica holds; whoever ends the replica gives it back through it (once). */
  lease: Lease;
  /** What the replica loads; its `counters` are filled in here for thread hosts. */
  spec: Omit<ReplicaSpec, 'counters'>;
  host: HostKind;
  hostFactory: HostFactory;
  /** The deployment's shared counters and this replica's slot there. */
  counters: DeploymentCounters;
  slot: number;
  /** The host died (or hung and was killed); the ingresses retry the calls it held. */
  onDeath(replica: Replica, reason: string, cause: ReplicaLossCause): void;
  /** How long a batch may run before the replica counts as hung. @default never */
  batchTimeoutMs?: number | null;
  /** Runs the handle calls the replica's code makes (see HandleCall in gateway/handle-calls.ts). */
  handles: HandleCalls;
  /** A code deployment's health check: polled every `periodMs`, failing past `timeoutMs`. @default none */
  health?: { periodMs: number; timeoutMs: number } | null;
  /** A multiplexed deployment's table of the models each replica holds; this replica's slot there is its counters slot. */
  held?: HeldModels | null;
}

/** Calls a deployment by name for a replica's code; rejects with a registry error (its `code` and `statusCode`). */
export type HandleCalls = (deployment: string, inputs: TensorMap, control: CallControl, method?: { method: string; body: unknown }) => Promise<unknown>;

/** Where no control plane runs handle calls (a pool on its own): each fails. */
export const NO_HANDLES: HandleCalls = () =>
  Promise.reject(Object.assign(new Error('handles are not available: this pool runs outside a Ferry server'), { code: 'FERRY_ERR_INTERNAL', statusCode: 500 }));

/** Receives what the control plane learns of replicas. */
export interface LifecycleObserver {
  /** A replica ended without being asked to (`crashed`) or could not load (`start_failed`); the pool replaces it. */
  replicaLost?(deployment: string, replicaId: string, cause: ReplicaLossCause, reason: string): void;
  /** A replica begins to start: its host starts and loads the model (or the handler). */
  replicaStarting?(deployment: string, replicaId: string): void;
  /** A replica is ready, `ms` after it began to start. */
  replicaStarted?(deployment: string, replicaId: string, ms: number): void;
}

/** Why a replica had to be replaced: the label of `ferry_replica_restarts_total`. */
export type ReplicaLossCause = 'crashed' | 'hung' | 'unhealthy' | 'start_failed';

/** How often the watchdog looks at a replica's running batch, at most. */
const WATCH_MS = 100;

/** How often a draining replica is checked for calls still held. */
const DRAIN_POLL_MS = 5;

/** With no batchTimeoutMs set, a batch counts as hung past this many times the slowest batch seen (and the floor). */
const HUNG_FACTOR = 20;

/** A replica's counters, as `ferry status` and the tests read them. */
export interface ReplicaStats {
  id: string;
  state: ReplicaState;
  host: HostKind;
  hostId: number;
  /** The cluster node it runs on, as a cluster gateway sees it; absent on one machine. */
  node?: string;
  ongoing: number;
  batches: number;
  rows: number;
  maxBatchRows: number;
  /** Batches that held calls from more than one ingress thread. */
  mergedBatches: number;
  /** Sessions placed on it (session-affinity routing; idle ones until their place is taken over). */
  sessions: number;
  /** Adaptive batching (batching.targetLatencyMs): the last wait window chosen, and the batch cost fit, ms = fixed + perRow · rows. */
  batchWindowMs: number;
  batchCostMs: { fixed: number; perRow: number };
  /**
   * The 99th percentile of calls' time in the replica (admission to answer:
   * queue, mailbox and run), as the upper bound in ms of its histogram bucket
   * (REPLICA_LATENCY_BUCKETS_MS; past the last, that bound); null before any call.
   */
  latencyP99Ms: number | null;
  /** A multiplexed deployment's models the replica holds now, and the loads and evictions it has made (empty and 0 otherwise). */
  models: string[];
  modelLoads: number;
  modelEvictions: number;
  /** Time onnxruntime took to load the model, inside the replica. */
  loadMs: number;
  /** Cold start: from starting the host to the replica ready (thread or process start + model load). */
  startMs: number;
}

/** The upper bound (ms) of the histogram bucket holding quantile `q` of `counts` (see REPLICA_LATENCY_BUCKETS_MS), or null when empty. */
export function percentileBound(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let b = 0; b < counts.length; b++) {
    seen += counts[b];
    if (seen >= q * total) return REPLICA_LATENCY_BUCKETS_MS[Math.min(b, REPLICA_LATENCY_BUCKETS_MS.length - 1)];
  }
  return REPLICA_LATENCY_BUCKETS_MS[REPLICA_LATENCY_BUCKETS_MS.length - 1];
}

/**
 * The control plane's handle on one replica actor: its host, its lifecycle
 * and its slot in the deployment's counters. Calls do not pass through it:
 * each ingress sends them over its own channel (see {@link attach}) and the
 * replica batches them; this side watches the slot for a batch that runs
 * past its deadline.
 */
export class Replica {
  readonly id: string;
  /** This replica's reservation on the node; releasing it twice gives it back once. */
  readonly lease: Lease;
  /** Its place in the deployment's counters. */
  readonly slot: number;
  private host: ReplicaHost | null = null;
  private startWaiter: { resolve(m: LoadedModel): void; reject(e: Error): void } | null = null;
  private _state: ReplicaState = 'starting';
  private _startCancelled = false;
  private abandoned = false;
  private watchdog: NodeJS.Timeout | null = null;
  private loadMs = 0;
  private startMs = 0;
  private startedAt = 0;
  /** Handle calls the replica's code made that are not answered yet, by the replica's call id. */
  private readonly handleCalls = new Map<number, CallControl>();
  private healthTimer: NodeJS.Timeout | null = null;
  private healthSeq = 0;
  private healthWaiting: { id: number; timer: NodeJS.Timeout } | null = null;
  private reconfigured: ((error: string | null) => void)[] = [];
  /** A userConfig given while starting, applied once ready. */
  private userConfigOnReady: { userConfig: unknown } | null = null;

  constructor(private readonly opts: ReplicaOptions) {
    this.id = opts.spec.replicaId;
    this.lease = opts.lease;
    this.slot = opts.slot;
    opts.counters.reset(opts.slot, SlotState.STARTING);
    opts.held?.clear(opts.slot);
  }

  get state(): ReplicaState {
    return this._state;
  }

  /** True when stop() ended this replica's start on purpose (a scale-down), not a failure to load. */
  get startCancelled(): boolean {
    return this._startCancelled;
  }

  /** Calls every ingress has sent it and not had answered. */
  get ongoing(): number {
    return this._state === 'dead' ? 0 : this.opts.counters.inFlight(this.slot);
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
      const { counters, slot } = this.opts;
      // A thread writes its batch figures into shared memory; a process reports them to its host.
      const shared = this.opts.host === 'thread' ? { buffer: counters.buffer, slots: counters.slots, slot } : null;
      const { multiplex } = this.opts.spec;
      const held = this.opts.held && this.opts.host === 'thread' ? { buffer: this.opts.held.buffer, slots: this.opts.held.slots, slot } : null;
      this.host.post({ type: 'init', spec: { ...this.opts.spec, counters: shared, multiplex: multiplex && { ...multiplex, held } } }, []);
    });
  }

  private fail(reason: string, code?: string): void {
    const waiter = this.startWaiter;
    this.startWaiter = null;
    this.setState('dead');
    void this.host?.terminate();
    waiter?.reject(new ReplicaStartFailedError(this.opts.spec.deployment, reason, code));
  }

  private setState(state: ReplicaState): void {
    this._state = state;
    const slot = state === 'ready' ? SlotState.READY : state === 'starting' ? SlotState.STARTING : state === 'dead' ? SlotState.DEAD : SlotState.DRAINING;
    this.opts.counters.setState(this.slot, slot);
  }

  /** Hands the replica one end of an ingress's channel; `source` numbers the ingress. */
  attach(source: number, port: MessagePort): void {
    this.host?.post({ type: 'attach', source, port }, [port]);
  }

  /** The ingress behind `source` closed its channel. */
  detach(source: number): void {
    this.host?.post({ type: 'detach', source }, []);
  }

  /** The deadline a batch runs against: batchTimeoutMs, else 20 × the slowest batch seen (at least the floor). */
  private deadlineMs(): number {
    return this.opts.batchTimeoutMs ?? Math.max(HUNG_BATCH_FLOOR_MS, HUNG_FACTOR * this.opts.counters.slowestBatchMs(this.slot));
  }

  private watch(): void {
    const every = Math.max(1, Math.min(WATCH_MS, (this.opts.batchTimeoutMs ?? HUNG_BATCH_FLOOR_MS) / 4));
    this.watchdog = setInterval(() => {
      const since = this.opts.counters.busySince(this.slot);
      if (since === 0) return;
      const deadline = this.deadlineMs();
      if (epochMs() - since > deadline) this.onHung(deadline);
    }, every).unref();
  }

  /**
   * A batch ran past its deadline: the replica is taken as dead now (the
   * ingresses retry its calls) and its host is killed. A thread stuck inside
   * onnxruntime ends when the run returns; a process ends at once.
   */
  private onHung(deadlineMs: number): void {
    this.host?.kill();
    this.onExit(`a batch ran past ${Math.round(deadlineMs)} ms (batchTimeoutMs)`, 'hung');
  }

  private onMessage(msg: FromReplica): void {
    switch (msg.type) {
      case 'ready':
        this.loadMs = msg.loadMs;
        this.startMs = performance.now() - this.startedAt;
        this.setState('ready');
        this.watch();
        this.pollHealth();
        // Posted before any ingress hears of the replica, so its first call sees the new userConfig.
        if (this.userConfigOnReady) void this.reconfigure(this.userConfigOnReady.userConfig);
        this.userConfigOnReady = null;
        this.startWaiter?.resolve({ metadata: msg.metadata, omittedOutputs: msg.omittedOutputs, ...(msg.handler ? { handler: msg.handler } : {}) });
        this.startWaiter = null;
        return;
      case 'init-failed':
        this.fail(msg.message, msg.code);
        return;
      case 'batch-started':
        this.opts.counters.batchStarted(this.slot, msg.at);
        return;
      case 'batch-report': {
        const { counters } = this.opts;
        if (msg.finished) counters.batchFinished(this.slot, msg.finished.rows, msg.finished.ms, msg.finished.sources);
        if (msg.adapted) counters.batchAdapted(this.slot, msg.adapted.windowMs, msg.adapted.fixedMs, msg.adapted.perRowMs);
        if (msg.latenciesMs) counters.callsAnswered(this.slot, msg.latenciesMs);
        return;
      }
      case 'model-loaded':
        this.opts.held?.loaded(this.slot, msg.index);
        return;
      case 'model-evicted':
        this.opts.held?.evicted(this.slot, msg.index);
        return;
      case 'handle-call':
        this.callHandle(msg.id, msg.deployment, msg.inputs, msg.method === undefined ? undefined : { method: msg.method, body: msg.body }, msg);
        return;
      case 'handle-cancel':
        this.handleCalls.get(msg.id)?.cancel?.(new Error('the replica cancelled the call'));
        return;
      case 'health':
        this.onHealth(msg.id, msg.error);
        return;
      case 'reconfigured':
        this.reconfigured.shift()?.(msg.error);
        return;
    }
  }

  /** Runs one handle call for the replica's code and posts its answer back. */
  private callHandle(
    id: number,
    deployment: string,
    inputs: TensorMap,
    method: { method: string; body: unknown } | undefined,
    routing: { sessionId?: string; modelId?: string; traceparent?: string },
  ): void {
    const control: CallControl = {};
    if (routing.sessionId !== undefined) control.sessionId = routing.sessionId;
    if (routing.modelId !== undefined) control.modelId = routing.modelId;
    if (routing.traceparent !== undefined) control.traceparent = routing.traceparent;
    this.handleCalls.set(id, control);
    const post = (msg: ToReplica, transfer: ArrayBuffer[] = []) => {
      this.handleCalls.delete(id);
      try {
        this.host?.post(msg, transfer);
      } catch (err) {
        // An answer that cannot cross (a value the structured clone refuses) still answers the call.
        this.host?.post({ type: 'handle-answer', id, error: `the answer could not be sent to the replica: ${(err as Error).message}`, code: 'FERRY_ERR_INTERNAL', statusCode: 500 }, []);
      }
    };
    this.opts.handles(deployment, inputs, control, method).then(
      (answer) => {
        if (method) return post({ type: 'handle-answer', id, result: answer });
        const outputs = answer as TensorMap;
        // The calls of one batch get views of one buffer, each answered apart: only buffers an output owns whole go over.
        post({ type: 'handle-answer', id, outputs }, transferablesOf([outputs], true));
      },
      (err: Error & { code: string; statusCode: number }) => post({ type: 'handle-answer', id, error: err.message, code: err.code, statusCode: err.statusCode }),
    );
  }

  /** Asks a code deployment's replica for its health every period; a failed or late answer replaces it (Ray Serve's rule). */
  private pollHealth(): void {
    const health = this.opts.health;
    if (!health) return;
    this.healthTimer = setInterval(() => {
      if (this.healthWaiting || this._state !== 'ready') return;
      const id = ++this.healthSeq;
      const timer = setTimeout(() => this.unhealthy(`checkHealth did not answer within ${health.timeoutMs} ms`), health.timeoutMs);
      this.healthWaiting = { id, timer };
      this.host?.post({ type: 'check-health', id }, []);
    }, health.periodMs).unref();
  }

  private onHealth(id: number, error: string | null): void {
    if (this.healthWaiting?.id !== id) return;
    clearTimeout(this.healthWaiting.timer);
    this.healthWaiting = null;
    if (error !== null) this.unhealthy(`checkHealth failed: ${error}`);
  }

  private unhealthy(reason: string): void {
    if (this._state !== 'ready') return;
    this.host?.kill();
    this.onExit(reason, 'unhealthy');
  }

  /**
   * Applies a new userConfig to the replica (its handler's reconfigure);
   * resolves with the handler's error, or null. A replica still starting
   * (constructed with the userConfig it was started with) takes it once
   * ready, before it is announced; one stopping or dead has no use for it.
   */
  reconfigure(userConfig: unknown): Promise<string | null> {
    if (this._state === 'starting') {
      this.userConfigOnReady = { userConfig };
      return Promise.resolve(null);
    }
    if (this._state !== 'ready') return Promise.resolve(null);
    return new Promise((resolve) => {
      this.reconfigured.push(resolve);
      this.host!.post({ type: 'reconfigure', userConfig }, []);
    });
  }

  /** Sends a ready replica a new fixed batch window (see ReplicaMailbox.setWindow); one starting gets it from its spec. */
  setBatchWindow(maxBatchSize: number, batchWaitTimeoutMs: number): void {
    if (this._state === 'ready') this.host!.post({ type: 'batch-window', maxBatchSize, batchWaitTimeoutMs }, []);
  }

  private stopWatching(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    if (this.healthWaiting) clearTimeout(this.healthWaiting.timer);
    this.healthWaiting = null;
  }

  /** The replica is gone: its code's handle calls are given up, and reconfigure waits end. */
  private dropOwnCalls(): void {
    for (const control of this.handleCalls.values()) control.cancel?.(new Error('the calling replica is gone'));
    this.handleCalls.clear();
    for (const resolve of this.reconfigured.splice(0)) resolve(null);
  }

  private onExit(reason: string, cause: ReplicaLossCause = 'crashed'): void {
    this.stopWatching();
    this.dropOwnCalls();
    if (this._state === 'dead' || this._state === 'stopped') return;
    if (this.startWaiter) {
      this.fail(reason);
      return;
    }
    this.setState('dead');
    this.opts.onDeath(this, reason, cause);
  }

  /** Takes no new calls, waits until every ingress has its answers, then ends the host. */
  async stop(): Promise<void> {
    if (this._state === 'dead' || this._state === 'stopped') return;
    if (this.startWaiter) {
      this._startCancelled = true;
      this.fail('stopped while starting');
      return;
    }
    this.setState('stopping');
    while (this._state === 'stopping' && !this.abandoned && this.ongoing > 0) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    if (this._state === 'stopping') this._state = 'stopped';
    this.stopWatching();
    await this.host?.terminate();
    this.dropOwnCalls();
  }

  /** A stop() waiting for calls goes on now (a shutdown past its grace: the ingresses answered them already). */
  abandon(): void {
    this.abandoned = true;
  }

  /** Ends the host at once, as a crash would; the pool sees a death. */
  kill(): void {
    this.host?.kill();
  }

  /** A snapshot of this replica's counters. */
  stats(): ReplicaStats {
    const totals = this.opts.counters.batchTotals(this.slot);
    const adapted = this.opts.counters.adaptation(this.slot);
    const held = this.opts.held;
    const ids = this.opts.spec.multiplex?.modelIds ?? [];
    const modelCounts = held?.slotCounts(this.slot) ?? { loads: 0, evictions: 0 };
    return {
      id: this.id,
      state: this._state,
      host: this.opts.host,
      hostId: this.host?.id ?? -1,
      ongoing: this.ongoing,
      batches: totals.batches,
      rows: totals.rows,
      maxBatchRows: totals.maxBatchRows,
      mergedBatches: totals.mergedBatches,
      sessions: this.opts.counters.sessions(this.slot),
      batchWindowMs: adapted.windowMs,
      batchCostMs: { fixed: adapted.fixedMs, perRow: adapted.perRowMs },
      latencyP99Ms: percentileBound(this.opts.counters.latencyCounts(this.slot), 0.99),
      models: held ? held.held(this.slot).map((i) => ids[i]) : [],
      modelLoads: modelCounts.loads,
      modelEvictions: modelCounts.evictions,
      loadMs: Math.round(this.loadMs),
      startMs: Math.round(this.startMs),
    };
  }
}
