import { OnnxGraphBuilder, OnnxType } from './onnx-builder.js';
import { heUniform, seededRandom } from './seeded-random.js';

/** The models of the multiplexing example, one per tenant, in `models/tenants/`. */
export const TENANTS: readonly string[] = ['alpha', 'beta', 'gamma', 'delta'];

/**
 * One tenant's model for multiplexing: the same interface for every tenant,
 * its own seeded weights (as fine-tuned copies of one architecture are).
 * About 1 MiB of weights, so loading and evicting one shows in memory.
 *
 * - input `x` float32 [batch, 256]; output `scores` float32 [batch, 4]
 * - scores = relu(x · W1 + b1) · W2 + b2, W1 [256,1024], W2 [1024,4]
 */
export function buildTenantModel(seed: number): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('tenant');
  const x = g.input('x', OnnxType.FLOAT, ['batch', 256]);
  const w1 = g.floats('fc1.weight', [256, 1024], heUniform(rand, 256 * 1024, 256));
  const b1 = g.floats('fc1.bias', [1024], heUniform(rand, 1024, 256));
  const h = g.node('Relu', [g.node('Gemm', [x, w1, b1])]);
  const w2 = g.floats('fc2.weight', [1024, 4], heUniform(rand, 4096, 1024));
  const b2 = g.floats('fc2.bias', [4], heUniform(rand, 4, 1024));
  g.node('Gemm', [h, w2, b2], {}, { output: 'scores' });
  g.output('scores', OnnxType.FLOAT, ['batch', 4]);
  return g.toBytes();
}

/** Hidden units of {@link buildSessionRnn}. */
export const RNN_HIDDEN = 8;
/** Features per step of {@link buildSessionRnn}. */
export const RNN_FEATURES = 4;

/**
 * A small recurrent model, for state kept per session: ONNX's `RNN` operator
 * (tanh cell, one direction), laid out as exported recurrent models are —
 * time first, the batch on axis 1 of the state.
 *
 * - inputs: `x` float32 [steps, batch, 4], `h0` float32 [1, batch, 8] (the state before the first step)
 * - outputs: `y` float32 [steps, 1, batch, 8] (the state after each step), `h` float32 [1, batch, 8] (after the last)
 *
 * h_t = tanh(x_t · Wᵀ + h_{t−1} · Rᵀ + b), W [8,4] and R [8,8] seeded: feeding
 * a sequence in chunks, each starting from the last chunk's `h`, gives the
 * outputs of feeding it whole.
 */
export function buildSessionRnn(seed: number): Uint8Array {
  const rand = seededRandom(seed);
  const g = new OnnxGraphBuilder('session_rnn');
  const x = g.input('x', OnnxType.FLOAT, ['steps', 'batch', RNN_FEATURES]);
  const h0 = g.input('h0', OnnxType.FLOAT, [1, 'batch', RNN_HIDDEN]);
  const w = g.floats('rnn.W', [1, RNN_HIDDEN, RNN_FEATURES], heUniform(rand, RNN_HIDDEN * RNN_FEATURES, RNN_FEATURES));
  // Small recurrent weights keep the state from saturating over long sequences.
  const r = g.floats('rnn.R', [1, RNN_HIDDEN, RNN_HIDDEN], heUniform(rand, RNN_HIDDEN * RNN_HIDDEN, RNN_HIDDEN).map((v) => v * 0.5));
  const b = g.floats('rnn.B', [1, 2 * RNN_HIDDEN], heUniform(rand, 2 * RNN_HIDDEN, RNN_HIDDEN).map((v) => v * 0.1));
  g.node('RNN', [x, w, r, b, '', h0], { hidden_size: RNN_HIDDEN }, { outputs: ['y', 'h'] });
  g.output('y', OnnxType.FLOAT, ['steps', 1, 'batch', RNN_HIDDEN]);
  g.output('h', OnnxType.FLOAT, [1, 'batch', RNN_HIDDEN]);
  return g.toBytes();
}
