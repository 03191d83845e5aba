/** Int32 cells before the slots: loads and evictions over the deployment's life (every replica). */
const HEADER_INTS = 2;
const LOADS_TOTAL = 0;
const EVICTIONS_TOTAL = 1;
/** Int32 cells per slot before its bitset: loads, evictions, models held. */
const SLOT_HEAD = 3;
const LOADS = 0;
const EVICTIONS = 1;
const COUNT = 2;

/**
 * Which of a multiplexed deployment's models each replica holds, in shared
 * memory: one bit per model (by its index in the deployment's list) per
 * replica slot, with the replica's load and eviction counts. The replica (a
 * thread, or the control plane for a process) is the only writer of its
 * slot; every ingress thread's router reads it to send a call where its
 * model is loaded already.
 */
export class HeldModels {
  readonly buffer: SharedArrayBuffer;
  private readonly ints: Int32Array;
  private readonly words: number;

  /** A new table for `slots` replicas and `models` models, or a view on one made with the same figures. */
  constructor(
    readonly slots: number,
    readonly models: number,
    buffer?: SharedArrayBuffer,
  ) {
    this.words = Math.ceil(models / 32);
    const length = HEADER_INTS + slots * (SLOT_HEAD + this.words);
    this.buffer = buffer ?? new SharedArrayBuffer(length * 4);
    this.ints = new Int32Array(this.buffer, 0, length);
  }

  private base(slot: number): number {
    return HEADER_INTS + slot * (SLOT_HEAD + this.words);
  }

  /** Forgets what the slot held: a new replica takes it. */
  clear(slot: number): void {
    const at = this.base(slot);
    for (let i = 0; i < SLOT_HEAD + this.words; i++) Atomics.store(this.ints, at + i, 0);
  }

  /** The replica loaded model `index`. */
  loaded(slot: number, index: number): void {
    const at = this.base(slot);
    Atomics.or(this.ints, at + SLOT_HEAD + (index >>> 5), 1 << (index & 31));
    Atomics.add(this.ints, at + COUNT, 1);
    Atomics.add(this.ints, at + LOADS, 1);
    Atomics.add(this.ints, LOADS_TOTAL, 1);
  }

  /** The replica let model `index` go (its session released) to make room. */
  evicted(slot: number, index: number): void {
    const at = this.base(slot);
    Atomics.and(this.ints, at + SLOT_HEAD + (index >>> 5), ~(1 << (index & 31)));
    Atomics.sub(this.ints, at + COUNT, 1);
    Atomics.add(this.ints, at + EVICTIONS, 1);
    Atomics.add(this.ints, EVICTIONS_TOTAL, 1);
  }

  /** Whether the replica in `slot` holds model `index`. */
  holds(slot: number, index: number): boolean {
    return (Atomics.load(this.ints, this.base(slot) + SLOT_HEAD + (index >>> 5)) & (1 << (index & 31))) !== 0;
  }

  /** How many models the replica in `slot` holds. */
  count(slot: number): number {
    return Atomics.load(this.ints, this.base(slot) + COUNT);
  }

  /** The indices of the models the replica in `slot` holds, in index order. */
  held(slot: number): number[] {
    const out: number[] = [];
    const at = this.base(slot) + SLOT_HEAD;
    for (let w = 0; w < this.words; w++) {
      const bits = Atomics.load(this.ints, at + w);
      if (bits === 0) continue;
      for (let b = 0; b < 32; b++) if (bits & (1 << b)) out.push(w * 32 + b);
    }
    return out;
  }

  /** The replica's loads and evictions since it took the slot. */
  slotCounts(slot: number): { loads: number; evictions: number } {
    const at = this.base(slot);
    return { loads: Atomics.load(this.ints, at + LOADS), evictions: Atomics.load(this.ints, at + EVICTIONS) };
  }

  /** Loads and evictions over every replica the deployment has had. */
  totals(): { loads: number; evictions: number } {
    return { loads: Atomics.load(this.ints, LOADS_TOTAL), evictions: Atomics.load(this.ints, EVICTIONS_TOTAL) };
  }
}
