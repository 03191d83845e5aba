import { OnnxGraphBuilder, OnnxType } from './onnx-builder.js';
import { MODEL_SEED } from './model-zoo.js';
import { heUniform, seededRandom } from './seeded-random.js';

// Small models with the shape quirks of real exported models, for testing how
// Ferry handles inputs and outputs that are not simply [batch, ...].

/**
 * Mimics a model exported with a fixed batch of 1 (e.g. a torch.onnx.export
 * without `dynamic_axes`): no dimension is symbolic, so only batch 1 is accepted.
 *
 * - input `x` float32 [1, 25, 96]
 * - output `score` float32 [1, 1] = Sigmoid(Gemm(Flatten(x), W [2400,1], b [1]))
 */
export function buildFixedBatch(seed = MODEL_SEED + 2): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('fixed_batch');
  const x = g.input('x', OnnxType.FLOAT, [1, 25, 96]);
  const flat = g.node('Flatten', [x], { axis: 1 });
  const w = g.floats('head.weight', [2400, 1], heUniform(rand, 2400, 2400));
  const b = g.floats('head.bias', [1], heUniform(rand, 1, 2400));
  g.node('Sigmoid', [g.node('Gemm', [flat, w, b])], {}, { output: 'score' });
  g.output('score', OnnxType.FLOAT, [1, 1]);
  return g.toBytes();
}

/**
 * Mimics Silero-VAD-style streaming models: a recurrent state that is fed back
 * each call and carries the batch on axis 1, plus a rank-0 sample-rate input.
 *
 * - inputs: `input` float32 [batch, samples], `state` float32 [2, batch, 128],
 *   `sr` int64 [] (scalar sample rate, e.g. 16000 or 8000)
 * - outputs: `output` float32 [batch, 1], `stateN` float32 [2, batch, 128]
 *
 * stateN = tanh(0.9·state + mean(input, axis 1)·w), w a seeded [128] vector;
 * output = sigmoid(mean(stateN over axes 2 and 0) · sr / 16000).
 */
export function buildRecurrentState(seed = MODEL_SEED + 3): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('recurrent_state');
  const input = g.input('input', OnnxType.FLOAT, ['batch', 'samples']);
  const state = g.input('state', OnnxType.FLOAT, [2, 'batch', 128]);
  const sr = g.input('sr', OnnxType.INT64, []);
  const m = g.node('ReduceMean', [input], { axes: [1], keepdims: 1 }); // [batch,1]
  const w = g.floats('mix.weight', [128], heUniform(rand, 128, 1));
  const drive = g.node('Mul', [m, w]); // [batch,128]
  const decayed = g.node('Mul', [state, g.floats('decay', [], Float32Array.of(0.9))]);
  g.node('Tanh', [g.node('Add', [decayed, drive])], {}, { output: 'stateN' });
  const perLayer = g.node('ReduceMean', ['stateN'], { axes: [2], keepdims: 0 }); // [2,batch]
  const pooled = g.node('ReduceMean', [perLayer], { axes: [0], keepdims: 0 }); // [batch]
  const column = g.node('Unsqueeze', [pooled, g.int64s('unsqueeze.axes', [1], [1])]); // [batch,1]
  const rate = g.node('Div', [g.node('Cast', [sr], { to: OnnxType.FLOAT }), g.floats('rate.base', [], Float32Array.of(16000))]);
  g.node('Sigmoid', [g.node('Mul', [column, rate])], {}, { output: 'output' });
  g.output('output', OnnxType.FLOAT, ['batch', 1]);
  g.output('stateN', OnnxType.FLOAT, [2, 'batch', 128]);
  return g.toBytes();
}

/**
 * An output that reduces over the batch, so its rows do not belong to any one
 * request (like a model that returns batch statistics).
 *
 * - input `x` float32 [batch, 4]
 * - outputs `doubled` float32 [batch, 4] = 2·x, `total` float32 [1, 4] = column sums of x
 */
export function buildBatchReduce(): Uint8Array {
  const g = new OnnxGraphBuilder('batch_reduce');
  const x = g.input('x', OnnxType.FLOAT, ['batch', 4]);
  g.node('Mul', [x, g.floats('two', [], Float32Array.of(2))], {}, { output: 'doubled' });
  g.node('ReduceSum', [x, g.int64s('sum.axes', [1], [0])], { keepdims: 1 }, { output: 'total' });
  g.output('doubled', OnnxType.FLOAT, ['batch', 4]);
  g.output('total', OnnxType.FLOAT, [1, 4]);
  return g.toBytes();
}

/**
 * Mimics segmentation/detection backbones exported with dynamic spatial size.
 *
 * - input `image` float32 [batch, 3, height, width]
 * - outputs `mask` float32 [batch, 1, height, width] (per-pixel sigmoid) and
 *   `features` float32 [batch, 4] (global average pool of the conv features)
 *
 * image → Conv 3→4 (3×3, pads 1) → ReLU → { Conv 4→1 (1×1) → Sigmoid = mask;
 * GlobalAveragePool → Flatten = features }.
 */
export function buildDynamicImage(seed = MODEL_SEED + 4): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('dynamic_image');
  const image = g.input('image', OnnxType.FLOAT, ['batch', 3, 'height', 'width']);
  const w1 = g.floats('conv.weight', [4, 3, 3, 3], heUniform(rand, 4 * 27, 27));
  const b1 = g.floats('conv.bias', [4], heUniform(rand, 4, 27).map((v) => v * 0.1));
  const relu = g.node('Relu', [g.node('Conv', [image, w1, b1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
  const w2 = g.floats('mask.weight', [1, 4, 1, 1], heUniform(rand, 4, 4));
  const b2 = g.floats('mask.bias', [1], heUniform(rand, 1, 4).map((v) => v * 0.1));
  g.node('Sigmoid', [g.node('Conv', [relu, w2, b2], { kernel_shape: [1, 1] })], {}, { output: 'mask' });
  g.node('Flatten', [g.node('GlobalAveragePool', [relu])], { axis: 1 }, { output: 'features' });
  g.output('mask', OnnxType.FLOAT, ['batch', 1, 'height', 'width']);
  g.output('features', OnnxType.FLOAT, ['batch', 4]);
  return g.toBytes();
}
