import t from 'tap';
import { PowerOfTwoChoicesRouter, type ReplicaCandidate } from '../replicas/index.js';

const r = (ongoing: number, replicaId = `d#${ongoing}`): ReplicaCandidate & { ongoing: number } => ({ ongoing, replicaId, modelIds: [] });
const p2c = (max: number, random?: () => number) => new PowerOfTwoChoicesRouter({ deployment: 'd', maxOngoingRequests: max }, random);
const first = (ranked: readonly ReplicaCandidate[]) => ranked[0] ?? null;

t.test('of two random choices, the one with fewer calls comes first, then the other, then the rest', async (t) => {
  const replicas = [r(5), r(1), r(9)];
  // random() picks index floor(x * 3), then a distinct second index.
  const seq = (...xs: number[]) => () => xs.shift()!;
  t.same(p2c(10, seq(0, 0)).chooseReplicas(replicas), [replicas[1], replicas[0], replicas[2]], 'choices 0 and 1: 1 has fewer');
  t.same(p2c(10, seq(0.9, 0.1)).chooseReplicas(replicas), [replicas[0], replicas[2], replicas[1]], 'choices 2 and 0: 0 has fewer');
  t.same(p2c(10, seq(0.9, 0.9)).chooseReplicas(replicas), [replicas[1], replicas[2], replicas[0]], 'choices 2 and 1: 1 has fewer');
});

t.test('full replicas are never offered', async (t) => {
  t.same(p2c(4).chooseReplicas([r(4), r(5)]), [], 'every one is full');
  const open = r(3);
  t.same(p2c(4).chooseReplicas([r(4), open, r(7)]), [open]);
  t.same(p2c(4).chooseReplicas([]), []);
});

t.test('over many calls the load spreads to the emptier replicas', async (t) => {
  // A fixed-seed generator, so the spread is the same every run.
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const router = p2c(1000, random);
  const replicas = [r(0, 'a'), r(0, 'b'), r(0, 'c'), r(0, 'd')];
  for (let i = 0; i < 400; i++) (first(router.chooseReplicas(replicas)) as { ongoing: number }).ongoing++;
  const counts = replicas.map((x) => x.ongoing);
  t.ok(Math.max(...counts) - Math.min(...counts) <= 3, `balanced: ${counts}`);
  const one = [r(0), r(0), r(0), r(0)];
  for (let i = 0; i < 400; i++) one[Math.floor(random() * 4)].ongoing++;
  const uniform = one.map((x) => x.ongoing);
  t.ok(Math.max(...counts) - Math.min(...counts) < Math.max(...uniform) - Math.min(...uniform), `tighter than one random choice (${uniform})`);
});
