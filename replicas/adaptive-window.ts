/** Batches the cost fit looks back over. */
const FIT_BATCHES = 64;
/** Arrivals the rate estimate looks back over. */
const RATE_ARRIVALS = 64;
/** Share of the latency target the window plans to use: the fit is a mean, the target a tail. */
const TARGET_SHARE = 0.8;

/**
 * What a batch costs, fitted from the batches the replica ran: time =
 * fixed + perRow · rows, by least squares over the last 64 (BentoML's
 * adaptive batching fits the same line). Until two batch sizes have been
 * seen, the cost is taken as proportional to rows.
 */
export class BatchCostModel {
  private readonly rows: number[] = [];
  private readonly ms: number[] = [];
  fixedMs = 0;
  perRowMs = 0;

  /** True once a batch has been seen. */
  get known(): boolean {
    return this.rows.length > 0;
  }

  /** A batch of `rows` rows took `ms`. */
  observe(rows: number, ms: number): void {
    this.rows.push(rows);
    this.ms.push(ms);
    if (this.rows.length > FIT_BATCHES) {
      this.rows.shift();
      this.ms.shift();
    }
    this.fit();
  }

  /** Predicted time for a batch of `rows` rows (ms). */
  estimate(rows: number): number {
    return this.fixedMs + this.perRowMs * rows;
  }

  private fit(): void {
    const n = this.rows.length;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      sx += this.rows[i];
      sy += this.ms[i];
    }
    const mx = sx / n;
    const my = sy / n;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      sxx += (this.rows[i] - mx) ** 2;
      sxy += (this.rows[i] - mx) * (this.ms[i] - my);
    }
    // One batch size seen: nothing tells fixed from per row, so all of it counts per row (no wait is planned on it).
    if (sxx === 0) {
      this.fixedMs = 0;
      this.perRowMs = my / mx;
      return;
    }
    // Larger batches no slower: the cost is all fixed.
    if (sxy <= 0) {
      this.fixedMs = my;
      this.perRowMs = 0;
      return;
    }
    this.perRowMs = sxy / sxx;
    this.fixedMs = Math.max(0, my - this.perRowMs * mx);
  }
}

/**
 * Adaptive batching to a latency target (`batching.targetLatencyMs`): how
 * long to hold a partial batch of n rows for the next call, from the batch
 * cost (fixed + perRow · rows, fitted) and the arrival rate λ (rows/ms over
 * the last 64 arrivals). As BentoML's adaptive batching does, a replica
 * waits for one more arrival (1/λ ms) only when that pays: the n calls
 * waiting lose n/λ ms between them, and the batch saves the fixed cost a
 * separate batch would pay again — so it holds while n/λ ≤ fixed — and only
 * while the oldest call would still finish within 80% of the target
 * (waited + 1/λ + cost(n + 1): the fit is a mean, the target a tail). A full
 * batch, an idle stream or a model whose cost is all per row is sent at
 * once. The decision is taken again at every arrival.
 */
export class AdaptiveWindow {
  readonly cost = new BatchCostModel();
  private readonly arrivals: number[] = [];
  private readonly arrivalRows: number[] = [];
  /** The window the last batch sent was held for (ms): how long its oldest call waited once the replica chose to wait; 0 when it went at once. For metrics. */
  lastWindowMs = 0;
  /** True while the batch being gathered has been held at least once. */
  private holding = false;

  constructor(
    private readonly targetLatencyMs: number,
    private readonly maxBatchSize: number,
  ) {}

  /** `rows` rows arrived at `at` (epoch ms). */
  arrived(rows: number, at: number): void {
    this.arrivals.push(at);
    this.arrivalRows.push(rows);
    if (this.arrivals.length > RATE_ARRIVALS) {
      this.arrivals.shift();
      this.arrivalRows.shift();
    }
  }

  /** Rows per ms arriving lately; 0 with fewer than two arrivals, or when the last was long ago. */
  rate(now: number): number {
    const n = this.arrivals.length;
    if (n < 2) return 0;
    const span = Math.max(now, this.arrivals[n - 1]) - this.arrivals[0];
    if (span <= 0) return 0;
    let rows = 0;
    for (let i = 1; i < n; i++) rows += this.arrivalRows[i];
    return rows / span;
  }

  /** How much longer (ms) to hold a partial batch of `rows` rows whose oldest call has waited `waitedMs`; 0 to send it now. */
  holdMs(rows: number, waitedMs: number, now: number): number {
    let hold = 0;
    const lambda = this.rate(now);
    if (this.cost.known && lambda > 0 && rows < this.maxBatchSize) {
      const next = 1 / lambda;
      const pays = rows * next <= this.cost.fixedMs;
      const inTime = waitedMs + next + this.cost.estimate(rows + 1) <= TARGET_SHARE * this.targetLatencyMs;
      if (pays && inTime) hold = next;
    }
    if (hold > 0) this.holding = true;
    else {
      this.lastWindowMs = this.holding ? waitedMs : 0;
      this.holding = false;
    }
    return hold;
  }
}
