/** Something the batcher can group: it counts rows and has a shape key. */
export interface Batchable {
  /** Rows this item contributes to a batch (dimension 0 of its inputs). */
  readonly rows: number;
  /** Items batch together only when their keys match (trailing dims of every input). */
  readonly batchKey: string;
  /** When the item entered the queue (ms, performance.now()). */
  readonly enqueuedAt: number;
}

/** Options for {@link BatchQueue}. */
export interface BatchQueueOptions {
  /** Most rows in one batch; one larger item is sent alone. @default 32 */
  maxBatchSize: number;
  /** How long the oldest item may wait for the batch to fill. @default 0 */
  batchWaitTimeoutMs: number;
  /** Clock in ms, the same one items' `enqueuedAt` comes from. @default performance.now */
  now?: () => number;
  /**
   * How much longer to hold a partial batch of `rows` rows whose oldest item
   * has waited `waitedMs` (0: send it now), chosen afresh each time; used
   * instead of `batchWaitTimeoutMs` when given (adaptive batching).
   */
  hold?: (rows: number, waitedMs: number, now: number) => number;
}

/**
 * A replica's mailbox. While the replica is idle, whatever is queued is
 * flushed on the next turn of the event loop (so calls that arrived together
 * go together); while it is busy, items accumulate. With a wait timeout
 * above 0, a partial batch is held until it fills or its oldest item has
 * waited that long.
 */
export class BatchQueue<T extends Batchable> {
  private items: T[] = [];
  private busy = false;
  private scheduled: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: BatchQueueOptions,
    private readonly flush: (batch: T[]) => void,
  ) {}

  /** Items waiting (not yet flushed). */
  get length(): number {
    return this.items.length;
  }

  /** Adds an item and schedules a flush if the replica is idle. */
  put(item: T): void {
    this.items.push(item);
    this.schedule();
  }

  /**
   * Puts items back at the head, in order, ahead of what waits (the calls of
   * a batch that failed, to run again); they go out on the next flush. Items
   * put back can be removed like any other.
   */
  putBack(items: readonly T[]): void {
    this.items = [...items, ...this.items];
    this.schedule();
  }

  /** Removes a waiting item (a cancelled call); false if it was already flushed. */
  remove(item: T): boolean {
    const i = this.items.indexOf(item);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /**
   * The replica finished its batch. What accumulated meanwhile goes out at
   * once, synchronously: those calls have already waited a whole batch, and
   * the replica should not sit idle while the finished batch's answers are
   * written. A wait window still holds a partial batch.
   */
  markIdle(): void {
    this.busy = false;
    if (this.items.length === 0) return;
    if (this.holdFor() <= 0 || this.queuedRows() >= this.opts.maxBatchSize) this.fire();
    else this.schedule();
  }

  /** How much longer the head's partial batch is held (ms): what is left of the wait window, or what `hold` decides. */
  private holdFor(): number {
    const now = (this.opts.now ?? performance.now.bind(performance))();
    const waited = now - this.items[0].enqueuedAt;
    if (this.opts.hold) return this.opts.hold(this.queuedRows(), waited, now);
    return this.opts.batchWaitTimeoutMs <= 0 ? 0 : this.opts.batchWaitTimeoutMs - waited;
  }

  /** Takes every waiting item out (the replica died or is stopping) and cancels pending flushes. */
  drain(): T[] {
    this.cancelTimers();
    const out = this.items;
    this.items = [];
    return out;
  }

  private cancelTimers(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    if (this.timer) clearTimeout(this.timer);
    this.scheduled = null;
    this.timer = null;
  }

  private queuedRows(): number {
    let rows = 0;
    for (const item of this.items) rows += item.rows;
    return rows;
  }

  private schedule(): void {
    if (this.busy || this.items.length === 0 || this.scheduled) return;
    if ((this.opts.batchWaitTimeoutMs <= 0 && !this.opts.hold) || this.queuedRows() >= this.opts.maxBatchSize) {
      this.fireSoon();
      return;
    }
    // A fixed window is set once; an adaptive one is chosen again at each arrival.
    if (this.timer && !this.opts.hold) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const hold = this.holdFor();
    if (hold <= 0) this.fireSoon();
    else this.timer = setTimeout(() => this.reconsider(), hold);
  }

  /** A hold ran out: a fixed window sends the batch; an adaptive one may hold it longer. */
  private reconsider(): void {
    this.timer = null;
    if (this.busy || this.items.length === 0) return;
    const hold = this.opts.hold ? this.holdFor() : 0;
    if (hold <= 0) this.fire();
    else this.timer = setTimeout(() => this.reconsider(), hold);
  }

  private fireSoon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.scheduled = setImmediate(() => this.fire());
  }

  private fire(): void {
    this.cancelTimers();
    if (this.busy || this.items.length === 0) return;
    const batch = this.take();
    this.busy = true;
    this.flush(batch);
  }

  /** Takes items with the head's batch key, in order, up to maxBatchSize rows (at least one). */
  private take(): T[] {
    const head = this.items[0];
    const batch: T[] = [head];
    const rest: T[] = [];
    let rows = head.rows;
    for (let i = 1; i < this.items.length; i++) {
      const item = this.items[i];
      if (item.batchKey === head.batchKey && rows + item.rows <= this.opts.maxBatchSize) {
        batch.push(item);
        rows += item.rows;
      } else {
        rest.push(item);
      }
    }
    this.items = rest;
    return batch;
  }
}
