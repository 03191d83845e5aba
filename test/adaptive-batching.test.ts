import { fileURLToPath } from 'node:url';
import t from 'tap';
import { AdaptiveWindow, BatchCostModel } from '../replicas/adaptive-window.js';
import { BatchQueue } from '../replicas/batch-queue.js';
import { DeploymentCounters, epochMs } from '../replicas/deployment-counters.js';
import { ReplicaMailbox } from '../replicas/replica-mailbox.js';
import { percentileBound } from '../replicas/replica.js';
import { postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/handlers/${name}.ts`, import.meta.url));
const mlpRequest = () => ({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(3, 784) }] });

t.test('the batch cost fit: a line through what batches took, all per row until two sizes are seen', async (t) => {
  const cost = new BatchCostModel();
  t.notOk(cost.known);
  cost.observe(4, 2);
  t.same([cost.fixedMs, cost.perRowMs], [0, 0.5], 'one size: proportional to rows');
  cost.observe(1, 1.2);
  cost.observe(8, 2.6);
  cost.observe(32, 7.4);
  const fit = new BatchCostModel();
  for (const [rows, ms] of [[1, 1.2], [8, 2.6], [32, 7.4]]) fit.observe(rows, ms);
  t.ok(Math.abs(fit.fixedMs - 1) < 1e-9 && Math.abs(fit.perRowMs - 0.2) < 1e-9, `ms = 1 + 0.2 · rows (${fit.fixedMs}, ${fit.perRowMs})`);
  t.ok(Math.abs(fit.estimate(10) - 3) < 1e-9);
  const long = new BatchCostModel();
  for (let i = 0; i < 100; i++) long.observe(1, 100);
  for (let i = 0; i < 64; i++) long.observe(1 + (i % 2), 1 + (i % 2));
  t.ok(long.estimate(2) < 4, 'it fits the last 64 batches only');
  const w = new AdaptiveWindow(50, 8);
  w.arrived(1, 10);
  w.arrived(1, 10);
  t.equal(w.rate(10), 0, 'two arrivals at one instant give no rate');
  for (let i = 0; i < 100; i++) w.arrived(1, 100 + i);
  t.ok(Math.abs(w.rate(199) - 63 / 63) < 1e-9, 'the rate is of the last 64 arrivals: one a millisecond');
  const counters = new DeploymentCounters(1);
  counters.dropSession(0);
  t.equal(counters.sessions(0), 0, 'a session count never goes below zero');
  const flat = new BatchCostModel();
  flat.observe(1, 5);
  flat.observe(8, 4.9);
  t.same([flat.fixedMs, flat.perRowMs], [4.95, 0], 'larger batches no slower: the cost is all fixed');
});

t.test('the window: hold for the next call while the wait it adds is less than the batch cost it saves, and the target allows', async (t) => {
  const w = new AdaptiveWindow(50, 8);
  t.equal(w.holdMs(1, 0, 1000), 0, 'nothing learned yet: send');
  for (const [rows, ms] of [[1, 2.1], [4, 2.4], [8, 2.8]]) w.cost.observe(rows, ms); // fixed 2 ms, 0.1 ms a row
  for (let i = 0; i <= 10; i++) w.arrived(1, 1000 + i); // one row a millisecond
  t.equal(w.holdMs(1, 0, 1010), 1, 'one call waiting, the next due in 1 ms, 2 ms saved: hold 1 ms');
  t.equal(w.lastWindowMs, 0, 'no batch sent yet');
  t.equal(w.holdMs(2, 0, 1010), 1, 'two lose 2 ms between them, 2 ms saved: still worth it');
  t.equal(w.holdMs(3, 1.5, 1010), 0, 'three would lose 3 ms: send');
  t.equal(w.lastWindowMs, 1.5, 'the batch sent was held 1.5 ms: its window');
  t.equal(w.holdMs(1, 38, 1010), 0, 'the oldest has waited 38 ms: one more would end past 80% of the 50 ms target');
  t.equal(w.holdMs(8, 0, 1010), 0, 'a full batch goes');
  t.equal(w.lastWindowMs, 0, 'at once: no window');
  t.equal(w.holdMs(1, 0, 5000), 0, 'the stream went quiet: no one to wait for');
  const allPerRow = new AdaptiveWindow(50, 8);
  allPerRow.cost.observe(4, 2);
  for (let i = 0; i <= 10; i++) allPerRow.arrived(1, 1000 + i);
  t.equal(allPerRow.holdMs(1, 0, 1010), 0, 'a cost all per row gains nothing from waiting');
});

t.test('a queue with an adaptive hold chooses again at each arrival, and sends when the hold says so', async (t) => {
  const batches: number[][] = [];
  let clock = 0;
  const q = new BatchQueue<{ rows: number; batchKey: string; enqueuedAt: number; id: number }>(
    { maxBatchSize: 10, batchWaitTimeoutMs: 0, now: () => clock, hold: (rows) => (rows < 3 ? 1000 : 0) },
    (batch) => batches.push(batch.map((b) => b.id)),
  );
  q.put({ rows: 1, batchKey: 'k', enqueuedAt: 0, id: 1 });
  q.put({ rows: 1, batchKey: 'k', enqueuedAt: 0, id: 2 });
  await new Promise((r) => setTimeout(r, 20));
  t.same(batches, [], 'held while the hold says to wait');
  clock = 5;
  q.put({ rows: 1, batchKey: 'k', enqueuedAt: 5, id: 3 });
  await new Promise((r) => setImmediate(r));
  t.same(batches, [[1, 2, 3]], 'the third arrival ends the hold');
});

t.test('an adaptive hold is reconsidered when it runs out, and nothing is sent once its calls are gone', async (t) => {
  const batches: number[][] = [];
  let holds = [5, 5, 0];
  const q = new BatchQueue<{ rows: number; batchKey: string; enqueuedAt: number; id: number }>(
    { maxBatchSize: 10, batchWaitTimeoutMs: 0, hold: () => holds.shift() ?? 0 },
    (batch) => batches.push(batch.map((b) => b.id)),
  );
  q.put({ rows: 1, batchKey: 'k', enqueuedAt: performance.now(), id: 1 });
  // However late a loaded machine runs the timers: sent once the hold says 0, not before.
  t.ok(await waitFor(() => batches.length > 0, 10_000), 'sent');
  t.same(batches, [[1]], 'held twice, then sent');
  t.same(holds, [], 'after the hold was asked three times');
  holds = [5];
  const item = { rows: 1, batchKey: 'k', enqueuedAt: performance.now(), id: 2 };
  q.markIdle();
  q.put(item);
  q.remove(item);
  await new Promise((r) => setTimeout(r, 30));
  t.same(batches, [[1]], 'a hold that ends with nothing left sends nothing');
});

t.test('percentiles from the replica histogram: the bound of the bucket that holds the quantile', async (t) => {
  t.equal(percentileBound([0, 0, 0], 0.99), null);
  t.equal(percentileBound([90, 9, 1], 0.99), 2, '99 of 100 within the 2 ms bucket');
  t.equal(percentileBound([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5], 0.5), 10000, 'past the last bucket: its bound');
});

t.test('adaptive batching of a model: nothing held for calls that cannot come, p99 within the target, the cost fit and the window in metrics', async (t) => {
  // Generous: the target bounds what the replica plans, and a shared CI machine may stall any call.
  const target = 2000;
  const server = await startFerry(t, [{ name: 'mlp', model: './mlp.onnx', batching: { maxBatchSize: 64, targetLatencyMs: target } }]);
  const url = `${server.url}/v2/models/mlp/infer`;
  const replica = () => server.pools.get('mlp')!.stats().replicas[0];
  for (let i = 0; i < 30; i++) t.equal((await postJson(url, mlpRequest())).status, 200);
  const low = replica();
  t.equal(low.rows / low.batches, 1, 'one call at a time: batches of one');
  const answers = await Promise.all(Array.from({ length: 256 }, () => postJson(url, mlpRequest())));
  t.same([...new Set(answers.map((a) => a.status))], [200]);
  const high = replica();
  t.ok(high.latencyP99Ms !== null && high.latencyP99Ms <= target, `p99 in the replica ${high.latencyP99Ms} ms, within the ${target} ms target`);
  t.ok(high.batchCostMs.perRow + high.batchCostMs.fixed > 0, `the cost fit is learned (${JSON.stringify(high.batchCostMs)})`);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_batch_window_seconds\{deployment="mlp",replica="mlp#1"\} [0-9.e-]+/);
  t.match(metrics, /ferry_batch_cost_seconds\{deployment="mlp",replica="mlp#1",term="per_row"\} [0-9.e-]+/);
});

t.test('a process replica reports its window, its fit and its calls through its host', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: './mlp.onnx', replicaHost: 'process', batching: { maxBatchSize: 64, targetLatencyMs: 2000 } }]);
  const url = `${server.url}/v2/models/mlp/infer`;
  t.same([...new Set((await Promise.all(Array.from({ length: 40 }, () => postJson(url, mlpRequest())))).map((a) => a.status))], [200]);
  const r = server.pools.get('mlp')!.stats().replicas[0];
  t.ok(await waitFor(() => server.pools.get('mlp')!.stats().replicas[0].latencyP99Ms !== null), `its calls' times came back (p99 ${server.pools.get('mlp')!.stats().replicas[0].latencyP99Ms} ms)`);
  t.ok(r.batchCostMs.fixed + r.batchCostMs.perRow > 0 || (await waitFor(() => { const c = server.pools.get('mlp')!.stats().replicas[0].batchCostMs; return c.fixed + c.perRow > 0; })), 'and its cost fit');
});

t.test('adaptive batching holds for larger batches at higher load when a batch has a fixed cost, its p99 within the target', async (t) => {
  const target = 1000;
  const server = await startFerry(t, [
    { name: 'sizes', handler: fixture('batch-sizes'), userConfig: { fixedMs: 8 }, maxOngoingRequests: 256, batching: { maxBatchSize: 64, targetLatencyMs: target } },
  ]);
  const url = `${server.url}/v2/models/sizes/infer`;
  const call = () => postJson(url, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
  const replica = () => server.pools.get('sizes')!.stats().replicas[0];
  for (let i = 0; i < 10; i++) t.equal((await call()).status, 200);
  const low = replica();
  t.equal(low.rows / low.batches, 1, 'one call at a time: batches of one');
  // Calls arrive spread out (a burst every 2 ms), not all at once: the batches grow because the replica waits for them.
  const pending = [];
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j < 4; j++) pending.push(call());
    await new Promise((r) => setTimeout(r, 2));
  }
  const answers = await Promise.all(pending);
  t.same([...new Set(answers.map((a) => a.status))], [200]);
  const high = replica();
  const mean = (high.rows - low.rows) / (high.batches - low.batches);
  // How much larger depends on how fast this (shared, noisy) machine sends them: `npm run bench -- batching` measures it.
  t.ok(mean >= 2, `160 calls over about 80 ms: batches of ${mean.toFixed(1)} calls on average, not one at a time`);
  t.ok(high.latencyP99Ms !== null && high.latencyP99Ms <= target, `p99 in the replica ${high.latencyP99Ms} ms, within the ${target} ms target`);
  t.ok(high.batchCostMs.fixed > 4, `the fit sees the fixed cost (${JSON.stringify(high.batchCostMs)})`);
});

t.test('a replica mailbox with a latency target learns its cost and reports the window, the fit and every call’s time', async (t) => {
  const adapted: number[][] = [];
  const latencies: number[] = [];
  const runs: number[] = [];
  const box = new ReplicaMailbox(
    { maxBatchSize: 16, batchWaitTimeoutMs: 0, targetLatencyMs: 500 },
    async (inputs) => {
      runs.push(inputs.x.dims[0] as number);
      // A batch costs 20 ms whatever its size: waiting for more calls pays.
      await new Promise((r) => setTimeout(r, 20));
      return { outputs: { y: inputs.x }, inferenceMs: 20 };
    },
    () => {},
    { started() {}, finished() {}, adapted: (...a) => adapted.push(a), answered: (ms) => latencies.push(...ms) },
  );
  const one = (id: number) => ({ id, inputs: { x: { dtype: 'float32' as const, dims: [1, 1], data: Float32Array.of(id) } }, rows: 1, enqueuedAt: epochMs() });
  const call = (id: number) => ({ type: 'calls' as const, calls: [one(id)] });
  box.receive(1, call(1));
  t.ok(await waitFor(() => adapted.length === 1, 10_000), 'the first batch ran');
  box.receive(1, { type: 'calls', calls: [one(2), one(3)] });
  t.ok(await waitFor(() => adapted.length === 2, 10_000), 'and the second');
  t.same(runs, [1, 2], 'before it knows its cost, what is there goes at once');
  // Calls every 6 ms, 20 ms a batch: batches of several.
  for (let id = 4; id < 34; id++) {
    box.receive(1, call(id));
    await new Promise((r) => setTimeout(r, 6));
  }
  await waitFor(() => latencies.length === 33, 5000);
  const going = runs.slice(2);
  t.ok(going.reduce((a, b) => a + b, 0) / going.length > 1.5, `then, the stream going, larger batches (${going})`);
  t.equal(latencies.length, 33, "every call's time in the replica was reported");
  t.equal(adapted.length, runs.length, 'the window and the fit were reported after each batch');
  // Which share is fixed depends on the batch sizes a (shared, noisy) machine happened to form; together they are the 20 ms a batch costs.
  const [, fixedMs, perRowMs] = adapted.at(-1)!;
  t.ok(fixedMs! + perRowMs! > 10, `the fit accounts for a batch's cost (${adapted.at(-1)})`);

  const counters = new DeploymentCounters(2);
  counters.batchAdapted(1, 2.5, 20, 0.1);
  counters.callsAnswered(1, [0.5, 3, 40, 20000]);
  t.same(counters.adaptation(1), { windowMs: 2.5, fixedMs: 20, perRowMs: 0.1 });
  t.same(counters.latencyCounts(1), [1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], 'each time in its bucket, the slow one past the last');
  counters.reset(1, 2);
  t.same(counters.latencyCounts(1).reduce((a, b) => a + b, 0), 0, "a slot's new replica starts from nothing");
});

t.test('a replica mailbox told not to batch drops its latency target with it', async (t) => {
  const runs: number[] = [];
  const box = new ReplicaMailbox(
    { maxBatchSize: 16, batchWaitTimeoutMs: 0, targetLatencyMs: 500 },
    async (inputs) => {
      runs.push(inputs.x.dims[0] as number);
      return { outputs: { y: inputs.x }, inferenceMs: 1 };
    },
    () => {},
    { started() {}, finished() {} },
  );
  box.configure(false);
  const calls = [1, 2, 3].map((id) => ({ id, inputs: { x: { dtype: 'float32' as const, dims: [1, 1], data: Float32Array.of(id) } }, rows: 1, enqueuedAt: epochMs() }));
  box.receive(1, { type: 'calls', calls });
  await new Promise((r) => setTimeout(r, 50));
  t.same(runs, [1, 1, 1], 'each call alone, at once');
});
