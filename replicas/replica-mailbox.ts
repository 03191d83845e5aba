import { AdaptiveWindow } from './adaptive-window.js';
import { BatchQueue, type BatchQueueOptions } from './batch-queue.js';
import { BufferPool } from './buffer-pool.js';
import { epochMs } from './deployment-counters.js';
import type { Answer, FromActor, ToActor, WireCall } from './protocol.js';
import type { RunResult } from './replica-actor.js';
import { batchKeyOf, concatInputs, splitOutputs } from './tensor-batch.js';
import { transferablesOf, type TensorMap, type TypedArray } from './tensor.js';

/** Where a replica reports each batch: its counters (a thread) or its host (a process). */
export interface BatchGauges {
  /** A batch began (epoch ms). */
  started(at: number): void;
  /** It ended: `rows` rows in `ms` ms, with calls from `sources` ingresses. */
  finished(rows: number, ms: number, sources: number): void;
  /** Adaptive batching chose `windowMs`, from the batch cost it fits (ms = fixed + perRow · rows). */
  adapted?(windowMs: number, fixedMs: number, perRowMs: number): void;
  /** Calls were answered, each after this long in the replica (admission to answer, ms). */
  answered?(latenciesMs: number[]): void;
}

/** Sends an ingress (by its source number) the answers to its calls, handing over `transfer`. */
export type AnswerTo = (source: number, msg: FromActor, transfer: ArrayBuffer[]) => void;

interface MailCall extends WireCall {
  source: number;
  batchKey: string;
}

/** A call's outputs in buffers of their own, so they can be handed to one ingress while others get the rest. */
function ownCopy(outputs: TensorMap): TensorMap {
  const copy: TensorMap = {};
  for (const [name, t] of Object.entries(outputs)) copy[name] = { ...t, data: Array.isArray(t.data) ? t.data : (t.data.slice() as TypedArray) };
  return copy;
}

/**
 * A replica's mailbox: the calls every ingress sent it, merged into batches.
 * What arrives while a batch runs goes into the next one (up to
 * `maxBatchSize` rows, calls of one shape together); each ingress is
 * answered with its own calls' outputs. A batch onnxruntime rejects runs
 * again call by call, so only the call at fault fails.
 */
export class ReplicaMailbox {
  private readonly queue: BatchQueue<MailCall>;
  /** Calls still waiting, by source and id, so a cancel can take them out. */
  private readonly waiting = new Map<number, Map<number, MailCall>>();
  private readonly buffers = new BufferPool();
  private readonly options: BatchQueueOptions;
  private batches = true;
  /** Adaptive batching's window, when the deployment has a latency target. */
  private adaptive: AdaptiveWindow | null = null;
  private aloneSeq = 0;

  constructor(
    batching: { maxBatchSize: number; batchWaitTimeoutMs: number; targetLatencyMs?: number | null },
    /** Runs one batch, on the model its calls name where the deployment multiplexes. */
    private readonly run: (inputs: TensorMap, modelId?: string) => Promise<RunResult>,
    private readonly answer: AnswerTo,
    private readonly gauges: BatchGauges,
  ) {
    this.options = { maxBatchSize: batching.maxBatchSize, batchWaitTimeoutMs: batching.batchWaitTimeoutMs, now: epochMs };
    if (batching.targetLatencyMs) {
      const window = new AdaptiveWindow(batching.targetLatencyMs, batching.maxBatchSize);
      this.adaptive = window;
      this.options.hold = (rows, waited, now) => window.holdMs(rows, waited, now);
    }
    this.queue = new BatchQueue(this.options, (batch) => {
      // runBatch catches onnxruntime's errors; anything else (an answer that cannot be sent) fails the batch's calls, and the mailbox goes on.
      this.runBatch(batch).catch((err: Error) => {
        for (const c of batch) this.answer(c.source, { type: 'answers', answers: [{ id: c.id, error: err.message }], startedAt: 0 }, []);
        setImmediate(() => this.queue.markIdle());
      });
    });
  }

  /** Whether calls are concatenated along dimension 0 (the model's shapes and the config decide); if not, each runs alone. */
  configure(batches: boolean): void {
    this.batches = batches;
    if (!batches) {
      this.options.maxBatchSize = 1;
      this.options.batchWaitTimeoutMs = 0;
      delete this.options.hold;
      this.adaptive = null;
    }
  }

  /**
   * A new fixed batch window (a config update, applied in place): batches
   * flushed from now on take at most `maxBatchSize` rows and hold for at most
   * `batchWaitTimeoutMs`. A replica whose calls run alone stays so.
   */
  setWindow(maxBatchSize: number, batchWaitTimeoutMs: number): void {
    if (!this.batches || this.adaptive) return;
    this.options.maxBatchSize = maxBatchSize;
    this.options.batchWaitTimeoutMs = batchWaitTimeoutMs;
  }

  /** Takes a message an ingress sent over its channel. */
  receive(source: number, msg: ToActor): void {
    let waiting = this.waiting.get(source);
    if (!waiting) this.waiting.set(source, (waiting = new Map()));
    if (msg.type === 'calls') {
      const now = this.adaptive ? epochMs() : 0;
      for (const c of msg.calls) {
        const key = this.batches ? batchKeyOf(c.inputs) : `#${++this.aloneSeq}`;
        // Calls to different models of a multiplexed deployment never share a batch.
        const call: MailCall = { ...c, source, batchKey: c.modelId === undefined ? key : `${c.modelId}\0${key}` };
        waiting.set(c.id, call);
        this.adaptive?.arrived(c.rows, now);
        this.queue.put(call);
      }
      return;
    }
    const cancelled: Answer[] = [];
    for (const id of msg.ids) {
      const call = waiting.get(id);
      if (call && this.queue.remove(call)) cancelled.push({ id, cancelled: true });
      waiting.delete(id);
    }
    if (cancelled.length > 0) this.answer(source, { type: 'answers', answers: cancelled, startedAt: 0 }, []);
  }

  /** The ingress behind `source` is gone: its calls still waiting are dropped. */
  detach(source: number): void {
    for (const call of this.waiting.get(source)?.values() ?? []) this.queue.remove(call);
    this.waiting.delete(source);
  }

  private async runBatch(batch: MailCall[]): Promise<void> {
    for (const c of batch) this.waiting.get(c.source)?.delete(c.id);
    const startedAt = epochMs();
    this.gauges.started(startedAt);
    const { inputs } = concatInputs(batch, this.buffers);
    let result: RunResult | null = null;
    let error = '';
    try {
      result = await this.run(inputs, batch[0].modelId);
    } catch (err) {
      error = (err as Error).message;
    }
    for (const t of Object.values(inputs)) if (!Array.isArray(t.data)) this.buffers.give(t.data.buffer as ArrayBuffer);
    let rows = 0;
    const sources = new Set<number>();
    for (const c of batch) {
      rows += c.rows;
      sources.add(c.source);
    }
    const ranMs = epochMs() - startedAt;
    this.gauges.finished(rows, ranMs, sources.size);
    if (this.adaptive && result) {
      // A multiplexed model's load is no part of what a batch costs.
      this.adaptive.cost.observe(rows, ranMs - (result.loadMs ?? 0));
      this.gauges.adapted?.(this.adaptive.lastWindowMs, this.adaptive.cost.fixedMs, this.adaptive.cost.perRowMs);
    }
    if (!result) {
      if (batch.length > 1) this.runEachAlone(batch);
      else this.send(batch, [{ id: batch[0].id, error }], startedAt, null);
    } else if (batch.length === 1) {
      // A call that ran alone gets the outputs exactly as the model made them.
      this.send(batch, [{ id: batch[0].id, outputs: result.outputs }], startedAt, { rows, inferenceMs: result.inferenceMs });
    } else {
      let parts: TensorMap[] | null = null;
      try {
        parts = splitOutputs(result.outputs, batch.map((c) => c.rows));
      } catch {
        // The model's outputs were not batch-major after all (it declared them so): each call runs again alone.
        this.runEachAlone(batch);
      }
      if (parts) this.send(batch, batch.map((c, i) => ({ id: c.id, outputs: parts[i] })), startedAt, { rows, inferenceMs: result.inferenceMs });
    }
    // The next batch starts on the next turn, once what arrived during this one has been read off the channels.
    setImmediate(() => this.queue.markIdle());
  }

  /** Answers each ingress with its calls of the batch; the batch's own figures go to the first call's ingress only. */
  private send(batch: MailCall[], answers: Answer[], startedAt: number, figures: FromActor['batch'] | null): void {
    const now = epochMs();
    this.gauges.answered?.(batch.map((c) => now - c.enqueuedAt));
    const bySource = new Map<number, Answer[]>();
    batch.forEach((c, i) => {
      const list = bySource.get(c.source);
      if (list) list.push(answers[i]);
      else bySource.set(c.source, [answers[i]]);
    });
    const shared = bySource.size > 1;
    const rows = batch.reduce((n, c) => n + c.rows, 0);
    for (const [source, list] of bySource) {
      const own = shared ? list.map((a) => ('outputs' in a ? { id: a.id, outputs: ownCopy(a.outputs) } : a)) : list;
      const msg: FromActor = { type: 'answers', answers: own, startedAt, rows };
      if (figures) msg.inferenceMs = figures.inferenceMs;
      if (figures && source === batch[0].source) msg.batch = figures;
      this.answer(source, msg, transferablesOf(own.flatMap((a) => ('outputs' in a ? [a.outputs] : []))));
    }
  }

  private runEachAlone(batch: readonly MailCall[]): void {
    for (const call of batch) {
      call.batchKey = `alone#${++this.aloneSeq}`;
      this.waiting.get(call.source)?.set(call.id, call);
    }
    this.queue.putBack(batch);
  }
}
