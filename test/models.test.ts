import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import t from 'tap';
import { buildMlp, ensureModels, MODEL_BUILDERS } from '../models/index.js';

t.test('generation is deterministic: same seed, same bytes; another seed, other weights', async (t) => {
  // Buffer.equals: tap's deep comparison is far too slow for 2.7 MB.
  t.ok(Buffer.from(buildMlp(1)).equals(Buffer.from(buildMlp(1))), 'same seed, same bytes');
  t.notOk(Buffer.from(buildMlp(1)).equals(Buffer.from(buildMlp(2))), 'another seed, other bytes');
});

t.test('ensureModels writes every model once, and onnxruntime loads each with a dynamic batch dimension', async (t) => {
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
  };
  for (const [file, want] of Object.entries(expected)) {
    const session = await ort.InferenceSession.create(readFileSync(join(dir, file)));
    const describe = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
      m.map((v) => (v.isTensor ? [v.name, v.type, [...v.shape]] : [v.name]));
    t.same(describe(session.inputMetadata), want.inputs, `${file} inputs`);
    t.same(describe(session.outputMetadata), want.outputs, `${file} outputs`);
  }
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
