import http from 'node:http';
import t from 'tap';
import { postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(2, 784) }] };
// Holds a lone call in the replica's mailbox for 1.5 s, waiting for a fuller batch.
const HOLD = { batching: { maxBatchSize: 64, batchWaitTimeoutMs: 1500 } };

t.test('a request past requestTimeoutMs is answered 408 and dropped before it runs', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), ...HOLD, requestTimeoutMs: 100 }]);
  const res = await postJson(`${server.url}/v2/models/mlp/infer`, body);
  t.equal(res.status, 408);
  t.same(res.body, { error: "request to model 'mlp' timed out after 100 ms", code: 'FERRY_ERR_REQUEST_TIMEOUT' });
  const stats = server.stats()[0];
  t.equal(stats.cancelled, 1);
  // The replica confirms the withdrawal over its channel; well before the 1.5 s window would have run the call.
  t.ok(await waitFor(() => server.stats()[0].ongoing === 0, 1000), 'nothing left in the mailbox');
  await new Promise((r) => setTimeout(r, 1600));
  // Read after the wait: the window would have sent the call by now had it stayed.
  t.equal(server.stats()[0].replicas[0].rows, 0, 'the dropped call never ran');
});

t.test('a client that disconnects takes its queued call with it', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), ...HOLD }]);
  const pool = server.pools.get('mlp')!;
  const { port } = new URL(server.url);
  const req = http.request({ port, method: 'POST', path: '/v2/models/mlp/infer', headers: { 'content-type': 'application/json' } });
  req.on('error', () => {}); // the destroyed request reports its own abort
  req.end(JSON.stringify(body));
  t.ok(await waitFor(() => pool.ongoing === 1), 'the call waits in the mailbox');
  req.destroy();
  t.ok(await waitFor(() => pool.stats().cancelled === 1), 'cancelled when the client left');
  // The replica confirms it dropped the call over its channel, well inside the 1.5 s window.
  t.ok(await waitFor(() => pool.ongoing === 0, 1000), 'out of the mailbox');
  await new Promise((r) => setTimeout(r, 1600));
  t.equal(pool.stats().replicas[0].rows, 0, 'it never ran');
});

t.test('an input declaring more elements than maxTensorElements is refused before allocation', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { maxTensorElements: 1000 });
  const ok = await postJson(`${server.url}/v2/models/mlp/infer`, body);
  t.equal(ok.status, 200, '784 elements pass');
  const big = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ ...body.inputs[0], shape: [2, 784], data: [...body.inputs[0].data, ...body.inputs[0].data] }] });
  t.equal(big.status, 400);
  t.match(big.body, { code: 'FERRY_ERR_INPUT_SHAPE', error: /holds 1568 elements, more than the limit of 1000/ });
});

t.test('under 5x overload every request is answered 200, 503 or 408 and memory stays bounded', async (t) => {
  const server = await startFerry(t, [
    {
      name: 'mlp',
      model: modelPath('mlp.onnx'),
      batching: { maxBatchSize: 8, batchWaitTimeoutMs: 2 },
      maxOngoingRequests: 8,
      maxQueuedRequests: 32,
      requestTimeoutMs: 250,
    },
  ]);
  // Capacity is 8 held + 32 queued = 40 calls; 200 clients is 5x that.
  const clients = 200;
  const perClient = 15;
  const counts = new Map<number, number>();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  let deepestQueue = 0;
  // Sampled during the load: the bound matters while it is pressed, not after.
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    deepestQueue = Math.max(deepestQueue, server.stats()[0].queueDepth);
  }, 20);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) {
        const res = await postJson(`${server.url}/v2/models/mlp/infer`, body);
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
      }
    }),
  );
  clearInterval(sampler);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  t.equal(total, clients * perClient, 'every request answered');
  t.same([...counts.keys()].filter((s) => ![200, 503, 408].includes(s)), [], `only 200, 503 and 408 (${[...counts].map(([s, n]) => `${s}: ${n}`).join(', ')})`);
  t.ok((counts.get(200) ?? 0) > 0, 'some were served');
  t.ok((counts.get(503) ?? 0) > 0, 'the overflow was refused with 503');
  const growthMb = (rssPeak - rssBefore) / 2 ** 20;
  // Each gateway is a V8 heap of its own that grows to serve 200 clients; what the bound keeps small is the calls held.
  const allowedMb = 150 + 150 * server.ingress.threads;
  t.ok(growthMb < allowedMb, `memory stayed bounded: peak RSS grew ${growthMb.toFixed(0)} MiB (< ${allowedMb} with ${server.ingress.threads} gateways)`);
  t.ok(await waitFor(() => server.stats()[0].ongoing === 0 && server.stats()[0].queueDepth === 0), 'the pool drains afterwards');
  t.ok(deepestQueue > 0 && deepestQueue <= 32, `the queue filled but never exceeded its bound (deepest: ${deepestQueue})`);
});
