import type { MessagePort } from 'node:worker_threads';
import { epochMs, type DeploymentCounters } from './deployment-counters.js';
import { createCall, type PendingCall } from './pending-call.js';
import { BackPressureError, InferenceError, PoolClosedError, ReplicaCrashedError } from './pool-errors.js';
import type { CallControl } from './pool-types.js';
import type { FromActor, RouteCall } from './protocol.js';
import { ReplicaLink } from './replica-link.js';
import { PowerOfTwoChoicesRouter, type RequestRouter } from './request-router.js';
import type { HeldModels } from './held-models.js';
import type { BuiltRouter } from './router-factory.js';
import type { CallRouting, SlotCandidate } from './session-affinity.js';
import type { TensorMap } from './tensor.js';

/** A call is handed back after its replica dies at most this many times. */
const MAX_RETRIES = 1;

/** How long a router with queued calls sleeps before looking again, should a wake be missed. */
const WAKE_CHECK_MS = 250;

/** What a router reports as answers arrive: the batch's figures (once per batch in the process) and its calls' queue waits. */
export interface AnswerObserver {
  answered(deployment: string, batch: FromActor['batch'], queueWaitsMs: readonly number[]): void;
}

/** Everything a router is given. */
export interface DeploymentRouterOptions {
  deployment: string;
  /** Calls one replica holds at most (`maxOngoingRequests`), over every ingress. */
  maxOngoing: number;
  /** Calls the deployment queues at most (`maxQueuedRequests`), over every ingress. */
  maxQueued: number;
  counters: DeploymentCounters;
  /** A call was queued while the deployment has no replica and wants none: the control plane should start one. */
  onDemand(): void;
  observer?: AnswerObserver;
  /** Orders the replicas for each call. @default power of two choices */
  requestRouter?: BuiltRouter;
  /**
   * Told why a router's answer was not used (it threw, or named a candidate
   * it was not given); the call went by power of two choices. Once a minute
   * at most for one reason.
   */
  onRouterError?(reason: string): void;
  /** A multiplexed deployment's table of the models each replica holds, and its model ids, for the candidates' `modelIds`. */
  heldModels?: { table: HeldModels; modelIds: readonly string[] } | null;
}

/** A router's answer is checked: an array, of candidates it was given. */
function rankedLinks(ranked: unknown, links: ReadonlySet<ReplicaLink>): ranked is readonly ReplicaLink[] {
  if (!Array.isArray(ranked)) return false;
  for (const r of ranked) if (!links.has(r as ReplicaLink)) return false;
  return true;
}

/**
 * One ingress's router for one deployment: admission into the deployment's
 * bounded queue, power of two choices over every replica by the calls each
 * holds (exact, from shared memory: every ingress's calls count),
 * cancellation, and one retry elsewhere for the calls of a replica that
 * dies. Every ingress thread has its own, over its own channels; the queue
 * bound and each replica's `maxOngoing` hold across all of them.
 */
export class DeploymentRouter {
  private readonly links = new Map<number, ReplicaLink>();
  private readonly open: ReplicaLink[] = [];
  private readonly openSet = new Set<ReplicaLink>();
  /** The ready links of one placement, reused: it runs for every call. */
  private readonly ready: ReplicaLink[] = [];
  private router: RequestRouter;
  private onReplicaUp: ((replica: SlotCandidate) => void) | undefined;
  private readonly fallback: PowerOfTwoChoicesRouter;
  /** When each router error was last reported (epoch ms), by reason. */
  private readonly reported = new Map<string, number>();
  /** The routing facts of every call that carries no session: one object, never written. */
  private readonly plain: CallRouting;
  private queue: PendingCall[] = [];
  private seq = 0;
  private waiting = false;
  private closed = false;
  private atZero = false;

  constructor(private readonly opts: DeploymentRouterOptions) {
    this.fallback = new PowerOfTwoChoicesRouter({ deployment: opts.deployment, maxOngoingRequests: opts.maxOngoing });
    this.router = opts.requestRouter?.router ?? this.fallback;
    this.onReplicaUp = opts.requestRouter?.onReplicaUp;
    this.plain = Object.freeze({ deployment: opts.deployment, sessionId: null, modelId: null, movedFrom: null, newSession: false }) as CallRouting;
  }

  private get counters(): DeploymentCounters {
    return this.opts.counters;
  }

  /** Routes later calls with `built` (a custom router once its module has loaded); replicas already up are told to it. */
  useRequestRouter(built: BuiltRouter): void {
    this.router = built.router;
    this.onReplicaUp = built.onReplicaUp;
    for (const link of this.open) this.onReplicaUp?.(link);
  }

  private routerError(reason: string): void {
    const now = Date.now();
    if (now - (this.reported.get(reason) ?? -Infinity) < 60_000) return;
    if (this.reported.size > 100) this.reported.clear();
    this.reported.set(reason, now);
    this.opts.onRouterError?.(reason);
  }

  /** Whether the deployment wants no replica now, so a queued call must ask for one. */
  setAtZero(atZero: boolean): void {
    this.atZero = atZero;
    if (atZero && this.queue.length > 0) this.opts.onDemand();
  }

  /**
   * Runs one call: `inputs` share dimension 0 (`rows`). Resolves with the
   * call's own outputs; rejects with BackPressureError when the deployment's
   * queue is full. `control.cancel`, set while the call is pending, gives up
   * on it: it leaves the queue, or its replica drops it unless it is running,
   * and the promise rejects with the given reason.
   */
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap> {
    return this.submit(inputs, rows, undefined, control) as Promise<TensorMap>;
  }

  /**
   * Calls one of a code deployment's own routes: the same queue, bound,
   * cancellation and retry as {@link infer}; resolves with what the
   * handler's method returned.
   */
  callRoute(route: RouteCall, control?: CallControl): Promise<unknown> {
    return this.submit({}, 1, route, control);
  }

  private submit(inputs: TensorMap, rows: number, route: RouteCall | undefined, control?: CallControl): Promise<unknown> {
    if (this.closed) return Promise.reject(new PoolClosedError(this.opts.deployment));
    const release = control?.release;
    if (control) control.release = undefined;
    return new Promise((resolve, reject) => {
      const call = createCall(
        ++this.seq,
        inputs,
        rows,
        epochMs(),
        resolve,
        reject,
        () => {
          if (control) control.cancel = undefined;
        },
        release,
        route,
        control?.sessionId === undefined && control?.modelId === undefined
          ? this.plain
          : { deployment: this.opts.deployment, sessionId: control?.sessionId ?? null, modelId: control?.modelId ?? null, movedFrom: null, newSession: false },
      );
      if (control?.served) call.served = control.served;
      if (control?.traceparent !== undefined) call.traceparent = control.traceparent;
      // Calls queued anywhere in the process go first: a call arriving here does not overtake them. Calls queued
      // here alone are placed first where they can; those left wait for their own replicas (a busy session's),
      // and this call may go where they cannot.
      const ownQueueOnly = this.queue.length === this.counters.queued;
      if (ownQueueOnly && this.queue.length > 0) this.dispatch();
      const link = ownQueueOnly ? this.pick(call) : null;
      if (link) link.send(call);
      else if (!this.counters.tryQueue(this.opts.maxQueued)) {
        call.reject(new BackPressureError(this.opts.deployment, this.counters.queued, this.opts.maxQueued));
        return;
      } else {
        this.queue.push(call);
        this.waitForRoom();
        if (this.atZero) this.opts.onDemand();
      }
      if (control) control.cancel = (reason) => this.cancel(call, reason);
    });
  }

  /** The replica the request router prefers for `call` that has room, its place claimed; null when none of those has. */
  private pick(call: PendingCall): ReplicaLink | null {
    const ready = this.ready;
    ready.length = 0;
    for (const link of this.open) if (link.state === 'ready') ready.push(link);
    if (ready.length === 0) return null;
    for (const link of this.rank(ready, call)) if (this.counters.tryClaim(link.slot, this.opts.maxOngoing)) return link;
    return null;
  }

  private rank(ready: readonly ReplicaLink[], call: PendingCall): readonly ReplicaLink[] {
    let ranked: unknown;
    try {
      ranked = this.router.chooseReplicas(ready, call.routing);
      if (rankedLinks(ranked, this.openSet)) return ranked;
    } catch (err) {
      this.routerError(`its chooseReplicas threw: ${err instanceof Error ? err.message : String(err)}`);
      return this.fallback.chooseReplicas(ready) as readonly ReplicaLink[];
    }
    this.routerError(`its chooseReplicas returned ${Array.isArray(ranked) ? 'a replica it was not given' : typeof ranked}, not an array of the candidates`);
    return this.fallback.chooseReplicas(ready) as readonly ReplicaLink[];
  }

  /** True while some ready replica has a free place (a call placed by affinity may still wait for its own). */
  private anyRoom(): boolean {
    for (const link of this.open) if (link.state === 'ready' && link.ongoing < this.opts.maxOngoing) return true;
    return false;
  }

  private cancel(call: PendingCall, reason: Error): void {
    if (call.settled) return;
    const link = call.holder === null ? null : this.links.get(call.holder.slot);
    if (call.holder === null) {
      const i = this.queue.indexOf(call);
      if (i >= 0) {
        this.queue.splice(i, 1);
        this.counters.unqueue(1);
      }
    } else if (link?.cancel(call)) {
      this.counters.release(link.slot, 1);
      this.counters.wake();
    }
    this.counters.countCancelled();
    call.reject(reason);
  }

  /**
   * Sends queued calls to the replicas their router prefers, in arrival
   * order; a call whose replicas are all full stays, and those behind it
   * that may go elsewhere go (a session waits for its own replica only).
   */
  private dispatch(): void {
    let kept: PendingCall[] | null = null;
    let i = 0;
    for (; i < this.queue.length && this.anyRoom(); i++) {
      const call = this.queue[i];
      const link = this.pick(call);
      if (link) {
        this.counters.unqueue(1);
        link.send(call);
        kept ??= this.queue.slice(0, i);
      } else kept?.push(call);
    }
    if (kept) this.queue = kept.concat(this.queue.slice(i));
  }

  /** While calls wait, dispatches whenever any ingress frees a place (or a replica becomes ready). */
  private waitForRoom(): void {
    if (this.waiting) return;
    this.waiting = true;
    // Nothing in the loop rejects: dispatch() only sends, and waitForWake() resolves on a wake or its timeout.
    void (async () => {
      while (this.queue.length > 0 && !this.closed) {
        const seen = this.counters.wakeSeq;
        this.dispatch();
        if (this.queue.length === 0) break;
        await this.counters.waitForWake(seen, WAKE_CHECK_MS);
      }
      this.waiting = false;
    })();
  }

  private onAnswers(link: ReplicaLink, msg: FromActor): void {
    let released = 0;
    const waits: number[] = [];
    const answered: [PendingCall, FromActor['answers'][number]][] = [];
    for (const a of msg.answers) {
      const call = link.held.get(a.id);
      if (!call) continue;
      link.held.delete(a.id);
      call.holder = null;
      // A call settled earlier (cancelled, timed out) is answered now: its replica is done with the inputs.
      if (call.settled) call.releaseInputs();
      released++;
      if (!('cancelled' in a)) {
        answered.push([call, a]);
        if (!call.settled) waits.push(msg.startedAt - call.enqueuedAt);
        if (call.served) {
          call.served.replica = link.replicaId;
          call.served.queueWaitMs = Math.max(0, msg.startedAt - call.enqueuedAt);
          call.served.batchRows = msg.rows ?? call.rows;
          call.served.enqueuedAt = call.enqueuedAt;
          call.served.startedAt = msg.startedAt;
          call.served.answeredAt = epochMs();
          call.served.inferenceMs = msg.inferenceMs ?? null;
        }
      }
    }
    this.counters.release(link.slot, released);
    // Places are free before any caller hears: queued calls (here or in another ingress) go first.
    this.counters.wake();
    this.dispatch();
    for (const [call, a] of answered) {
      if ('outputs' in a) call.resolve(a.outputs);
      else if ('result' in a) call.resolve(a.result);
      else if ('error' in a) call.reject(new InferenceError(this.opts.deployment, a.error, a.code, a.statusCode, a.passed === true));
    }
    if (msg.batch || waits.length > 0) this.opts.observer?.answered(this.opts.deployment, msg.batch, waits);
  }

  /** A replica is ready: calls may go to it over `port`. */
  replicaUp(slot: number, port: MessagePort, replicaId: string): void {
    const link = new ReplicaLink(slot, replicaId, port, this.opts.counters, (l, m) => this.onAnswers(l, m), this.opts.heldModels ?? null);
    this.links.set(slot, link);
    this.open.push(link);
    this.openSet.add(link);
    this.onReplicaUp?.(link);
    if (this.queue.length > 0) this.waitForRoom();
  }

  /**
   * A replica is gone (stopped, or dead: `reason` says why). Calls it held
   * unanswered go back to the head of the queue, once; a call that already
   * lost a replica fails with ReplicaCrashedError.
   */
  replicaGone(slot: number, reason: string): void {
    const link = this.links.get(slot);
    if (!link) return;
    this.links.delete(slot);
    this.open.splice(this.open.indexOf(link), 1);
    this.openSet.delete(link);
    link.close();
    const retry: PendingCall[] = [];
    for (const call of link.held.values()) {
      call.holder = null;
      if (call.settled) {
        call.releaseInputs();
        continue;
      }
      if (call.retries < MAX_RETRIES) {
        call.retries++;
        retry.push(call);
      } else call.reject(new ReplicaCrashedError(this.opts.deployment, reason));
    }
    link.held.clear();
    if (retry.length === 0) return;
    this.counters.countRetried(retry.length);
    if (this.closed) {
      for (const call of retry) call.reject(new ReplicaCrashedError(this.opts.deployment, reason));
      return;
    }
    // Retried calls were admitted already: they go first and ignore the queue bound.
    this.counters.forceQueue(retry.length);
    this.queue = [...retry, ...this.queue];
    this.waitForRoom();
  }

  /** Fails every queued call with `err` (no replica will come soon: its start failed). */
  failQueued(err: Error): void {
    const queued = this.queue;
    this.queue = [];
    this.counters.unqueue(queued.length);
    for (const call of queued) call.reject(err);
  }

  /** Stops taking calls. */
  /** A new bound on the deployment's queue (a config update): calls already queued stay; new ones are admitted against it. */
  setMaxQueued(maxQueued: number): void {
    this.opts.maxQueued = maxQueued;
  }

  close(): void {
    this.closed = true;
  }

  /**
   * Answers every call this router holds with `err` now, sent ones included
   * (their answers, if they come, are dropped), and gives their places back:
   * a shutdown past its grace answers rather than waits.
   */
  abandon(err: Error): void {
    this.closed = true;
    this.failQueued(err);
    for (const link of this.open) {
      this.counters.release(link.slot, link.held.size);
      for (const call of link.held.values()) call.reject(err);
      link.held.clear();
    }
  }
}
