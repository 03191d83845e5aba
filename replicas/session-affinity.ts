import { epochMs, type DeploymentCounters } from './deployment-counters.js';
import { PowerOfTwoChoicesRouter, type ReplicaCandidate, type RequestRouter, type RouterContext, type RoutingRequest } from './request-router.js';
import { hash32, packPlace, placeGeneration, placeSlot, sessionKey, TABLE_FULL, type SessionTable } from './session-table.js';

/** A candidate as Ferry's own routers see it: where it sits in the deployment's shared memory. */
export interface SlotCandidate extends ReplicaCandidate {
  readonly slot: number;
  /** The slot's generation when this replica took it. */
  readonly generation: number;
}

/** A call's routing facts, with what session placement learned (for the replica's handler). */
export interface CallRouting extends RoutingRequest {
  /** The replica this call's session was on before it moved here (that replica died or was scaled away), else null. */
  movedFrom: string | null;
  /** True for the call that placed its session for the first time. */
  newSession: boolean;
}

/** How sticky sessions are placed. */
export interface SessionAffinityOptions {
  /** ε in the bounded-load rule: no replica takes more than ⌈(1 + ε) · sessions / replicas⌉ sessions. @default 0.25 */
  loadBound: number;
  /** A session unused this long gives up its place (ms). */
  idleTimeoutMs: number;
}

/** The first point on the ring (sorted) at or past hash `h`: where a key's walk starts (points.length wraps to 0). */
function ringStart(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Points each replica has on the hash ring: enough that sessions spread evenly over a few replicas. */
const POINTS_PER_REPLICA = 64;

/** Replica ids of places recently given up, kept to tell a handler where a moved session came from. */
const REMEMBERED_PLACES = 256;

/**
 * Sticky sessions: every call carrying one session key goes to one replica
 * while it lives, across ingress threads (the placement is in a
 * {@link SessionTable} in shared memory). A new session is placed by
 * consistent hashing with bounded loads (Mirrokni, Thorup and
 * Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2016): walking
 * the ring from the key's hash, the first replica holding fewer than
 * ⌈(1 + ε) · (S + 1) / n⌉ of the S sessions placed over n replicas. When
 * its replica dies or is scaled away, a session is placed again the same
 * way, and its next call carries `movedFrom`. A full replica keeps its
 * sessions: their calls wait for a place there. Calls without a session go
 * by power of two choices.
 */
export class SessionAffinityRouter implements RequestRouter {
  private readonly fallback: PowerOfTwoChoicesRouter;
  private ring: { points: Uint32Array; owners: SlotCandidate[] } | null = null;
  private ringOf: readonly SlotCandidate[] = [];
  private readonly idsByPlace = new Map<number, string>();
  private readonly only: SlotCandidate[] = [];

  constructor(
    private readonly context: RouterContext,
    private readonly table: SessionTable,
    private readonly counters: DeploymentCounters,
    private readonly opts: SessionAffinityOptions,
  ) {
    this.fallback = new PowerOfTwoChoicesRouter(context);
  }

  /** Remembers a replica's id by its place, so a session moving off it can say where it was. */
  remember(candidate: SlotCandidate): void {
    this.idsByPlace.set(packPlace(candidate.slot, candidate.generation), candidate.replicaId);
    if (this.idsByPlace.size > REMEMBERED_PLACES) this.idsByPlace.delete(this.idsByPlace.keys().next().value!);
  }

  chooseReplicas(candidates: readonly ReplicaCandidate[], request: RoutingRequest): readonly ReplicaCandidate[] {
    if (request.sessionId === null) return this.fallback.chooseReplicas(candidates);
    const call = request as CallRouting;
    const slots = candidates as readonly SlotCandidate[];
    const key = sessionKey(request.sessionId);
    const nowS = Math.floor(epochMs() / 1000);
    let place = this.table.find(key, nowS);
    for (let tries = 0; tries < 4; tries++) {
      const holder = place === 0 ? undefined : slots.find((c) => c.slot === placeSlot(place) && c.generation === placeGeneration(place));
      if (holder) return this.just(holder);
      if (slots.length === 0) return slots;
      const chosen = this.placeNew(slots, request.sessionId);
      const wanted = packPlace(chosen.slot, chosen.generation);
      const held = this.table.place(key, wanted, place, nowS, this.opts.idleTimeoutMs / 1000, (old) => this.release(old));
      if (held === TABLE_FULL) {
        // No room to record it without displacing a live session: it goes where the ring puts it, the same replica each call while the replicas stay.
        this.release(wanted);
        call.newSession = place === 0;
        return this.just(this.ringOwner(slots, request.sessionId));
      }
      if (held === wanted) {
        if (place === 0) call.newSession = true;
        else call.movedFrom = this.idsByPlace.get(place) ?? `replica in slot ${placeSlot(place)}`;
        return this.just(chosen);
      }
      // Another thread placed or moved the session first: its place holds, and ours is given back.
      this.release(wanted);
      place = held;
    }
    return this.fallback.chooseReplicas(candidates);
  }

  private just(candidate: SlotCandidate): readonly ReplicaCandidate[] {
    this.only.length = 0;
    this.only.push(candidate);
    return this.only;
  }

  /** A place given up: its replica's count drops, unless the slot has a new replica since (its count was cleared). */
  private release(place: number): void {
    const slot = placeSlot(place);
    if (this.counters.generation(slot) === placeGeneration(place)) this.counters.dropSession(slot);
  }

  /** The replica a session goes to: the first on the ring from its hash with fewer sessions than the bound. */
  private placeNew(candidates: readonly SlotCandidate[], sessionId: string): SlotCandidate {
    const ring = this.ringFor(candidates);
    let total = 0;
    for (const c of candidates) total += this.counters.sessions(c.slot);
    const cap = Math.ceil(((1 + this.opts.loadBound) * (total + 1)) / candidates.length);
    const lo = ringStart(ring.points, hash32(sessionId));
    // First a replica under the bound with a free place, so a new session does not queue behind a busy one; then any under the bound.
    for (const needRoom of [true, false]) {
      const seen = new Set<number>();
      for (let k = 0; k < ring.points.length && seen.size < candidates.length; k++) {
        const owner = ring.owners[(lo + k) % ring.points.length];
        if (seen.has(owner.slot)) continue;
        seen.add(owner.slot);
        if (needRoom && owner.ongoing >= this.context.maxOngoingRequests) continue;
        if (this.counters.tryAddSession(owner.slot, cap)) return owner;
      }
    }
    // Every replica at the bound (others placed sessions meanwhile): the least loaded takes it past the bound.
    let least = candidates[0];
    for (const c of candidates) if (this.counters.sessions(c.slot) < this.counters.sessions(least.slot)) least = c;
    this.counters.tryAddSession(least.slot, Number.MAX_SAFE_INTEGER);
    return least;
  }

  /** The first replica on the ring from the session's hash, whatever its load. */
  private ringOwner(candidates: readonly SlotCandidate[], sessionId: string): SlotCandidate {
    const ring = this.ringFor(candidates);
    return ring.owners[ringStart(ring.points, hash32(sessionId)) % ring.points.length];
  }

  private ringFor(candidates: readonly SlotCandidate[]): { points: Uint32Array; owners: SlotCandidate[] } {
    if (this.ring && this.ringOf.length === candidates.length && this.ringOf.every((c, i) => c === candidates[i])) return this.ring;
    const entries: [number, SlotCandidate][] = [];
    for (const c of candidates) for (let p = 0; p < POINTS_PER_REPLICA; p++) entries.push([hash32(`${c.replicaId}@${p}`), c]);
    entries.sort((a, b) => a[0] - b[0]);
    this.ring = { points: Uint32Array.from(entries, (e) => e[0]), owners: entries.map((e) => e[1]) };
    this.ringOf = [...candidates];
    return this.ring;
  }
}
