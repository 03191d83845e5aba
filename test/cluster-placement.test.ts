import t from 'tap';
import { place, type NodeOffer } from '../cluster/placement.js';

const nodes = (...cpus: number[]): NodeOffer[] => cpus.map((c, i) => ({ id: `n${i + 1}`, cpus: c, gpus: 0 }));
const want = (deployment: string, replicas: number, cpus = 1, gpus = 0) => ({ deployment, replicas, resources: { cpus, gpus } });

t.test('new replicas spread over the nodes: fewest of the deployment first, then the most cpus free', async (t) => {
  t.same(place([want('mlp', 4)], nodes(4, 4)).assignment, { mlp: { n1: 2, n2: 2 } });
  t.same(place([want('mlp', 3)], nodes(2, 4)).assignment, { mlp: { n2: 2, n1: 1 } }, 'the tie at one each goes to the node with more room');
  t.same(place([want('a', 2), want('b', 2)], nodes(2, 2)).assignment, { a: { n1: 1, n2: 1 }, b: { n1: 1, n2: 1 } });
});

t.test('what fits nowhere is pending; gpus count as cpus do', async (t) => {
  const p = place([want('big', 3, 2)], nodes(3, 2));
  t.same(p.assignment, { big: { n1: 1, n2: 1 } });
  t.same(p.pending, { big: 1 });
  const gpu = place([want('cuda', 2, 1, 1)], [{ id: 'g', cpus: 8, gpus: 1 }, { id: 'c', cpus: 8, gpus: 0 }]);
  t.same([gpu.assignment, gpu.pending], [{ cuda: { g: 1 } }, { cuda: 1 }]);
  t.same(place([want('x', 2)], []).pending, { x: 2 }, 'no node at all');
  t.same(place([want('x', 0)], nodes(1)), { assignment: { x: {} }, pending: {} });
  t.same(place([want('frac', 3, 0.1)], nodes(0.3)).assignment, { frac: { n1: 3 } }, 'fractions that add up exactly fit');
});

t.test('a new assignment keeps what runs; a node gone has its replicas placed on the others', async (t) => {
  const before = { mlp: { n1: 1, n2: 2 } };
  t.same(place([want('mlp', 3)], nodes(4, 4), before).assignment, { mlp: { n1: 1, n2: 2 } }, 'nothing moves');
  t.same(place([want('mlp', 3)], nodes(4, 4, 4), before).assignment, { mlp: { n1: 1, n2: 2 } }, 'a new node takes nothing running');
  t.same(place([want('mlp', 3)], [{ id: 'n1', cpus: 4, gpus: 0 }, { id: 'n3', cpus: 4, gpus: 0 }], before).assignment, { mlp: { n1: 2, n3: 1 } }, "n2's two go where fewest are");
  t.same(place([want('mlp', 1)], nodes(4, 4), before).assignment, { mlp: { n1: 1 } }, 'scaling down takes from the node with most');
  t.same(place([want('mlp', 2)], nodes(4, 4), { mlp: { n1: 2, n2: 2 } }).assignment, { mlp: { n1: 1, n2: 1 } });
  t.same(place([want('a', 1), want('b', 2)], nodes(2), { b: { n1: 2 } }).assignment, { a: {}, b: { n1: 2 } }, 'a deployment placed first cannot take a running replica\'s room');
  t.same(place([want('mlp', 2)], nodes(1), { mlp: { n1: 2 } }), { assignment: { mlp: { n1: 1 } }, pending: { mlp: 1 } }, 'a node that shrank keeps what still fits');
  const short = place([want('big', 3, 2)], nodes(4));
  t.same([short.assignment, short.pending], [{ big: { n1: 2 } }, { big: 1 }], 'one node: one pending');
  t.same(place([want('big', 3, 2)], nodes(4, 4), short.assignment), { assignment: { big: { n1: 2, n2: 1 } }, pending: {} }, 'a node that joins takes the pending one; the running two stay');
});

t.test('a thousand replicas over a hundred nodes: every one placed, evenly', async (t) => {
  const many = Array.from({ length: 100 }, (_, i) => ({ id: `n${String(i).padStart(3, '0')}`, cpus: 16, gpus: 0 }));
  const p = place([want('a', 600), want('b', 400, 2)], many);
  t.same(p.pending, {});
  const per = many.map((n) => (p.assignment.a[n.id] ?? 0) + (p.assignment.b[n.id] ?? 0));
  t.same([Math.min(...per), Math.max(...per)], [10, 10]);
  const dead = new Set(many.slice(0, 10).map((n) => n.id));
  const after = place([want('a', 600), want('b', 400, 2)], many.filter((n) => !dead.has(n.id)), p.assignment);
  t.same(after.pending, {}, 'ten nodes gone: their replicas fit on the rest');
  for (const d of ['a', 'b']) for (const [node, n] of Object.entries(p.assignment[d])) if (!dead.has(node)) t.ok(after.assignment[d][node] >= n, `${d} on ${node} stays`);
});

t.test('a cluster replay: node deaths seen within a heartbeat TTL, replaced at the next pass, queued requests while short', async (t) => {
  const { simulateCluster } = await import('../cluster/cluster-simulation.js');
  const timing = { heartbeatTtlMs: 3000, heartbeatEveryMs: 1000, controlIntervalMs: 500, lockTtlMs: 3000 };
  const base = { nodes: 4, cpusPerNode: 4, replicas: 12, replicaRps: 100, coldStartMs: 1000, durationMs: 20_000, timing };
  const spare = simulateCluster({ ...base, rps: 800, deaths: [{ atMs: 1000, nodes: 1 }] });
  const [death] = spare.deaths;
  t.equal(death.replicasLost, 3);
  t.ok(death.replacedAfterMs >= timing.heartbeatTtlMs - timing.heartbeatEveryMs && death.replacedAfterMs <= timing.heartbeatTtlMs + timing.controlIntervalMs, `replaced after ${death.replacedAfterMs} ms`);
  t.equal(death.servingAfterMs, death.replacedAfterMs + base.coldStartMs, 'serving once a cold start is over');
  t.equal(spare.peakQueued, 0, 'nine replicas carry 800 req/s: nothing queues');
  t.ok(spare.retried > 0, 'the dead replicas\' calls are retried');
  const tight = simulateCluster({ ...base, rps: 1150, deaths: [{ atMs: 1000, nodes: 1 }] });
  t.ok(tight.peakQueued > 0 && tight.queuedRequestSeconds > 0, `short of capacity while replaced: ${tight.peakQueued} queued at most`);
  const full = simulateCluster({ ...base, rps: 100, deaths: [{ atMs: 1000, nodes: 2 }] });
  t.same([full.deaths[0].pending, full.deaths[0].servingAfterMs], [4, null], 'what fits nowhere is pending');
});

t.test('ferry simulate --cluster prints each death and the queue; --json gives the figures', async (t) => {
  const { ferry } = await import('./helpers/cli.js');
  const run = ferry(['simulate', '--cluster', '--nodes', '10', '--replicas', '100', '--rps', '2490', '--deaths', '2', '--every-ms', '4000']);
  t.equal(await run.exit, 0, run.err());
  t.match(run.out(), /10 nodes × 16 cpus, 100 replicas, 2490 req\/s offered \(25 per replica\), cold start 2000 ms/);
  t.match(run.out(), /t=2\.0 s node-\d+ died with 10 replicas: placed again after [\d.]+ s, serving again after [\d.]+ s/);
  t.match(run.out(), /requests queued meanwhile: \d+ at most/);
  const json = ferry(['simulate', '--cluster', '--nodes', '3', '--cpus-per-node', '2', '--replicas', '6', '--deaths', '1', '--json']);
  t.equal(await json.exit, 0, json.err());
  const figures = JSON.parse(json.out());
  t.match(figures, { scenario: { nodes: 3, replicas: 6 }, deaths: [{ replicasLost: 2, pending: 2, servingAfterMs: null }] });
  t.ok(Math.abs(figures.scenario.rps - 6 * 25 * 0.996) < 1e-9, `the load offered follows the replicas when --rps is not given (${figures.scenario.rps})`);
  const bad = ferry(['simulate', '--cluster', '--nodes=-1']);
  t.equal(await bad.exit, 1);
  t.match(bad.err(), /--nodes must be a non-negative number/);
  const both = ferry(['simulate', '--cluster', '--trace', 'x.csv']);
  t.equal(await both.exit, 1);
  t.match(both.err(), /--cluster replays node deaths, not a trace: give one or the other/);
});
