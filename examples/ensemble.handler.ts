// An ensemble: the MLP and the CNN, both loaded in each replica, see the same
// 28×28 image; the answer is the average of their probabilities.
import type { FerryHandler, ReplicaContext, TensorMap } from 'ferry-serve';

function softmaxRows(logits: Float32Array, rows: number, width: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * width, (r + 1) * width);
    const max = Math.max(...row);
    let sum = 0;
    for (let i = 0; i < width; i++) sum += out[r * width + i] = Math.exp(row[i] - max);
    for (let i = 0; i < width; i++) out[r * width + i] /= sum;
  }
  return out;
}

export default class Ensemble implements FerryHandler {
  static metadata = {
    inputs: [{ name: 'image', dtype: 'float32' as const, shape: [-1, 784] }],
    outputs: [{ name: 'probabilities', dtype: 'float32' as const, shape: [-1, 10] }],
  };

  constructor(private readonly ctx: ReplicaContext) {}

  async infer(inputs: TensorMap): Promise<TensorMap> {
    const { data, dims } = inputs.image;
    const rows = dims[0];
    const { mlp, cnn } = this.ctx.models;
    const [a, b] = [
      await mlp.run({ input: { dtype: 'float32', dims: [rows, 784], data } }),
      await cnn.run({ image: { dtype: 'float32', dims: [rows, 1, 28, 28], data } }),
    ];
    const pa = softmaxRows(a.logits.data as Float32Array, rows, 10);
    const pb = softmaxRows(b.logits.data as Float32Array, rows, 10);
    return { probabilities: { dtype: 'float32', dims: [rows, 10], data: pa.map((v, i) => (v + pb[i]) / 2) } };
  }
}
