import t from 'tap';
import { postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(6, 784) }] };
const FAST = { metricsIntervalMs: 100, lookBackPeriodMs: 400, upscaleDelayMs: 200, downscaleDelayMs: 800 };

/** Keeps `clients` requests in flight until `stop()` is called; returns the statuses seen. */
function load(url: string, clients: number) {
  let running = true;
  const statuses = new Map<number, number>();
  const done = Promise.all(
    Array.from({ length: clients }, async () => {
      while (running) {
        const res = await postJson(url, body);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return { stop: async () => ((running = false), await done, statuses) };
}

t.test('a load step scales a deployment from 1 to 2 or more replicas, and back to 1 after it stops', async (t) => {
  const server = await startFerry(t, [
    {
      name: 'mlp',
      model: modelPath('mlp.onnx'),
      // A 20 ms batch window keeps calls in the replica long enough to count as load.
      batching: { maxBatchSize: 8, batchWaitTimeoutMs: 20 },
      autoscaling: { minReplicas: 1, maxReplicas: 3, targetOngoingRequests: 2, ...FAST },
    },
  ]);
  const pool = server.pools.get('mlp')!;
  t.equal(pool.stats().target, 1, 'starts at minReplicas');
  const step = load(`${server.url}/v2/models/mlp/infer`, 24);
  const grew = await waitFor(() => pool.readyReplicas >= 2, 15_000);
  const statuses = await step.stop();
  t.ok(grew, `scaled up under load (target ${pool.stats().target}, ready ${pool.readyReplicas})`);
  t.same([...statuses.keys()], [200], 'every request served while scaling');
  t.ok(await waitFor(() => pool.stats().target === 1 && pool.stats().replicas.length === 1, 15_000), 'back to one replica once idle');

  const status = await (await fetch(`${server.url}/-/status`)).json();
  const changes = status.deployments[0].decisions.changes;
  t.ok(changes.some((c: { direction: string }) => c.direction === 'up'), 'the upscale decision is kept');
  t.ok(changes.some((c: { direction: string }) => c.direction === 'down'), 'the downscale decision is kept');
  t.match(changes[0].reason, /requests over 1 running \(target 2 each\): ratio [\d.]+ → \d; scale up 1 → \d after/);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_autoscaler_decisions_total\{deployment="mlp",direction="up"\} [1-9]/);
  t.match(metrics, /ferry_autoscaler_desired_replicas\{deployment="mlp"\} 1/);
});

t.test('scale from zero serves the first request, and idles back to zero', async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), autoscaling: { minReplicas: 0, maxReplicas: 2, ...FAST, downscaleToZeroDelayMs: 500 } },
  ]);
  const pool = server.pools.get('mlp')!;
  t.equal(pool.stats().replicas.length, 0, 'no replica at start');
  t.same((await (await fetch(`${server.url}/v2/models/mlp`)).json()).inputs[0].shape, [-1, 784], 'metadata known without a replica');
  const first = await postJson(`${server.url}/v2/models/mlp/infer`, body);
  t.equal(first.status, 200, 'the first request waited for the cold start and was served');
  const report = (await (await fetch(`${server.url}/-/status`)).json()).deployments[0].decisions;
  t.match(report.changes[0].reason, /requests waiting at zero replicas: start 1 at once/);
  t.ok(await waitFor(() => pool.stats().target === 0 && pool.stats().replicas.length === 0, 10_000), 'back to zero when idle');
});

t.test('replicas that fit on no node wait as pending, and are shown as such', async (t) => {
  const server = await startFerry(
    t,
    [
      {
        name: 'mlp',
        model: modelPath('mlp.onnx'),
        batching: { maxBatchSize: 8, batchWaitTimeoutMs: 20 },
        resources: { cpus: 1 },
        autoscaling: { minReplicas: 1, maxReplicas: 3, targetOngoingRequests: 1, ...FAST },
      },
    ],
    {},
    { node: { cpus: 1 } },
  );
  const pool = server.pools.get('mlp')!;
  const step = load(`${server.url}/v2/models/mlp/infer`, 24);
  t.ok(await waitFor(() => pool.stats().pending > 0, 15_000), 'the target outgrew the node');
  const stats = pool.stats();
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  await step.stop();
  t.equal(stats.replicas.length, 1, 'only what fits was started');
  t.equal(stats.pending, stats.target - 1);
  t.match(metrics, new RegExp(`ferry_replicas\\{deployment="mlp",state="pending"\\} ${stats.pending}`));
  const status = await (await fetch(`${server.url}/-/status`)).json();
  t.same(status.node, { cpus: 1, gpus: 0, usedCpus: 1, usedGpus: 0 }, 'the node is full, not oversubscribed');
});

t.test('a replica scaled away finishes the calls it holds before it stops', async (t) => {
  const server = await startFerry(t, [
    {
      name: 'mlp',
      model: modelPath('mlp.onnx'),
      // Calls wait 400 ms in the mailboxes, so both replicas hold some when the scale-down comes.
      batching: { maxBatchSize: 64, batchWaitTimeoutMs: 400 },
      autoscaling: { minReplicas: 1, maxReplicas: 2, initialReplicas: 2, metricsIntervalMs: 60_000 },
    },
  ]);
  const pool = server.pools.get('mlp')!;
  const answers = Promise.all(Array.from({ length: 20 }, () => postJson(`${server.url}/v2/models/mlp/infer`, body)));
  t.ok(await waitFor(() => pool.stats().replicas.every((r) => r.ongoing > 0)), 'both replicas hold calls');
  pool.scaleTo(1);
  t.equal(pool.stats().replicas.filter((r) => r.state === 'stopping').length, 1, 'one replica drains');
  t.same((await answers).map((a) => a.status), Array(20).fill(200), 'every call it held was answered');
  t.ok(await waitFor(() => pool.stats().replicas.length === 1), 'then it is gone');
  t.equal(pool.stats().replicas[0].state, 'ready');
});
