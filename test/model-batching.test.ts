import ort from 'onnxruntime-node';
import t from 'tap';
import { validateConfig, FerryServer } from '../index.js';
import { modelPath } from '../models/index.js';
import { directRun, maxAbsDiff, postJson, randomRow, startFerry } from './helpers/ferry.js';

const infer = (url: string, name: string, inputs: unknown[]) => postJson(`${url}/v2/models/${name}/infer`, { inputs });
const f32 = (data: number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);

t.test('a model with a fixed batch of 1 serves concurrent requests, each run alone', async (t) => {
  const server = await startFerry(t, [{ name: 'fixed', model: modelPath('fixed-batch.onnx'), numReplicas: 2 }]);
  const meta = await (await fetch(`${server.url}/v2/models/fixed`)).json();
  t.same(meta.inputs, [{ name: 'x', datatype: 'FP32', shape: [1, 25, 96] }], 'metadata keeps the fixed dimensions');
  const rows = Array.from({ length: 12 }, (_, i) => randomRow(100 + i, 2400));
  const answers = await Promise.all(rows.map((row) => infer(server.url, 'fixed', [{ name: 'x', shape: [1, 25, 96], datatype: 'FP32', data: row }])));
  for (const [i, a] of answers.entries()) {
    t.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body).slice(0, 200)}`);
    const want = await directRun('fixed-batch.onnx', { x: f32(rows[i], [1, 25, 96]) });
    t.same(a.body.outputs[0].shape, [1, 1]);
    t.ok(maxAbsDiff(a.body.outputs[0].data, want.score.data as Float32Array) < 1e-6, `request ${i} equals a direct run`);
  }
  const stats = server.stats()[0];
  t.same(stats.batching.enabled, false);
  t.match(stats.batching.reason, /input 'x' has a fixed dimension 0 of 1/);
  t.equal(stats.replicas.reduce((n, r) => n + r.batches, 0), 12, 'twelve runs for twelve requests');
  t.same(stats.replicas.map((r) => r.maxBatchRows), [1, 1], 'no run held more than one request');
  const two = await infer(server.url, 'fixed', [{ name: 'x', shape: [2, 25, 96], datatype: 'FP32', data: [...rows[0], ...rows[1]] }]);
  t.equal(two.status, 400, 'a batch of 2 is refused before it is queued');
  t.match(two.body.error, /dimension 0 must be 1/);
});

t.test('a recurrent model with its state batched on axis 1 and a rank-0 input is served exactly', async (t) => {
  const server = await startFerry(t, [{ name: 'vad', model: modelPath('recurrent-state.onnx') }]);
  const meta = await (await fetch(`${server.url}/v2/models/vad`)).json();
  t.same(meta.inputs.map((i: { shape: number[] }) => i.shape), [[-1, -1], [2, -1, 128], []], 'shapes as declared, rank 0 kept');
  const requests = Array.from({ length: 8 }, (_, i) => {
    const batch = 1 + (i % 2);
    const samples = 64 + 16 * i;
    return { batch, samples, input: randomRow(200 + i, batch * samples), state: randomRow(300 + i, 2 * batch * 128), sr: i % 2 ? 8000 : 16000 };
  });
  const answers = await Promise.all(
    requests.map((r) =>
      infer(server.url, 'vad', [
        { name: 'input', shape: [r.batch, r.samples], datatype: 'FP32', data: r.input },
        { name: 'state', shape: [2, r.batch, 128], datatype: 'FP32', data: r.state },
        { name: 'sr', shape: [], datatype: 'INT64', data: [r.sr] },
      ]),
    ),
  );
  for (const [i, r] of requests.entries()) {
    const a = answers[i];
    t.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body).slice(0, 300)}`);
    const want = await directRun('recurrent-state.onnx', {
      input: f32(r.input, [r.batch, r.samples]),
      state: f32(r.state, [2, r.batch, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(r.sr)), []),
    });
    const out = Object.fromEntries(a.body.outputs.map((o: { name: string }) => [o.name, o]));
    t.same(out.output.shape, [r.batch, 1]);
    t.same(out.stateN.shape, [2, r.batch, 128], 'the state keeps its batch on axis 1');
    t.ok(maxAbsDiff(out.output.data, want.output.data as Float32Array) < 1e-6, `request ${i} output equals a direct run`);
    t.ok(maxAbsDiff(out.stateN.data, want.stateN.data as Float32Array) < 1e-6, `request ${i} stateN equals a direct run`);
  }
  const mismatch = await infer(server.url, 'vad', [
    { name: 'input', shape: [1, 8], datatype: 'FP32', data: randomRow(1, 8) },
    { name: 'state', shape: [2, 2, 128], datatype: 'FP32', data: randomRow(2, 512) },
    { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
  ]);
  t.equal(mismatch.status, 400, 'inputs that disagree on a named dimension are refused');
  t.match(mismatch.body.error, /dimension 'batch'.*size 2, but inputs\[0\] gave it 1/);
  const scalar = await infer(server.url, 'vad', [
    { name: 'input', shape: [1, 8], datatype: 'FP32', data: randomRow(1, 8) },
    { name: 'state', shape: [2, 1, 128], datatype: 'FP32', data: randomRow(2, 256) },
    { name: 'sr', shape: [1], datatype: 'INT64', data: [16000] },
  ]);
  t.equal(scalar.status, 400, 'a rank-0 input given rank 1 is refused');
  t.match(scalar.body.error, /inputs\[2\]\.shape \[1\] has 1 dimensions; input 'sr' .* takes 0/);
});

t.test('an output that reduces over the batch is answered per request, never across requests', async (t) => {
  const server = await startFerry(t, [{ name: 'reduce', model: modelPath('batch-reduce.onnx') }]);
  const xs = Array.from({ length: 10 }, (_, i) => randomRow(400 + i, 4 * (1 + (i % 3))));
  const answers = await Promise.all(xs.map((x) => infer(server.url, 'reduce', [{ name: 'x', shape: [x.length / 4, 4], datatype: 'FP32', data: x }])));
  for (const [i, x] of xs.entries()) {
    t.equal(answers[i].status, 200);
    const want = await directRun('batch-reduce.onnx', { x: f32(x, [x.length / 4, 4]) });
    const total = answers[i].body.outputs.find((o: { name: string }) => o.name === 'total');
    t.same(total.shape, [1, 4]);
    t.ok(maxAbsDiff(total.data, want.total.data as Float32Array) < 1e-6, `request ${i}'s total sums its own rows only`);
  }
  t.match(server.stats()[0].batching, { enabled: false, reason: /output 'total' has a fixed dimension 0 of 1/ });
  t.same(server.stats()[0].replicas[0].maxBatchRows, 1, 'no two requests shared a run');
});

t.test('a model with dynamic spatial dimensions batches along dimension 0, each size apart', async (t) => {
  const server = await startFerry(t, [
    { name: 'seg', model: modelPath('dynamic-image.onnx'), batching: { maxBatchSize: 8, batchWaitTimeoutMs: 50 } },
  ]);
  const sizes = [[8, 8], [8, 8], [12, 6], [8, 8], [12, 6], [5, 9]];
  const images = sizes.map(([h, w], i) => randomRow(500 + i, 3 * h * w));
  const answers = await Promise.all(
    images.map((img, i) => infer(server.url, 'seg', [{ name: 'image', shape: [1, 3, ...sizes[i]], datatype: 'FP32', data: img }])),
  );
  for (const [i, img] of images.entries()) {
    t.equal(answers[i].status, 200);
    const want = await directRun('dynamic-image.onnx', { image: f32(img, [1, 3, ...sizes[i]]) });
    const out = Object.fromEntries(answers[i].body.outputs.map((o: { name: string }) => [o.name, o]));
    t.same(out.mask.shape, [1, 1, ...sizes[i]]);
    t.ok(maxAbsDiff(out.mask.data, want.mask.data as Float32Array) < 1e-5, `image ${i} mask equals a direct run`);
    t.ok(maxAbsDiff(out.features.data, want.features.data as Float32Array) < 1e-5, `image ${i} features equal a direct run`);
  }
  const stats = server.stats()[0];
  t.equal(stats.batching.enabled, true);
  t.match(stats.batching.reason, /dynamic dimension 0 \('batch'\)/);
  t.ok(stats.replicas[0].maxBatchRows > 1, `same-size images shared a run (largest: ${stats.replicas[0].maxBatchRows})`);
  t.ok(stats.replicas[0].batches >= 3, 'images of different sizes never share a run');
});

t.test('batching: false never batches a model that could', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: false }]);
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => infer(server.url, 'mlp', [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(i, 784) }])),
  );
  t.same([...new Set(answers.map((a) => a.status))], [200]);
  const stats = server.stats()[0];
  t.equal(stats.replicas[0].maxBatchRows, 1, 'each request ran alone');
  t.equal(stats.replicas[0].batches, 40);
});

t.test('requiring batching of a model that cannot batch is a config error naming what prevents it', async (t) => {
  const config = validateConfig(
    {
      http: { port: 0 },
      node: { cpus: 4 },
      deployments: [
        { name: 'fixed', model: modelPath('fixed-batch.onnx'), batching: true },
        { name: 'vad', model: modelPath('recurrent-state.onnx'), batching: { maxBatchSize: 4 } },
        { name: 'ok', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 4 } },
      ],
    },
    modelPath('ferry.config.ts'),
  );
  const err = await FerryServer.start(config).then(
    (s) => (s.close(0), null),
    (e: Error & { code?: string }) => e,
  );
  t.equal(err?.code, 'FERRY_ERR_CONFIG_INVALID');
  t.match(err?.message, /deployments\[0\]\.batching: fixed's model cannot batch along dimension 0 \(input 'x' has a fixed dimension 0 of 1\)/);
  t.match(err?.message, /deployments\[1\]\.batching: vad's model cannot batch along dimension 0 \(input 'state' has a fixed dimension 0 of 2\)/);
  t.notMatch(err?.message, /deployments\[2\]/);
});

t.test('the default body limit takes an ordinary 224×224 image as JSON for a model with dynamic spatial dimensions', async (t) => {
  const server = await startFerry(t, [{ name: 'seg', model: modelPath('dynamic-image.onnx') }]);
  t.equal(server.bodyLimit.bytes, 16 * 1024 * 1024 * 4, 'the largest float32 tensor maxTensorElements allows');
  t.match(server.bodyLimit.reason, /input 'image' of seg has dynamic dimensions/);
  const image = randomRow(9, 3 * 224 * 224);
  const body = JSON.stringify({ inputs: [{ name: 'image', shape: [1, 3, 224, 224], datatype: 'FP32', data: image }] });
  t.ok(body.length > 1024 * 1024, `the body (${body.length} bytes) is over the old 1 MiB default`);
  const res = await postJson(`${server.url}/v2/models/seg/infer`, body);
  t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 200));
  const want = await directRun('dynamic-image.onnx', { image: f32(image, [1, 3, 224, 224]) });
  const features = res.body.outputs.find((o: { name: string }) => o.name === 'features');
  t.ok(maxAbsDiff(features.data, want.features.data as Float32Array) < 1e-5, 'features equal a direct run');
});

t.test('a process host runs unbatched calls with their exact shapes too', async (t) => {
  const server = await startFerry(t, [{ name: 'vad', model: modelPath('recurrent-state.onnx'), replicaHost: 'process' }]);
  const input = randomRow(600, 2 * 40);
  const state = randomRow(601, 2 * 2 * 128);
  const answers = await Promise.all(
    [16000, 8000].map((sr) =>
      infer(server.url, 'vad', [
        { name: 'input', shape: [2, 40], datatype: 'FP32', data: input },
        { name: 'state', shape: [2, 2, 128], datatype: 'FP32', data: state },
        { name: 'sr', shape: [], datatype: 'INT64', data: [sr] },
      ]),
    ),
  );
  for (const [i, sr] of [16000, 8000].entries()) {
    t.equal(answers[i].status, 200);
    const want = await directRun('recurrent-state.onnx', {
      input: f32(input, [2, 40]),
      state: f32(state, [2, 2, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(sr)), []),
    });
    const output = answers[i].body.outputs.find((o: { name: string }) => o.name === 'output');
    t.ok(maxAbsDiff(output.data, want.output.data as Float32Array) < 1e-6, `sr ${sr}: output equals a direct run`);
  }
});

t.test('rank-0 inputs and outputs stay rank 0, in JSON and binary', async (t) => {
  const { OnnxGraphBuilder, OnnxType } = await import('../models/index.js');
  const g = new OnnxGraphBuilder('scalar');
  const s = g.input('s', OnnxType.INT64, []);
  g.node('Add', [s, g.int64s('one', [], [1])], {}, { output: 'next' });
  g.output('next', OnnxType.INT64, []);
  const dir = t.testdir({ 'scalar.onnx': Buffer.from(g.toBytes()) });
  const server = await startFerry(t, [{ name: 'scalar', model: `${dir}/scalar.onnx` }]);
  t.match(server.stats()[0].batching, { enabled: false, reason: /input 's' is a scalar \(rank 0\)/ });
  const res = await infer(server.url, 'scalar', [{ name: 's', shape: [], datatype: 'INT64', data: [41] }]);
  t.same(res.body.outputs, [{ name: 'next', datatype: 'INT64', shape: [], data: [42] }]);
  const header = JSON.stringify({ inputs: [{ name: 's', shape: [], datatype: 'INT64', parameters: { binary_data_size: 8 } }], parameters: { binary_data_output: true } });
  const bin = await fetch(`${server.url}/v2/models/scalar/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([Buffer.from(header), Buffer.from(BigInt64Array.of(-7n).buffer)]),
  });
  const all = Buffer.from(await bin.arrayBuffer());
  const length = Number(bin.headers.get('inference-header-content-length'));
  t.same(JSON.parse(all.toString('utf8', 0, length)).outputs[0].shape, [], 'binary answer: rank 0');
  t.equal(all.readBigInt64LE(length), -6n);
});
