import { AdaptiveWindow } from './adaptive-window.js';
import { BatchQueue, type BatchQueueOptions } from './batch-queue.js';
import { epochMs } from './deployment-counters.js';
import type { CallInfo } from './handler-types.js';
import type { HandlerActor, HandlerFailure } from './handler-actor.js';
import type { Answer, ToActor, WireCall } from './protocol.js';
import type { AnswerTo, BatchGauges } from './replica-mailbox.js';
import { transferablesOf, type TensorMap } from './tensor.js';

/** While user code holds calls, the replica tells its watchdog it is alive this often: only a blocked thread looks hung. */
const ALIVE_EVERY_MS = 100;

interface HandlerCall extends WireCall {
  source: number;
  batchKey: string;
  /** Aborted when the ingress gives up on the call; handle calls made for it are cancelled with it. */
  abort: AbortController;
  /** Answered as cancelled while user code still ran it: whatever that code returns later is dropped. */
  abandoned?: true;
}

/** A call's answer when user code failed (a HandlerFailure). */
function failed(id: number, err: unknown): Answer {
  const f = err as HandlerFailure;
  // A handle call's error passed through is answered as it came: it is the registry's already.
  return { id, error: f.message, code: f.code, statusCode: f.statusCode, ...(f.passed ? { passed: true as const } : {}) };
}

/** What the handler learns of a call besides its inputs. */
function infoOf(call: WireCall): CallInfo {
  return { session: call.session ?? null, traceparent: call.traceparent ?? null };
}

/**
 * A code deployment's mailbox. With `infer`, each call runs as it arrives,
 * concurrently with the others (the router bounds them at
 * maxOngoingRequests), as an async Ray actor runs its requests. With
 * `inferBatch`, calls are gathered into batches of up to maxBatchSize calls
 * (waiting at most batchWaitTimeoutMs) that run one at a time. A cancel
 * takes a call out if it has not started, or aborts the signal of one that
 * has, which cancels the handle calls it made.
 *
 * The watchdog reads a replica as hung when its batch runs past the
 * deadline; here "running" is refreshed every {@link ALIVE_EVERY_MS} while
 * the event loop turns, so awaiting another deployment never looks hung and
 * a thread blocked in user code (or in a model run) does.
 */
export class HandlerMailbox {
  private readonly waiting = new Map<number, Map<number, HandlerCall>>();
  private readonly running = new Map<HandlerCall, number>();
  private readonly queue: BatchQueue<HandlerCall>;
  private batched = false;
  private alive: NodeJS.Timeout | null = null;
  private readonly adaptive: AdaptiveWindow | null = null;
  private readonly options: BatchQueueOptions;

  constructor(
    batching: { maxBatchSize: number; batchWaitTimeoutMs: number; targetLatencyMs?: number | null },
    private readonly actor: HandlerActor,
    private readonly answer: AnswerTo,
    private readonly gauges: BatchGauges,
  ) {
    const options: BatchQueueOptions = { maxBatchSize: batching.maxBatchSize, batchWaitTimeoutMs: batching.batchWaitTimeoutMs, now: epochMs };
    this.options = options;
    // Adaptive batching counts calls as rows: inferBatch's batches are of calls.
    if (batching.targetLatencyMs) {
      const window = new AdaptiveWindow(batching.targetLatencyMs, batching.maxBatchSize);
      this.adaptive = window;
      options.hold = (rows, waited, now) => window.holdMs(rows, waited, now);
    }
    this.queue = new BatchQueue(options, (batch) => void this.runBatch(batch));
  }

  /** Whether calls go to inferBatch in batches (else each to infer as it comes). */
  configure(batched: boolean): void {
    this.batched = batched;
  }

  /** A new fixed batch window for inferBatch's batches (a config update, applied in place); adaptive windows keep their own. */
  setWindow(maxBatchSize: number, batchWaitTimeoutMs: number): void {
    if (this.adaptive) return;
    this.options.maxBatchSize = maxBatchSize;
    this.options.batchWaitTimeoutMs = batchWaitTimeoutMs;
  }

  /** Takes a message an ingress sent over its channel. */
  receive(source: number, msg: ToActor): void {
    let waiting = this.waiting.get(source);
    if (!waiting) this.waiting.set(source, (waiting = new Map()));
    if (msg.type === 'calls') {
      for (const c of msg.calls) {
        // Every call weighs one row here: maxBatchSize counts calls, as Ray's @serve.batch does.
        const call: HandlerCall = { ...c, rows: 1, source, batchKey: 'calls', abort: new AbortController() };
        waiting.set(c.id, call);
        // Route calls never batch: each is one method call.
        if (this.batched && !c.route) {
          this.adaptive?.arrived(1, epochMs());
          this.queue.put(call);
        }
        else void this.runOne(call);
      }
      return;
    }
    const cancelled: Answer[] = [];
    for (const id of msg.ids) {
      const call = waiting.get(id);
      if (!call) continue;
      if (this.running.has(call)) {
        // User code cannot be stopped, only told (the signal): the call is answered now so its place is free, as
        // Ray Serve's cancelled request is. Code that ignores the signal runs on, and its result is dropped.
        call.abort.abort(new Error('the request was cancelled'));
        call.abandoned = true;
        this.end([call], this.running.get(call)!);
        cancelled.push({ id, cancelled: true });
        continue;
      }
      if (this.queue.remove(call)) cancelled.push({ id, cancelled: true });
      waiting.delete(id);
    }
    if (cancelled.length > 0) this.answer(source, { type: 'answers', answers: cancelled, startedAt: 0 }, []);
  }

  /** The ingress behind `source` is gone: its calls still waiting are dropped, those running are aborted. */
  detach(source: number): void {
    for (const call of this.waiting.get(source)?.values() ?? []) {
      if (this.running.has(call)) call.abort.abort(new Error('the ingress is gone'));
      else this.queue.remove(call);
    }
    this.waiting.delete(source);
  }

  private begin(calls: HandlerCall[]): number {
    const at = epochMs();
    for (const c of calls) this.running.set(c, at);
    this.gauges.started(at);
    this.alive ??= setInterval(() => this.gauges.started(epochMs()), ALIVE_EVERY_MS);
    return at;
  }

  /** Counts the calls of `calls` still running as done (an abandoned one was counted when it was answered). */
  private end(calls: HandlerCall[], startedAt: number): void {
    const sources = new Set<number>();
    const latencies: number[] = [];
    const now = epochMs();
    for (const c of calls) {
      if (!this.running.delete(c)) continue;
      this.waiting.get(c.source)?.delete(c.id);
      sources.add(c.source);
      latencies.push(now - c.enqueuedAt);
    }
    const done = latencies.length;
    if (done === 0) return;
    this.gauges.answered?.(latencies);
    this.gauges.finished(done, epochMs() - startedAt, sources.size);
    if (this.running.size > 0) this.gauges.started(epochMs());
    else if (this.alive) {
      clearInterval(this.alive);
      this.alive = null;
    }
  }

  private async runOne(call: HandlerCall): Promise<void> {
    const startedAt = this.begin([call]);
    let answer: Answer;
    let transfer: ArrayBuffer[] = [];
    try {
      if (call.route) {
        const result = await this.actor.route(call.route, call.abort.signal, infoOf(call));
        answer = { id: call.id, result };
        if (typeof result !== 'string') transfer = [result.buffer as ArrayBuffer];
      } else {
        const outputs = await this.actor.call(call.inputs, call.abort.signal, infoOf(call));
        answer = { id: call.id, outputs };
        transfer = transferablesOf([outputs]);
      }
    } catch (err) {
      answer = failed(call.id, err);
      // A call that failed wants nothing more from the handle calls it made (a fan-out one of whose calls was refused).
      call.abort.abort(new Error('the request failed'));
    }
    if (call.abandoned) return;
    this.end([call], startedAt);
    this.answer(call.source, { type: 'answers', answers: [answer], startedAt, rows: call.rows }, transfer);
  }

  private async runBatch(batch: HandlerCall[]): Promise<void> {
    const startedAt = this.begin(batch);
    // One signal for the batch: it aborts only when every call of it was cancelled.
    const all = new AbortController();
    let left = batch.length;
    // Once every call of the batch is given up, the next batch may start: code that never settles holds no one else up.
    let released = false;
    const release = (reason: unknown) => {
      all.abort(reason);
      released = true;
      setImmediate(() => this.queue.markIdle());
    };
    for (const c of batch) c.abort.signal.addEventListener('abort', () => --left === 0 && release(c.abort.signal.reason), { once: true });
    let answers: Answer[];
    try {
      const outputs = await this.actor.batch(
        batch.map((c) => c.inputs),
        all.signal,
        batch.map(infoOf),
      );
      answers = batch.map((c, i) => ({ id: c.id, outputs: outputs[i] }));
      if (this.adaptive) {
        this.adaptive.cost.observe(batch.length, epochMs() - startedAt);
        this.gauges.adapted?.(this.adaptive.lastWindowMs, this.adaptive.cost.fixedMs, this.adaptive.cost.perRowMs);
      }
    } catch (err) {
      answers = batch.map((c) => failed(c.id, err));
      all.abort(new Error('the batch failed'));
    }
    this.end(batch, startedAt);
    const bySource = new Map<number, Answer[]>();
    batch.forEach((c, i) => c.abandoned || bySource.set(c.source, [...(bySource.get(c.source) ?? []), answers[i]]));
    const rows = batch.reduce((n, c) => n + c.rows, 0);
    for (const [source, list] of bySource) {
      this.answer(source, { type: 'answers', answers: list, startedAt, rows }, transferablesOf(list.flatMap((a) => ('outputs' in a ? [a.outputs] : []))));
    }
    if (!released) setImmediate(() => this.queue.markIdle());
  }
}
