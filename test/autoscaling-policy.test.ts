import t from 'tap';
import { decide, INITIAL_POLICY_STATE, resolveAutoscaling, scaledDesired, type PolicyState } from '../autoscaler/index.js';

const config = (over = {}) =>
  resolveAutoscaling({ minReplicas: 1, maxReplicas: 10, targetOngoingRequests: 4, upscaleDelayMs: 3000, downscaleDelayMs: 10000, ...over });

t.test('the ratio formula: ceil(running × total / (target × running)), scaled by the factors', async (t) => {
  const rows: [number, number, object, number, string][] = [
    [8, 1, {}, 2, 'twice the target on one replica → 2'],
    [9, 2, {}, 3, '9 requests / (4 × 2) = 1.125 → ceil(2.25) = 3'],
    [8, 2, {}, 2, 'exactly on target → no change'],
    [0, 4, {}, 0, 'no load → 0 before clamping'],
    [2, 4, {}, 1, '2 requests on 4 replicas → ceil(0.5) = 1'],
    [40, 2, { upscalingFactor: 0.5 }, 6, 'wants 10; half of the +8 step → 6'],
    [4, 4, { downscalingFactor: 0.5 }, 3, 'wants 1; half of the −3 step → ceil(2.5) = 3'],
    [3, 2, { downscalingFactor: 0.1 }, 1, 'wants 0.75 → 1; a 0.1 factor would round back to 2, so one step down instead'],
    [7, 2, { downscalingFactor: 0.1 }, 2, 'wants 1.75, which rounds up to the current 2: no change'],
  ];
  for (const [total, running, over, want, why] of rows) t.equal(scaledDesired(total, running, config(over)), want, why);
});

/** Runs ticks of `dt` ms with the given loads, applying each decision, and returns the replica counts. */
function run(loads: number[], over = {}, start = 1, dt = 1000): { counts: number[]; reasons: string[] } {
  const c = config(over);
  let state: PolicyState = INITIAL_POLICY_STATE;
  let target = start;
  const counts: number[] = [];
  const reasons: string[] = [];
  loads.forEach((totalRequests, i) => {
    const d = decide({ config: c, targetReplicas: target, runningReplicas: target, totalRequests, state, now: i * dt });
    state = d.state;
    target = d.desiredReplicas;
    counts.push(target);
    reasons.push(d.reason);
  });
  return { counts, reasons };
}

t.test('upscaling waits for upscaleDelayMs of sustained need', async (t) => {
  const { counts, reasons } = run([16, 16, 16, 16, 16]);
  t.same(counts, [1, 1, 1, 4, 4], 'applied at the tick where 3 s have passed');
  t.match(reasons[1], /wait: up held 1\.0s of 3\.0s/);
  t.match(reasons[3], /scale up 1 → 4 after 3\.0s/);
});

t.test('a change of direction restarts the wait', async (t) => {
  const { counts } = run([16, 16, 0, 16, 16, 16, 16], { downscaleDelayMs: 1000 }, 2);
  // Tick 2 wants down (a new direction), so the up wait starts again at tick 3.
  t.same(counts, [2, 2, 2, 2, 2, 2, 4]);
});

t.test('a need that goes away resets the wait', async (t) => {
  const { counts } = run([16, 16, 4, 16, 16, 16, 16]);
  t.same(counts, [1, 1, 1, 1, 1, 1, 4], 'the wait restarted at tick 3, after the load was back on target at tick 2');
});

t.test('downscaling waits for downscaleDelayMs and clamps at minReplicas', async (t) => {
  const { counts } = run([0, 0, 0, 0, 0, 0], { downscaleDelayMs: 4000, minReplicas: 2 }, 6);
  t.same(counts, [6, 6, 6, 6, 2, 2]);
});

t.test('upscaling clamps at maxReplicas', async (t) => {
  const { counts } = run([400, 400, 400, 400], { maxReplicas: 5, upscaleDelayMs: 0 });
  t.same(counts, [5, 5, 5, 5]);
});

t.test('scale to zero after downscaleToZeroDelayMs, and back at once on a request', async (t) => {
  const { counts, reasons } = run([0, 0, 0, 0, 0, 0, 0, 0, 3, 3], { minReplicas: 0, downscaleDelayMs: 1000, downscaleToZeroDelayMs: 5000 }, 3);
  // 3 → 1 after 1 s (a downscale other than the last keeps one replica), 1 → 0 after 5 s more, back to 1 at once.
  t.same(counts, [3, 1, 1, 1, 1, 1, 1, 0, 1, 1]);
  t.match(reasons[7], /scale down 1 → 0 after 5\.0s/);
  t.match(reasons[8], /requests waiting at zero replicas: start 1 at once/);
});

t.test('no requests at zero replicas stays at zero; no running replica holds', async (t) => {
  const c = config({ minReplicas: 0 });
  const idle = decide({ config: c, targetReplicas: 0, runningReplicas: 0, totalRequests: 0, state: INITIAL_POLICY_STATE, now: 0 });
  t.equal(idle.desiredReplicas, 0);
  const starting = decide({ config: c, targetReplicas: 2, runningReplicas: 0, totalRequests: 50, state: INITIAL_POLICY_STATE, now: 0 });
  t.equal(starting.desiredReplicas, 2);
  t.match(starting.reason, /no running replica yet/);
});

t.test('replicas wanted that never run (pending for room) are given up when no request waits for them', async (t) => {
  const c = config({ minReplicas: 0, downscaleDelayMs: 1000, downscaleToZeroDelayMs: 5000 });
  const first = decide({ config: c, targetReplicas: 1, runningReplicas: 0, totalRequests: 0, state: INITIAL_POLICY_STATE, now: 0 });
  t.equal(first.desiredReplicas, 1, 'not at once');
  t.equal(first.reason, 'no requests and no running replica (1 wanted, starting or pending); wait: down held 0.0s of 5.0s');
  const later = decide({ config: c, targetReplicas: 1, runningReplicas: 0, totalRequests: 0, state: first.state, now: 5000 });
  t.equal(later.desiredReplicas, 0, 'after downscaleToZeroDelayMs, as a replica without load would be');
  t.equal(later.direction, 'down');
  t.equal(later.reason, 'no requests and no running replica (1 wanted, starting or pending); scale down 1 → 0 after 5.0s');
  const floor = decide({ config: config({ minReplicas: 1 }), targetReplicas: 1, runningReplicas: 0, totalRequests: 0, state: INITIAL_POLICY_STATE, now: 0 });
  t.equal(floor.desiredReplicas, 1, 'never below minReplicas');
  t.match(floor.reason, /no running replica yet \(1 starting or pending\): nothing to measure/);
});

t.test('defaults follow Ray Serve', async (t) => {
  const d = resolveAutoscaling({});
  t.same(d, {
    minReplicas: 1, maxReplicas: 1, initialReplicas: 1, targetOngoingRequests: 2, metricsIntervalMs: 1000, lookBackPeriodMs: 30000,
    upscaleDelayMs: 30000, downscaleDelayMs: 600000, downscaleToZeroDelayMs: 600000, upscalingFactor: 1, downscalingFactor: 1,
  });
  t.equal(resolveAutoscaling({ minReplicas: 3 }).maxReplicas, 3, 'maxReplicas is at least minReplicas');
});
