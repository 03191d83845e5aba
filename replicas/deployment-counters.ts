/** What routers read of a replica's slot: only `READY` replicas take calls. */
export const SlotState = Object.freeze({ FREE: 0, STARTING: 1, READY: 2, DRAINING: 3, DEAD: 4 });

/** Int32 cells before the slots: calls queued in the deployment (all ingresses), the wake sequence, calls retried and cancelled. */
const HEADER_INTS = 4;
const QUEUED = 0;
const WAKE = 1;
const RETRIED = 2;
const CANCELLED = 3;
/** Int32 cells per slot: calls in flight, state, generation (bumped each time a replica takes the slot), sessions placed on it. */
const SLOT_INTS = 4;
const IN_FLIGHT = 0;
const STATE = 1;
const GENERATION = 2;
const SESSIONS = 3;
/** Upper bounds (ms) of the buckets of calls' time in a replica (queue and run); one more bucket holds the rest. */
export const REPLICA_LATENCY_BUCKETS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
/**
 * Float64 cells per slot: when the running batch began (epoch ms, 0 when
 * idle), the slowest batch, batches, rows, largest batch, batches merged from
 * several ingresses; adaptive batching's last window and its cost fit (fixed,
 * per row, in ms); then the histogram of calls' time in the replica.
 */
const BUSY_SINCE = 0;
const SLOWEST_MS = 1;
const BATCHES = 2;
const ROWS = 3;
const MAX_ROWS = 4;
const MERGED = 5;
const WINDOW_MS = 6;
const COST_FIXED_MS = 7;
const COST_PER_ROW_MS = 8;
const LATENCY = 9;
const SLOT_FLOATS = LATENCY + REPLICA_LATENCY_BUCKETS_MS.length + 1;

/** Milliseconds since the epoch with sub-millisecond precision; the same clock in every thread. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * One deployment's figures in shared memory, read and written by every
 * thread of the process without messages: the control plane, each ingress
 * thread's router and each replica thread. Calls in flight per replica and
 * calls queued per deployment change with Atomics (several writers); a
 * replica's batch figures have one writer (the replica, or the control plane
 * for a process replica), so plain stores do. A slot is a replica's place
 * in the buffer; the control plane hands slots out and takes them back.
 */
export class DeploymentCounters {
  readonly buffer: SharedArrayBuffer;
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  /** How many replicas the buffer has room for. */
  readonly slots: number;

  /** A new buffer with room for `slots` replicas, or a view on one another thread made with the same `slots`. */
  constructor(slots: number, buffer?: SharedArrayBuffer) {
    const intCount = HEADER_INTS + slots * SLOT_INTS;
    const floatOffset = Math.ceil((intCount * 4) / 8) * 8;
    this.slots = slots;
    this.buffer = buffer ?? new SharedArrayBuffer(floatOffset + slots * SLOT_FLOATS * 8);
    this.ints = new Int32Array(this.buffer, 0, intCount);
    this.floats = new Float64Array(this.buffer, floatOffset, slots * SLOT_FLOATS);
  }

  /** Calls waiting in the ingresses' queues for a replica with room. */
  get queued(): number {
    return Atomics.load(this.ints, QUEUED);
  }

  /**
   * Admits one call into the deployment's queue if fewer than `max` wait
   * (every ingress counts against the same bound); false when it is full.
   */
  tryQueue(max: number): boolean {
    // Compare-and-swap rather than add-then-undo: a refused call must never show in the count, even for an instant,
    // or the queue depth the autoscaler and /metrics read could exceed the bound.
    for (;;) {
      const now = Atomics.load(this.ints, QUEUED);
      if (now >= max) return false;
      if (Atomics.compareExchange(this.ints, QUEUED, now, now + 1) === now) return true;
    }
  }

  /** Counts calls into the queue past its bound (retried calls were admitted once already). */
  forceQueue(n: number): void {
    Atomics.add(this.ints, QUEUED, n);
  }

  /** Takes `n` calls off the queue count (they went to a replica or gave up). */
  unqueue(n: number): void {
    Atomics.sub(this.ints, QUEUED, n);
  }

  /** Calls handed to another replica after theirs died, by every ingress. */
  get retried(): number {
    return Atomics.load(this.ints, RETRIED);
  }

  /** Calls given up on (timeout or client gone) before they were answered, by every ingress. */
  get cancelled(): number {
    return Atomics.load(this.ints, CANCELLED);
  }

  countRetried(n: number): void {
    Atomics.add(this.ints, RETRIED, n);
  }

  countCancelled(): void {
    Atomics.add(this.ints, CANCELLED, 1);
  }

  /** The wake sequence: it changes whenever a replica may have room again. */
  get wakeSeq(): number {
    return Atomics.load(this.ints, WAKE);
  }

  /** Tells routers waiting with queued calls that a replica may have room (only when a call waits). */
  wake(): void {
    if (Atomics.load(this.ints, QUEUED) === 0) return;
    Atomics.add(this.ints, WAKE, 1);
    Atomics.notify(this.ints, WAKE);
  }

  /** Resolves once the wake sequence moves past `seen` (at once if it already has), or after `timeoutMs`. */
  async waitForWake(seen: number, timeoutMs: number): Promise<void> {
    const r = Atomics.waitAsync(this.ints, WAKE, seen, timeoutMs);
    if (r.async) await r.value;
  }

  /** Calls sent to the replica in `slot` and not yet answered. */
  inFlight(slot: number): number {
    return Atomics.load(this.ints, HEADER_INTS + slot * SLOT_INTS + IN_FLIGHT);
  }

  /**
   * Takes one of the replica's `max` places for a call; false when it is
   * full or no longer ready. The state is read again after the place is
   * taken, so a replica that begins draining meanwhile is never sent a call
   * after the control plane found it empty (both sides use sequentially
   * consistent Atomics).
   */
  tryClaim(slot: number, max: number): boolean {
    const cell = HEADER_INTS + slot * SLOT_INTS;
    if (Atomics.add(this.ints, cell + IN_FLIGHT, 1) < max && Atomics.load(this.ints, cell + STATE) === SlotState.READY) return true;
    Atomics.sub(this.ints, cell + IN_FLIGHT, 1);
    return false;
  }

  /** Gives back `n` places of the replica (answered calls). */
  release(slot: number, n: number): void {
    Atomics.sub(this.ints, HEADER_INTS + slot * SLOT_INTS + IN_FLIGHT, n);
  }

  state(slot: number): number {
    return Atomics.load(this.ints, HEADER_INTS + slot * SLOT_INTS + STATE);
  }

  setState(slot: number, state: number): void {
    Atomics.store(this.ints, HEADER_INTS + slot * SLOT_INTS + STATE, state);
  }

  /** Clears a slot for a new replica, which gets the slot's next generation and no session. */
  reset(slot: number, state: number): void {
    const cell = HEADER_INTS + slot * SLOT_INTS;
    Atomics.store(this.ints, cell + IN_FLIGHT, 0);
    Atomics.store(this.ints, cell + SESSIONS, 0);
    Atomics.add(this.ints, cell + GENERATION, 1);
    Atomics.store(this.ints, cell + STATE, state);
    this.floats.fill(0, slot * SLOT_FLOATS, (slot + 1) * SLOT_FLOATS);
  }

  /** How many replicas have taken the slot: a session placed on it names the generation it was placed with. */
  generation(slot: number): number {
    return Atomics.load(this.ints, HEADER_INTS + slot * SLOT_INTS + GENERATION);
  }

  /** Sessions placed on the slot's replica (idle ones included until their place is taken over). */
  sessions(slot: number): number {
    return Atomics.load(this.ints, HEADER_INTS + slot * SLOT_INTS + SESSIONS);
  }

  /** Counts a new session on the slot's replica if it holds fewer than `cap`; false when it is at the bound. */
  tryAddSession(slot: number, cap: number): boolean {
    const cell = HEADER_INTS + slot * SLOT_INTS + SESSIONS;
    for (;;) {
      const now = Atomics.load(this.ints, cell);
      if (now >= cap) return false;
      if (Atomics.compareExchange(this.ints, cell, now, now + 1) === now) return true;
    }
  }

  /** A session left the slot's replica (moved, or its idle place taken over). */
  dropSession(slot: number): void {
    const cell = HEADER_INTS + slot * SLOT_INTS + SESSIONS;
    for (;;) {
      const now = Atomics.load(this.ints, cell);
      if (now <= 0) return;
      if (Atomics.compareExchange(this.ints, cell, now, now - 1) === now) return;
    }
  }

  /** The replica began a batch (epoch ms). */
  batchStarted(slot: number, at: number): void {
    this.floats[slot * SLOT_FLOATS + BUSY_SINCE] = at;
  }

  /** The replica finished a batch of `rows` rows that took `ms` there, with calls from `sources` ingresses. */
  batchFinished(slot: number, rows: number, ms: number, sources: number): void {
    const f = slot * SLOT_FLOATS;
    if (sources > 1) this.floats[f + MERGED]++;
    this.floats[f + BUSY_SINCE] = 0;
    this.floats[f + SLOWEST_MS] = Math.max(this.floats[f + SLOWEST_MS], ms);
    this.floats[f + BATCHES]++;
    this.floats[f + ROWS] += rows;
    this.floats[f + MAX_ROWS] = Math.max(this.floats[f + MAX_ROWS], rows);
  }

  /** Adaptive batching's last window and its batch cost fit (time = fixed + perRow · rows), in ms. */
  batchAdapted(slot: number, windowMs: number, fixedMs: number, perRowMs: number): void {
    const f = slot * SLOT_FLOATS;
    this.floats[f + WINDOW_MS] = windowMs;
    this.floats[f + COST_FIXED_MS] = fixedMs;
    this.floats[f + COST_PER_ROW_MS] = perRowMs;
  }

  adaptation(slot: number): { windowMs: number; fixedMs: number; perRowMs: number } {
    const f = slot * SLOT_FLOATS;
    return { windowMs: this.floats[f + WINDOW_MS], fixedMs: this.floats[f + COST_FIXED_MS], perRowMs: this.floats[f + COST_PER_ROW_MS] };
  }

  /** Counts calls' time in the replica, from admission to answer (ms), into the slot's histogram. */
  callsAnswered(slot: number, latenciesMs: readonly number[]): void {
    const f = slot * SLOT_FLOATS + LATENCY;
    for (const ms of latenciesMs) {
      let b = 0;
      while (b < REPLICA_LATENCY_BUCKETS_MS.length && ms > REPLICA_LATENCY_BUCKETS_MS[b]) b++;
      this.floats[f + b]++;
    }
  }

  /** The slot's histogram of calls' time in the replica: counts per bucket of REPLICA_LATENCY_BUCKETS_MS, then past the last. */
  latencyCounts(slot: number): number[] {
    const f = slot * SLOT_FLOATS + LATENCY;
    return Array.from(this.floats.subarray(f, f + REPLICA_LATENCY_BUCKETS_MS.length + 1));
  }

  /** When the running batch began (epoch ms), or 0 when the replica is idle. */
  busySince(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + BUSY_SINCE];
  }

  /** The longest batch the replica has run, in ms. */
  slowestBatchMs(slot: number): number {
    return this.floats[slot * SLOT_FLOATS + SLOWEST_MS];
  }

  /** Batches run, rows run, the largest batch in rows, and batches that held calls from more than one ingress. */
  batchTotals(slot: number): { batches: number; rows: number; maxBatchRows: number; mergedBatches: number } {
    const f = slot * SLOT_FLOATS;
    return { batches: this.floats[f + BATCHES], rows: this.floats[f + ROWS], maxBatchRows: this.floats[f + MAX_ROWS], mergedBatches: this.floats[f + MERGED] };
  }
}
