import t from 'tap';
import { AutoscalerController, resolveAutoscaling, type DecisionRecord, type Scalable } from '../autoscaler/index.js';

/* The controller as config updates drive it: tracking a deployment anew, new bounds, and letting one go. */

/** A pool as the controller sees it: its target and load set by the test. */
function pool(name: string, target: number, load = 0): Scalable & { target: number; load: () => number } {
  return {
    name,
    target,
    get targetReplicas() {
      return this.target;
    },
    get readyReplicas() {
      return this.target;
    },
    load: () => load,
    scaleTo(n: number) {
      this.target = n;
    },
    onDemand() {},
  };
}

const config = (minReplicas: number, maxReplicas: number) => resolveAutoscaling({ minReplicas, maxReplicas, metricsIntervalMs: 20, lookBackPeriodMs: 20, downscaleDelayMs: 0, upscaleDelayMs: 0 });

t.test('new bounds hold at once, a replacing pool keeps the history, and a deployment let go is no longer scaled', async (t) => {
  const changes: DecisionRecord[] = [];
  const first = pool('a', 1);
  const controller = new AutoscalerController([{ target: first, config: config(1, 4) }], { onChange: (r) => changes.push(r), historySize: 2 });
  t.teardown(() => controller.stop());
  controller.track(first, config(3, 4));
  t.equal(first.target, 3, 'raised to the new minimum before the controller starts');
  t.match(changes, [{ deployment: 'a', from: 1, to: 3, direction: 'up', reason: /bounds changed to 3\.\.4: 1 → 3 at once/ }]);
  controller.track(first, config(1, 2));
  t.equal(first.target, 2, 'lowered to the new maximum');
  controller.track(first, config(1, 2));
  t.equal(changes.length, 2, 'bounds that hold change nothing');
  controller.track(first, config(2, 2));
  t.equal(controller.report('a')!.changes.length, 2, 'the history keeps its size');

  const replacing = pool('a', 1, 0);
  controller.start();
  controller.track(replacing, config(2, 2));
  t.equal(controller.report('a')!.changes.length, 2, 'a pool replacing another keeps its deployment’s history');
  await new Promise((r) => setTimeout(r, 80));
  t.equal(replacing.target, 2, 'and the running controller scales it by the new config');
  t.equal(first.target, 2, 'not the pool it replaced');

  controller.track(replacing, null);
  t.equal(controller.report('a'), null, 'a deployment let go is no longer reported');
  replacing.target = 5;
  await new Promise((r) => setTimeout(r, 60));
  t.equal(replacing.target, 5, 'nor scaled');
  const fresh = pool('b', 0, 3);
  controller.track(fresh, config(0, 3));
  await new Promise((r) => setTimeout(r, 80));
  t.ok(fresh.target > 0, 'a deployment added while running is scaled from its first tick');
});
