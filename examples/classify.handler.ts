// Pre- and post-processing around a model in one handler, batched: the calls
// gathered for a batch (raw 28×28 grayscale bytes each) are normalised into
// one tensor, run through the CNN once, and each gets its label and probability.
import type { FerryHandler, ReplicaContext, TensorMap } from 'ferry-serve';

const PIXELS = 28 * 28;

export default class Classify implements FerryHandler {
  static metadata = {
    inputs: [{ name: 'pixels', dtype: 'uint8' as const, shape: [-1, 28, 28] }],
    outputs: [
      { name: 'label', dtype: 'int64' as const, shape: [-1] },
      { name: 'probability', dtype: 'float32' as const, shape: [-1] },
    ],
  };

  constructor(private readonly ctx: ReplicaContext) {}

  async inferBatch(batch: TensorMap[]): Promise<TensorMap[]> {
    const counts = batch.map((inputs) => inputs.pixels.dims[0]);
    const total = counts.reduce((a, b) => a + b, 0);
    // Pre-processing: every image of every call, scaled to [0, 1], in one tensor.
    const image = new Float32Array(total * PIXELS);
    let at = 0;
    for (const inputs of batch) for (const p of inputs.pixels.data as Uint8Array) image[at++] = p / 255;
    const { logits } = await this.ctx.model!.run({ image: { dtype: 'float32', dims: [total, 1, 28, 28], data: image } });
    // Post-processing: the most likely label of each image and its probability (softmax).
    const scores = logits.data as Float32Array;
    const labels = new BigInt64Array(total);
    const probabilities = new Float32Array(total);
    for (let r = 0; r < total; r++) {
      const row = scores.subarray(r * 10, r * 10 + 10);
      const max = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      const best = row.indexOf(max);
      labels[r] = BigInt(best);
      probabilities[r] = 1 / sum;
    }
    let first = 0;
    return counts.map((n) => {
      const part = {
        label: { dtype: 'int64' as const, dims: [n], data: labels.slice(first, first + n) },
        probability: { dtype: 'float32' as const, dims: [n], data: probabilities.slice(first, first + n) },
      };
      first += n;
      return part;
    });
  }
}
