import ort from 'onnxruntime-node';
import t from 'tap';
import { directRun, maxAbsDiff, postJson, randomRow, startFerry } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

t.test('concurrent requests are batched and each caller gets its own answer', async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 32 }, maxOngoingRequests: 64 },
  ]);
  const n = 200;
  const rows = Array.from({ length: n }, (_, i) => randomRow(i + 1, 784));
  const answers = await Promise.all(
    rows.map((row, i) =>
      postJson(`${server.url}/v2/models/mlp/infer`, {
        id: `req-${i}`,
        inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: row }],
      }),
    ),
  );
  const stats = server.stats()[0].replicas[0];
  t.ok(stats.maxBatchRows > 1, `the replica ran a batch of more than one row (largest: ${stats.maxBatchRows})`);
  t.equal(stats.rows, n, 'the replica ran every row exactly once');
  t.ok(stats.batches < n, `fewer batches (${stats.batches}) than requests (${n})`);

  let worst = 0;
  for (let i = 0; i < n; i++) {
    t.equal(answers[i].status, 200, `request ${i} answered`);
    t.equal(answers[i].body.id, `req-${i}`, 'id echoed');
    const want = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(rows[i]), [1, 784]) });
    const got = answers[i].body.outputs[0];
    t.same(got.shape, [1, 10]);
    worst = Math.max(worst, maxAbsDiff(got.data, want.logits.data as Float32Array));
  }
  t.ok(worst < 1e-5, `outputs match a direct onnxruntime run (max diff ${worst})`);
});

t.test('the MNIST CNN answers through its route prefix with nested data', async (t) => {
  const server = await startFerry(t, [{ name: 'mnist-cnn', model: modelPath('mnist-cnn.onnx'), routePrefix: '/mnist' }]);
  const flat = randomRow(7, 784);
  const nested = [[Array.from({ length: 28 }, (_, r) => flat.slice(r * 28, r * 28 + 28))]];
  const res = await postJson(`${server.url}/mnist/infer`, {
    inputs: [{ name: 'image', shape: [1, 1, 28, 28], datatype: 'FP32', data: nested }],
  });
  t.equal(res.status, 200);
  const want = await directRun('mnist-cnn.onnx', { image: new ort.Tensor('float32', Float32Array.from(flat), [1, 1, 28, 28]) });
  t.ok(maxAbsDiff(res.body.outputs[0].data, want.logits.data as Float32Array) < 1e-5, 'nested data gives the same logits');
  const bare = await postJson(`${server.url}/mnist`, {
    inputs: [{ name: 'image', shape: [1, 1, 28, 28], datatype: 'FP32', data: flat }],
  });
  t.same(bare.body.outputs, res.body.outputs, 'POST on the prefix itself runs the same inference');
});
