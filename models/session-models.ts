import { OnnxGraphBuilder, OnnxType } from './onnx-builder.js';
import { heUniform, seededRandom } from './seeded-random.js';

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
