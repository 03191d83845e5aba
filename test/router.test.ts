import t from 'tap';
import { pickReplica } from '../replicas/index.js';

const r = (ongoing: number, state = "ready") => ({ ongoing, state });

t.test('of two random choices, the one with fewer calls wins', async (t) => {
  const replicas = [r(5), r(1), r(9)];
  // random() picks index floor(x * 3), then a distinct second index.
  const seq = (...xs: number[]) => () => xs.shift()!;
  t.equal(pickReplica(replicas, 10, seq(0, 0)), replicas[1], 'choices 0 and 1: 1 has fewer');
  t.equal(pickReplica(replicas, 10, seq(0.9, 0.1)), replicas[0], 'choices 2 and 0: 0 has fewer');
  t.equal(pickReplica(replicas, 10, seq(0.9, 0.9)), replicas[1], 'choices 2 and 1: 1 has fewer');
});

t.test('full and non-ready replicas are never picked', async (t) => {
  t.equal(pickReplica([r(4), r(0, 'starting'), r(0, 'dead')], 4), null, 'the only ready one is full');
  const open = r(3);
  t.equal(pickReplica([r(4), open, r(0, 'stopping')], 4), open);
  t.equal(pickReplica([], 4), null);
});

t.test('over many calls the load spreads to the emptier replicas', async (t) => {
  // A fixed-seed generator, so the spread is the same every run.
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const replicas = [r(0), r(0), r(0), r(0)];
  for (let i = 0; i < 400; i++) pickReplica(replicas, 1000, random)!.ongoing++;
  const counts = replicas.map((x) => x.ongoing);
  t.ok(Math.max(...counts) - Math.min(...counts) <= 3, `balanced: ${counts}`);
  const one = [r(0), r(0), r(0), r(0)];
  for (let i = 0; i < 400; i++) one[Math.floor(random() * 4)].ongoing++;
  const uniform = one.map((x) => x.ongoing);
  t.ok(Math.max(...counts) - Math.min(...counts) < Math.max(...uniform) - Math.min(...uniform), `tighter than one random choice (${uniform})`);
});
