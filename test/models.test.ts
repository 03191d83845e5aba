import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import t from 'tap';
import {
  buildBatchReduce,
  buildDynamicImage,
  buildFixedBatch,
  buildMlp,
  buildRecurrentState,
  ensureModels,
  MODEL_BUILDERS,
} from '../models/index.js';

t.test('generation is deterministic: same seed, same bytes; another seed, other weights', async (t) => {
  // Buffer.equals: tap's deep comparison is far too slow for 2.7 MB.
  t.ok(Buffer.from(buildMlp(1)).equals(Buffer.from(buildMlp(1))), 'same seed, same bytes');
  t.notOk(Buffer.from(buildMlp(1)).equals(Buffer.from(buildMlp(2))), 'another seed, other bytes');
});

t.test('ensureModels writes every model once, and onnxruntime reports the declared inputs and outputs of each', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-models-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.same(ensureModels(dir).sort(), Object.keys(MODEL_BUILDERS).sort());
  t.same(ensureModels(dir), [], 'nothing rewritten the second time');
  const expected: Record<string, { inputs: [string, string, (string | number)[]][]; outputs: [string, string, (string | number)[]][] }> = {
    'mlp.onnx': { inputs: [['input', 'float32', ['batch', 784]]], outputs: [['logits', 'float32', ['batch', 10]]] },
    'mnist-cnn.onnx': { inputs: [['image', 'float32', ['batch', 1, 28, 28]]], outputs: [['logits', 'float32', ['batch', 10]]] },
    'mixed-inputs.onnx': {
      inputs: [['x', 'float32', ['batch', 4]], ['k', 'int64', ['batch', 1]]],
      outputs: [['scaled', 'float32', ['batch', 4]], ['next', 'int64', ['batch', 1]]],
    },
    'fixed-batch.onnx': { inputs: [['x', 'float32', [1, 25, 96]]], outputs: [['score', 'float32', [1, 1]]] },
    'recurrent-state.onnx': {
      inputs: [['input', 'float32', ['batch', 'samples']], ['state', 'float32', [2, 'batch', 128]], ['sr', 'int64', []]],
      outputs: [['output', 'float32', ['batch', 1]], ['stateN', 'float32', [2, 'batch', 128]]],
    },
    'batch-reduce.onnx': {
      inputs: [['x', 'float32', ['batch', 4]]],
      outputs: [['doubled', 'float32', ['batch', 4]], ['total', 'float32', [1, 4]]],
    },
    'dynamic-image.onnx': {
      inputs: [['image', 'float32', ['batch', 3, 'height', 'width']]],
      outputs: [['mask', 'float32', ['batch', 1, 'height', 'width']], ['features', 'float32', ['batch', 4]]],
    },
    'session-rnn.onnx': {
      inputs: [['x', 'float32', ['steps', 'batch', 4]], ['h0', 'float32', [1, 'batch', 8]]],
      outputs: [['y', 'float32', ['steps', 1, 'batch', 8]], ['h', 'float32', [1, 'batch', 8]]],
    },
    'tenants/alpha.onnx': { inputs: [['x', 'float32', ['batch', 256]]], outputs: [['scores', 'float32', ['batch', 4]]] },
    'tenants/delta.onnx': { inputs: [['x', 'float32', ['batch', 256]]], outputs: [['scores', 'float32', ['batch', 4]]] },
  };
  for (const [file, want] of Object.entries(expected)) {
    const session = await ort.InferenceSession.create(readFileSync(join(dir, file)));
    const describe = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
      m.map((v) => (v.isTensor ? [v.name, v.type, [...v.shape]] : [v.name]));
    t.same(describe(session.inputMetadata), want.inputs, `${file} inputs`);
    t.same(describe(session.outputMetadata), want.outputs, `${file} outputs`);
  }
  t.notOk(readFileSync(join(dir, 'tenants/alpha.onnx')).equals(readFileSync(join(dir, 'tenants/beta.onnx'))), 'each tenant has weights of its own');
});

t.test('the MLP computes relu layers: batch rows are independent and logits vary with input', async (t) => {
  const session = await ort.InferenceSession.create(buildMlp());
  const a = Float32Array.from({ length: 784 }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: 784 }, (_, i) => Math.cos(i));
  const both = new Float32Array(784 * 2);
  both.set(a);
  both.set(b, 784);
  const one = (await session.run({ input: new ort.Tensor('float32', a, [1, 784]) })).logits.data as Float32Array;
  const two = (await session.run({ input: new ort.Tensor('float32', both, [2, 784]) })).logits.data as Float32Array;
  t.same(Array.from(two.slice(0, 10)), Array.from(one), 'row 0 of a batch equals the row alone');
  t.notSame(Array.from(two.slice(10)), Array.from(one), 'a different row gives different logits');
});

/** Whether two float arrays match element by element within `tol`. */
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol)) return false;
  return true;
}

/** Deterministic test data: sin of a scaled index, so rows and images differ. */
function wave(length: number, phase: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i * 0.37 + phase));
}

t.test('fixed-batch: a score in (0,1) that varies with input; batch 2 is rejected', async (t) => {
  const session = await ort.InferenceSession.create(buildFixedBatch());
  const score = async (x: Float32Array) =>
    (await session.run({ x: new ort.Tensor('float32', x, [1, 25, 96]) })).score;
  const a = await score(wave(2400, 0));
  const b = await score(wave(2400, 1.5));
  t.same(a.dims, [1, 1]);
  const va = (a.data as Float32Array)[0];
  const vb = (b.data as Float32Array)[0];
  t.ok(va > 0 && va < 1, `score ${va} is in (0,1)`);
  t.ok(vb > 0 && vb < 1, `score ${vb} is in (0,1)`);
  t.not(va, vb, 'a different input gives a different score');
  await t.rejects(
    session.run({ x: new ort.Tensor('float32', new Float32Array(2 * 2400), [2, 25, 96]) }),
    /dimension/i,
    'onnxruntime rejects a batch of 2',
  );
});

t.test('recurrent-state: state on axis 1 and a scalar sample rate both change the output; rows are independent', async (t) => {
  const session = await ort.InferenceSession.create(buildRecurrentState());
  const samples = 64;
  const run = async (input: Float32Array, state: Float32Array, batch: number, sr: number) => {
    const out = await session.run({
      input: new ort.Tensor('float32', input, [batch, samples]),
      state: new ort.Tensor('float32', state, [2, batch, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(sr)), []),
    });
    return { output: out.output, stateN: out.stateN };
  };
  const rows = [wave(samples, 0).map((v) => v + 0.3), wave(samples, 2).map((v) => v - 0.2)];
  // Per-row state, [2][128] each: layer l of row r.
  const rowState = [0, 1].map((r) => [0, 1].map((l) => wave(128, 10 * r + l).map((v) => v * 0.5)));
  const stateOf = (r: number) => {
    const s = new Float32Array(2 * 128);
    s.set(rowState[r][0], 0);
    s.set(rowState[r][1], 128);
    return s;
  };

  const a16 = await run(rows[0], stateOf(0), 1, 16000);
  const a8 = await run(rows[0], stateOf(0), 1, 8000);
  t.same(a16.output.dims, [1, 1]);
  t.same(a16.stateN.dims, [2, 1, 128]);
  t.not((a16.output.data as Float32Array)[0], (a8.output.data as Float32Array)[0], 'sr 16000 and 8000 differ');
  const other = await run(rows[0], stateOf(1), 1, 16000);
  t.not((a16.output.data as Float32Array)[0], (other.output.data as Float32Array)[0], 'another state, another output');

  // Batch of 2: the state tensor is [2, batch, 128], so row r's slice is at [l][r].
  const both = new Float32Array(2 * samples);
  both.set(rows[0]);
  both.set(rows[1], samples);
  const state2 = new Float32Array(2 * 2 * 128);
  for (let l = 0; l < 2; l++) for (let r = 0; r < 2; r++) state2.set(rowState[r][l], (l * 2 + r) * 128);
  const pair = await run(both, state2, 2, 16000);
  t.same(pair.output.dims, [2, 1]);
  t.same(pair.stateN.dims, [2, 2, 128], 'stateN is [2, batch, 128]');
  const pairOut = pair.output.data as Float32Array;
  const pairState = pair.stateN.data as Float32Array;
  for (let r = 0; r < 2; r++) {
    const alone = await run(rows[r], stateOf(r), 1, 16000);
    t.ok(close([pairOut[r]], alone.output.data as Float32Array), `row ${r} output equals the row alone`);
    const aloneState = alone.stateN.data as Float32Array;
    for (let l = 0; l < 2; l++) {
      const slice = pairState.subarray((l * 2 + r) * 128, (l * 2 + r + 1) * 128);
      t.ok(close(slice, aloneState.subarray(l * 128, (l + 1) * 128)), `row ${r} stateN[${l}] equals the row alone`);
    }
  }
});

t.test('batch-reduce: doubled is 2·x and total is the column sums over the whole batch', async (t) => {
  const session = await ort.InferenceSession.create(buildBatchReduce());
  const batch = 3;
  const x = Float32Array.from({ length: batch * 4 }, (_, i) => (i % 5) - 1.5 + i * 0.25);
  const out = await session.run({ x: new ort.Tensor('float32', x, [batch, 4]) });
  t.same(out.doubled.dims, [batch, 4]);
  t.same(out.total.dims, [1, 4]);
  t.ok(close(out.doubled.data as Float32Array, Array.from(x, (v) => 2 * v)), 'doubled = 2·x');
  const sums = [0, 0, 0, 0];
  for (let r = 0; r < batch; r++) for (let c = 0; c < 4; c++) sums[c] += x[r * 4 + c];
  t.ok(close(out.total.data as Float32Array, sums), `total = column sums ${sums.join(', ')}`);
});

t.test('dynamic-image: any spatial size; mask keeps it; features of a batch equal each image alone', async (t) => {
  const session = await ort.InferenceSession.create(buildDynamicImage());
  const run = async (image: Float32Array, dims: number[]) =>
    session.run({ image: new ort.Tensor('float32', image, dims) });
  for (const [h, w] of [[8, 8], [224, 224]]) {
    const out = await run(wave(3 * h * w, h), [1, 3, h, w]);
    t.same(out.mask.dims, [1, 1, h, w], `${h}×${w}: mask has the input's spatial size`);
    t.same(out.features.dims, [1, 4], `${h}×${w}: features are [1, 4]`);
    t.ok((out.mask.data as Float32Array).every((v) => v > 0 && v < 1), `${h}×${w}: mask values are in (0,1)`);
  }
  const [h, w] = [8, 12];
  const size = 3 * h * w;
  const images = [wave(size, 0), wave(size, 4)];
  const both = new Float32Array(2 * size);
  both.set(images[0]);
  both.set(images[1], size);
  const pair = await run(both, [2, 3, h, w]);
  t.same(pair.mask.dims, [2, 1, h, w]);
  t.same(pair.features.dims, [2, 4]);
  const feats = pair.features.data as Float32Array;
  for (let i = 0; i < 2; i++) {
    const alone = (await run(images[i], [1, 3, h, w])).features.data as Float32Array;
    t.ok(close(feats.subarray(i * 4, i * 4 + 4), alone), `image ${i} features equal the image alone`);
  }
  t.notOk(close(feats.subarray(0, 4), feats.subarray(4, 8)), 'different images, different features');
});
