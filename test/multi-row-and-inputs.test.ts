import ort from 'onnxruntime-node';
import t from 'tap';
import { directRun, maxAbsDiff, postJson, randomRow, startFerry } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

t.test('multi-row requests count as rows; one larger than maxBatchSize runs alone', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 4 } }]);
  const sizes = [1, 3, 10, 2, 4, 7];
  const rows = sizes.map((n, i) => Array.from({ length: n }, (_, r) => randomRow(100 * i + r, 784)));
  const answers = await Promise.all(
    rows.map((rs) =>
      postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [rs.length, 784], datatype: 'FP32', data: rs }] }),
    ),
  );
  for (let i = 0; i < sizes.length; i++) {
    t.equal(answers[i].status, 200);
    t.same(answers[i].body.outputs[0].shape, [sizes[i], 10], `request of ${sizes[i]} rows gets ${sizes[i]} rows back`);
    const want = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(rows[i].flat()), [sizes[i], 784]) });
    t.ok(maxAbsDiff(answers[i].body.outputs[0].data, want.logits.data as Float32Array) < 1e-5, `rows of request ${i} are its own`);
  }
  const stats = server.stats()[0].replicas[0];
  t.equal(stats.rows, 27, 'every row ran once');
  t.equal(stats.maxBatchRows, 10, 'the 10-row request ran as a batch of its own; no batch grew past 4 otherwise');
});

t.test('a model with two inputs of different dtypes and two outputs', async (t) => {
  const server = await startFerry(t, [{ name: 'mixed', model: modelPath('mixed-inputs.onnx'), batching: { maxBatchSize: 16 } }]);
  const meta = await (await fetch(`${server.url}/v2/models/mixed`)).json();
  t.same(meta.inputs, [
    { name: 'x', datatype: 'FP32', shape: [-1, 4] },
    { name: 'k', datatype: 'INT64', shape: [-1, 1] },
  ]);
  const calls = Array.from({ length: 40 }, (_, i) => ({ x: [i, i + 0.5, -i, 2], k: [i % 5] }));
  const answers = await Promise.all(
    calls.map((c, i) =>
      postJson(`${server.url}/v2/models/mixed/infer`, {
        id: String(i),
        inputs: [
          { name: 'k', shape: [1, 1], datatype: 'INT64', data: c.k },
          { name: 'x', shape: [1, 4], datatype: 'FP32', data: c.x },
        ],
      }),
    ),
  );
  answers.forEach((a, i) => {
    const [scaled, next] = a.body.outputs;
    t.same(scaled, { name: 'scaled', datatype: 'FP32', shape: [1, 4], data: calls[i].x.map((v) => v * calls[i].k[0]) });
    t.same(next, { name: 'next', datatype: 'INT64', shape: [1, 1], data: [calls[i].k[0] + 1] });
  });
  t.ok(server.stats()[0].replicas[0].maxBatchRows > 1, 'two-input calls batch together');

  const only = await postJson(`${server.url}/v2/models/mixed/infer`, {
    inputs: [
      { name: 'x', shape: [2, 4], datatype: 'FP32', data: [[1, 2, 3, 4], [5, 6, 7, 8]] },
      { name: 'k', shape: [2, 1], datatype: 'INT64', data: [[2], [3]] },
    ],
    outputs: [{ name: 'next' }],
  });
  t.same(only.body.outputs, [{ name: 'next', datatype: 'INT64', shape: [2, 1], data: [3, 4] }], 'only the requested output');

  const mismatch = await postJson(`${server.url}/v2/models/mixed/infer`, {
    inputs: [
      { name: 'x', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] },
      { name: 'k', shape: [1, 1], datatype: 'INT64', data: [2] },
    ],
  });
  t.equal(mismatch.status, 400);
  t.match(mismatch.body.error, /all inputs share dimension 0/);
  const missing = await postJson(`${server.url}/v2/models/mixed/infer`, {
    inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
  });
  t.equal(missing.status, 400);
  t.match(missing.body.error, /needs input k/);
  const fractional = await postJson(`${server.url}/v2/models/mixed/infer`, {
    inputs: [
      { name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
      { name: 'k', shape: [1, 1], datatype: 'INT64', data: [1.5] },
    ],
  });
  t.equal(fractional.status, 400);
  t.match(fractional.body.error, /must be an integer for INT64/);
});
