/**
 * 32-bit FNV-1a over a string's UTF-16 code units, then murmur3's finaliser
 * so that keys differing in one character spread over the whole range.
 */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A session's key in the table: 64 bits of its id's hash, never 0 (0 marks an empty entry). */
export function sessionKey(id: string): bigint {
  const key = BigInt.asIntN(64, (BigInt(hash32(id, 0x9e3779b9)) << 32n) | BigInt(hash32(id)));
  return key === 0n ? 1n : key;
}

/**
 * Where a session is placed: its replica's slot and that slot's generation
 * (a slot is reused by later replicas), packed in one Int32 so one atomic
 * store publishes both. Never 0: 0 marks an entry being written.
 */
export function packPlace(slot: number, generation: number): number {
  return ((generation & 0x7ffff) << 12) | ((slot + 1) & 0xfff);
}

export function placeSlot(place: number): number {
  return (place & 0xfff) - 1;
}

export function placeGeneration(place: number): number {
  return place >>> 12;
}

/** Entries looked at from a key's home entry before the table counts as full there. */
const PROBE = 32;

/** What {@link SessionTable.place} answers when every entry near a key holds a live session: the new one is not recorded. */
export const TABLE_FULL = -1;

/**
 * Which replica each session is placed on, in shared memory, so every
 * ingress thread (and the control plane's handle calls) sends one session's
 * calls to one replica. Open addressing with linear probing over 64-bit keys
 * (hashes of session ids); entries are claimed and moved by
 * compare-and-swap, so two threads placing one new session agree on one
 * replica. Entries are never emptied, only taken over once idle past the
 * timeout, so probing chains stay whole; a live session is never displaced
 * (when every entry near a new key is live, the new session is not
 * recorded: see TABLE_FULL). The sessions each replica holds
 * are counted beside its other figures (DeploymentCounters.sessions).
 */
export class SessionTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly keys: BigInt64Array;
  private readonly places: Int32Array;
  /** Epoch seconds of each entry's last use. */
  private readonly used: Int32Array;

  /** A new table for about `capacity` sessions (rounded up to a power of two), or a view on one another thread made with the same `capacity`. */
  constructor(capacity: number, buffer?: SharedArrayBuffer) {
    this.capacity = 2 ** Math.ceil(Math.log2(Math.max(PROBE, capacity)));
    const placeOffset = this.capacity * 8;
    this.buffer = buffer ?? new SharedArrayBuffer(placeOffset + this.capacity * 8);
    this.keys = new BigInt64Array(this.buffer, 0, this.capacity);
    this.places = new Int32Array(this.buffer, placeOffset, this.capacity);
    this.used = new Int32Array(this.buffer, placeOffset + this.capacity * 4, this.capacity);
  }

  private home(key: bigint): number {
    return Number(BigInt.asUintN(32, key)) & (this.capacity - 1);
  }

  /** The place recorded for `key` (see packPlace), or 0 when it has none; marks it used at `nowS` (epoch seconds). */
  find(key: bigint, nowS: number): number {
    const mask = this.capacity - 1;
    const home = this.home(key);
    for (let k = 0; k < PROBE; k++) {
      const e = (home + k) & mask;
      const at = Atomics.load(this.keys, e);
      if (at === 0n) return 0;
      if (at !== key) continue;
      const place = this.settled(e);
      // Taken over by another session between the two reads: this one is no longer here.
      if (Atomics.load(this.keys, e) !== key) return 0;
      Atomics.store(this.used, e, nowS);
      return place;
    }
    return 0;
  }

  /** An entry's place once its writer has published it (a store in another thread, a few instructions away). */
  private settled(e: number): number {
    for (;;) {
      const place = Atomics.load(this.places, e);
      if (place !== 0) return place;
    }
  }

  /**
   * Records `key` on `place`, where it was on `expected` (0: nowhere).
   * Returns the place that holds: `place`, or the one another thread
   * recorded first, which the caller adopts; TABLE_FULL when every entry
   * near the key holds a live session. `release(old)` is told of a
   * place given up (an idle session taken over, a session moved), so its
   * slot's count can drop.
   */
  place(key: bigint, place: number, expected: number, nowS: number, idleS: number, release: (old: number) => void): number {
    const mask = this.capacity - 1;
    const home = this.home(key);
    for (;;) {
      let free = -1;
      let found = -1;
      for (let k = 0; k < PROBE; k++) {
        const e = (home + k) & mask;
        const at = Atomics.load(this.keys, e);
        if (at === key) {
          found = e;
          break;
        }
        if (at === 0n) {
          if (free < 0) free = e;
          break;
        }
        if (free < 0 && nowS - Atomics.load(this.used, e) > idleS) free = e;
      }
      if (found >= 0) {
        const now = this.settled(found);
        if (now !== expected) return now;
        if (Atomics.compareExchange(this.places, found, now, place) !== now) continue;
        Atomics.store(this.used, found, nowS);
        if (now !== 0) release(now);
        return place;
      }
      // Not here: another thread may have moved or placed it since `expected` was read; a new place is claimed.
      if (free < 0) return TABLE_FULL;
      const e = free;
      const at = Atomics.load(this.keys, e);
      if (at === 0n) {
        if (Atomics.compareExchange(this.keys, e, 0n, key) !== 0n) continue;
      } else {
        // Taking over an idle session's entry: its place is zeroed first, so a reader of its key waits, then sees the key change.
        const old = this.settled(e);
        if (Atomics.compareExchange(this.places, e, old, 0) !== old) continue;
        if (Atomics.load(this.keys, e) !== at) {
          // Another thread took the entry over between the reads: it is theirs, put back.
          Atomics.store(this.places, e, old);
          continue;
        }
        Atomics.store(this.keys, e, key);
        release(old);
      }
      Atomics.store(this.used, e, nowS);
      Atomics.store(this.places, e, place);
      return place;
    }
  }
}
