import t from 'tap';
import { TABLE_FULL } from '../replicas/session-table.js';
import { DeploymentCounters, SlotState } from '../replicas/deployment-counters.js';
import { SessionAffinityRouter, SessionTable, sessionKey, type CallRouting, type SlotCandidate } from '../replicas/index.js';
import { hash32 } from '../replicas/session-table.js';

/** A deployment's shared memory with `n` ready replicas in slots 0..n-1, as a control plane sets it up. */
function deployment(n: number, loadBound = 0.25) {
  const counters = new DeploymentCounters(8);
  const table = new SessionTable(4096);
  const candidates: SlotCandidate[] = [];
  for (let slot = 0; slot < n; slot++) {
    counters.reset(slot, SlotState.READY);
    candidates.push({ slot, generation: counters.generation(slot), replicaId: `d#${slot + 1}`, ongoing: 0, modelIds: [] });
  }
  // Two routers over the same memory stand for two ingress threads.
  const router = () => {
    const r = new SessionAffinityRouter({ deployment: 'd', maxOngoingRequests: 8 }, new SessionTable(4096, table.buffer), counters, { loadBound, idleTimeoutMs: 600_000 });
    for (const c of candidates) r.remember(c);
    return r;
  };
  return { counters, candidates, router };
}

const call = (sessionId: string | null): CallRouting => ({ deployment: 'd', sessionId, modelId: null, movedFrom: null, newSession: false });

/** Session ids whose hashes all fall in one narrow arc of the ring: plain consistent hashing would put nearly all on one replica. */
function skewedIds(count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (hash32(`user-${i}`) < 2 ** 32 / 8192) ids.push(`user-${i}`);
  return ids;
}

t.test('every call of a session goes to one replica, whichever router (ingress thread) places it', async (t) => {
  const { candidates, router } = deployment(3);
  const a = router();
  const b = router();
  const first = call('s-1');
  const [placed] = a.chooseReplicas(candidates, first);
  t.ok(first.newSession, 'the first call placed the session');
  for (let i = 0; i < 20; i++) {
    const next = call('s-1');
    t.equal((i % 2 ? a : b).chooseReplicas(candidates, next)[0], placed);
    if (next.newSession || next.movedFrom !== null) t.fail('a later call neither places nor moves it');
  }
  t.equal(a.chooseReplicas(candidates, call(null)).length, 3, 'a call without a session may go anywhere (power of two choices)');
});

t.test('bounded loads: skewed keys spread with no replica past ⌈(1 + ε) · sessions / replicas⌉; unbounded, one replica takes most', async (t) => {
  const ids = skewedIds(200);
  const bounded = deployment(4);
  const r = bounded.router();
  for (const id of ids) r.chooseReplicas(bounded.candidates, call(id));
  const loads = bounded.candidates.map((c) => bounded.counters.sessions(c.slot));
  t.equal(loads.reduce((x, y) => x + y, 0), 200, 'every session counted once');
  t.ok(Math.max(...loads) <= Math.ceil((1.25 * 200) / 4), `each at most 63 (${loads})`);

  const unbounded = deployment(4, 100);
  const u = unbounded.router();
  for (const id of ids) u.chooseReplicas(unbounded.candidates, call(id));
  const skewed = unbounded.candidates.map((c) => unbounded.counters.sessions(c.slot));
  t.ok(Math.max(...skewed) >= 150, `without the bound the arc lands on one replica (${skewed})`);
});

t.test("a session whose replica is gone moves, says where from, and stays on its new replica; the others' stay put", async (t) => {
  const { counters, candidates, router } = deployment(3);
  const r = router();
  const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
  const before = new Map(ids.map((id) => [id, r.chooseReplicas(candidates, call(id))[0] as SlotCandidate]));
  const victim = candidates[1];
  counters.setState(victim.slot, SlotState.DEAD);
  const left = candidates.filter((c) => c !== victim);
  for (const id of ids) {
    const moved = call(id);
    const [now] = r.chooseReplicas(left, moved);
    if (before.get(id) === victim) {
      t.not(now, victim);
      t.equal(moved.movedFrom, 'd#2', `${id} moved, from d#2`);
      const again = call(id);
      t.equal(r.chooseReplicas(left, again)[0], now, 'and stays where it went');
      t.equal(again.movedFrom, null, 'which only its first call after the move is told');
    } else {
      t.equal(now, before.get(id), `${id} stays on its replica`);
      t.equal(moved.movedFrom, null);
    }
  }
  // The slot is reused by a new replica: the moved sessions' old places are stale, not the new replica's.
  counters.reset(victim.slot, SlotState.READY);
  t.equal(counters.sessions(victim.slot), 0, "a slot's new replica starts with no session");
  const fresh: SlotCandidate = { slot: victim.slot, generation: counters.generation(victim.slot), replicaId: 'd#4', ongoing: 0, modelIds: [] };
  for (const id of ids) t.not(r.chooseReplicas([...left, fresh], call(id))[0], fresh, 'placed sessions do not move to a new replica');
});

t.test('the table: keys agree across views, idle sessions give their place up, a live session is never displaced', async (t) => {
  const table = new SessionTable(32);
  const other = new SessionTable(32, table.buffer);
  const released: number[] = [];
  const key = sessionKey('k');
  t.equal(table.find(key, 100), 0, 'unknown');
  t.equal(table.place(key, 7, 0, 100, 60, (p) => released.push(p)), 7);
  t.equal(other.find(key, 101), 7, 'another view sees it');
  t.equal(other.place(key, 9, 0, 101, 60, (p) => released.push(p)), 7, 'placing it again from nowhere adopts the place that holds');
  t.equal(other.place(key, 9, 7, 102, 60, (p) => released.push(p)), 9, 'moving it from where it was works');
  t.same(released, [7], 'and gives the old place back');
  // 32 entries: fill them all with live sessions; the keys past that are not recorded, and none recorded is lost.
  const keys = Array.from({ length: 40 }, (_, i) => sessionKey(`fill-${i}`));
  const answers = keys.map((k, i) => table.place(k, 1 + (i % 5), 0, 200 + i, 1000, (p) => released.push(p)));
  t.equal(answers.filter((a) => a === TABLE_FULL).length, 40 - 31, 'the keys past what fits are refused');
  t.ok(keys.every((k, i) => answers[i] === TABLE_FULL || table.find(k, 300) === answers[i]), 'every recorded session keeps its place');
  t.same(released, [7], 'no live session gave its place up');
  // Past the idle timeout, a new key takes over an idle entry and its place is given back.
  t.equal(table.place(sessionKey('late'), 3, 0, 300 + 2000, 1000, (p) => released.push(p)) , 3);
  t.equal(released.length, 2, 'an idle session gave its place up');
});

t.test('edges: no replica to place on, a place forgotten, and many replicas remembered', async (t) => {
  const { counters, candidates, router } = deployment(2);
  const r = router();
  t.same(r.chooseReplicas([], call('lonely')), [], 'no ready replica: the session waits');
  const [first] = r.chooseReplicas(candidates, call('s')) as SlotCandidate[];
  // A router that never saw the replica the session was on (another thread's, long gone) names its slot.
  const forgetful = new SessionAffinityRouter({ deployment: 'd', maxOngoingRequests: 8 }, new SessionTable(4096, (r as unknown as { table: SessionTable }).table.buffer), counters, {
    loadBound: 0.25,
    idleTimeoutMs: 600_000,
  });
  counters.setState(first.slot, SlotState.DEAD);
  const moved = call('s');
  forgetful.chooseReplicas(candidates.filter((c) => c !== first), moved);
  t.equal(moved.movedFrom, `replica in slot ${first.slot}`);
  for (let i = 0; i < 300; i++) r.remember({ slot: i % 8, generation: i, replicaId: `d#${i}`, ongoing: 0, modelIds: [] });
  t.pass('remembering more replicas than it keeps forgets the oldest');
});

t.test('the table takes over a session idle past the timeout before one that is merely old', async (t) => {
  const table = new SessionTable(32);
  const released: number[] = [];
  const keys = Array.from({ length: 32 }, (_, i) => sessionKey(`idle-${i}`));
  keys.forEach((k, i) => table.place(k, 1 + i, 0, 100, 60, (p) => released.push(p)));
  const late = sessionKey('late');
  t.equal(table.place(late, 99, 0, 1000, 60, (p) => released.push(p)), 99, 'placed where an idle session was');
  t.equal(table.find(late, 1001), 99);
  t.equal(released.length, 1, 'the idle one gave its place back');
});

t.test('a full table: new sessions are not recorded, and each of their calls goes to the same replica by the ring; recorded ones stay', async (t) => {
  const counters = new DeploymentCounters(8);
  const candidates: SlotCandidate[] = [];
  for (let slot = 0; slot < 3; slot++) {
    counters.reset(slot, SlotState.READY);
    candidates.push({ slot, generation: counters.generation(slot), replicaId: `d#${slot + 1}`, ongoing: 0, modelIds: [] });
  }
  const router = new SessionAffinityRouter({ deployment: 'd', maxOngoingRequests: 8 }, new SessionTable(32), counters, { loadBound: 0.25, idleTimeoutMs: 600_000 });
  const first = new Map<string, SlotCandidate>();
  for (let i = 0; i < 80; i++) first.set(`s-${i}`, router.chooseReplicas(candidates, call(`s-${i}`))[0] as SlotCandidate);
  const counted = counters.sessions(0) + counters.sessions(1) + counters.sessions(2);
  t.ok(counted <= 32 && counted > 0, `no more recorded than the table holds (${counted} of 80)`);
  for (const id of first.keys()) {
    const again = call(id);
    t.equal(router.chooseReplicas(candidates, again)[0], first.get(id), `${id} stays where it went`);
    t.equal(again.movedFrom, null);
  }
});
