import { OnnxGraphBuilder, OnnxType } from './onnx-builder.js';
import { buildBatchReduce, buildDynamicImage, buildFixedBatch, buildRecurrentState } from './quirk-models.js';
import { heUniform, seededRandom } from './seeded-random.js';
import { buildSessionRnn, buildTenantModel, TENANTS } from './session-models.js';

/** The seed every generated model starts from; changing it changes every weight. */
export const MODEL_SEED = 20261128;

function dense(g: OnnxGraphBuilder, rand: () => number, x: string, name: string, inDim: number, outDim: number): string {
  const w = g.floats(`${name}.weight`, [inDim, outDim], heUniform(rand, inDim * outDim, inDim));
  const b = g.floats(`${name}.bias`, [outDim], heUniform(rand, outDim, inDim).map((v) => v * 0.1));
  return g.node('Gemm', [x, w, b]);
}

/** MLP: float32 [N,784] → 784×512 → ReLU → 512×512 → ReLU → 512×10 → [N,10]. */
export function buildMlp(seed = MODEL_SEED): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('mlp');
  const x = g.input('input', OnnxType.FLOAT, ['batch', 784]);
  const h1 = g.node('Relu', [dense(g, rand, x, 'fc1', 784, 512)]);
  const h2 = g.node('Relu', [dense(g, rand, h1, 'fc2', 512, 512)]);
  const w = g.floats('fc3.weight', [512, 10], heUniform(rand, 5120, 512));
  const b = g.floats('fc3.bias', [10], heUniform(rand, 10, 512));
  g.node('Gemm', [h2, w, b], {}, { output: 'logits' });
  g.output('logits', OnnxType.FLOAT, ['batch', 10]);
  return g.toBytes();
}

function convBlock(g: OnnxGraphBuilder, rand: () => number, x: string, name: string, cin: number, cout: number): string {
  const fanIn = cin * 9;
  const w = g.floats(`${name}.weight`, [cout, cin, 3, 3], heUniform(rand, cout * fanIn, fanIn));
  const b = g.floats(`${name}.bias`, [cout], heUniform(rand, cout, fanIn).map((v) => v * 0.1));
  const conv = g.node('Conv', [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  return g.node('MaxPool', [g.node('Relu', [conv])], { kernel_shape: [2, 2], strides: [2, 2] });
}

/** MNIST-style CNN: float32 [N,1,28,28] → 2 × (conv3×3 + ReLU + maxpool2) → dense → [N,10]. */
export function buildMnistCnn(seed = MODEL_SEED + 1): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('mnist_cnn');
  const x = g.input('image', OnnxType.FLOAT, ['batch', 1, 28, 28]);
  const c1 = convBlock(g, rand, x, 'conv1', 1, 8);
  const c2 = convBlock(g, rand, c1, 'conv2', 8, 16);
  const flat = g.node('Flatten', [c2], { axis: 1 });
  const w = g.floats('fc.weight', [16 * 7 * 7, 10], heUniform(rand, 784 * 10, 784));
  const b = g.floats('fc.bias', [10], heUniform(rand, 10, 784));
  g.node('Gemm', [flat, w, b], {}, { output: 'logits' });
  g.output('logits', OnnxType.FLOAT, ['batch', 10]);
  return g.toBytes();
}

/**
 * Two inputs of different dtypes and two outputs:
 * x float32 [N,4], k int64 [N,1] → scaled = x·k (float32 [N,4]), next = k+1 (int64 [N,1]).
 */
export function buildMixedInputs(): Uint8Array {
  const g = new OnnxGraphBuilder('mixed_inputs');
  const x = g.input('x', OnnxType.FLOAT, ['batch', 4]);
  const k = g.input('k', OnnxType.INT64, ['batch', 1]);
  const kf = g.node('Cast', [k], { to: OnnxType.FLOAT });
  g.node('Mul', [x, kf], {}, { output: 'scaled' });
  g.node('Add', [k, g.int64s('one', [1], [1])], {}, { output: 'next' });
  g.output('scaled', OnnxType.FLOAT, ['batch', 4]);
  g.output('next', OnnxType.INT64, ['batch', 1]);
  return g.toBytes();
}

/** The element types `identity-all.onnx` passes through, by the suffix of its tensor names. */
export const IDENTITY_TYPES = Object.freeze({
  bool: OnnxType.BOOL, uint8: OnnxType.UINT8, uint16: OnnxType.UINT16, uint32: OnnxType.UINT32,
  uint64: OnnxType.UINT64, int8: OnnxType.INT8, int16: OnnxType.INT16, int32: OnnxType.INT32,
  int64: OnnxType.INT64, float16: OnnxType.FLOAT16, float32: OnnxType.FLOAT, float64: OnnxType.DOUBLE,
  string: OnnxType.STRING,
});

/** One Identity per element type: `in_<type>` [N,2] → `out_<type>` [N,2], for datatype conformance. */
export function buildIdentityAll(): Uint8Array {
  const g = new OnnxGraphBuilder('identity_all');
  for (const [name, type] of Object.entries(IDENTITY_TYPES)) {
    const x = g.input(`in_${name}`, type, ['batch', 2]);
    g.node('Identity', [x], {}, { output: `out_${name}` });
    g.output(`out_${name}`, type, ['batch', 2]);
  }
  return g.toBytes();
}

/** One Identity of one element type: `in_<type>` [N,2] → `out_<type>` [N,2], for exactness tests of a single datatype. */
export function buildIdentity(type: keyof typeof IDENTITY_TYPES): Uint8Array {
  const g = new OnnxGraphBuilder(`identity_${type}`);
  const x = g.input(`in_${type}`, IDENTITY_TYPES[type], ['batch', 2]);
  g.node('Identity', [x], {}, { output: `out_${type}` });
  g.output(`out_${type}`, IDENTITY_TYPES[type], ['batch', 2]);
  return g.toBytes();
}

/** Every model Ferry generates, by file name. */
export const MODEL_BUILDERS: Readonly<Record<string, () => Uint8Array>> = Object.freeze({
  'mlp.onnx': () => buildMlp(),
  'mnist-cnn.onnx': () => buildMnistCnn(),
  'mixed-inputs.onnx': () => buildMixedInputs(),
  'identity-all.onnx': () => buildIdentityAll(),
  'identity-int64.onnx': () => buildIdentity('int64'),
  'identity-uint64.onnx': () => buildIdentity('uint64'),
  'identity-int32.onnx': () => buildIdentity('int32'),
  'identity-string.onnx': () => buildIdentity('string'),
  'identity-float32.onnx': () => buildIdentity('float32'),
  'fixed-batch.onnx': () => buildFixedBatch(),
  'recurrent-state.onnx': () => buildRecurrentState(),
  'batch-reduce.onnx': () => buildBatchReduce(),
  'dynamic-image.onnx': () => buildDynamicImage(),
  'session-rnn.onnx': () => buildSessionRnn(MODEL_SEED + 5),
  ...Object.fromEntries(TENANTS.map((name, i) => [`tenants/${name}.onnx`, () => buildTenantModel(MODEL_SEED + 100 + i)])),
});
