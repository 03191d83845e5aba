// Task parallelism, as Ray's `compute_sum` example does it with remote tasks:
// the list is cut into chunks, each chunk is summed on the `sum-chunk`
// pool through a handle, all at once, and the partial sums are gathered.
import { HandleCallError, type FerryHandler, type ReplicaContext, type RouteRequest, type TensorMap } from 'ferry-serve';

/** The client's mistake: a 400 with Ferry's code (a plain throw would answer 500). */
const badInput = (message: string) => new HandleCallError(message, 'FERRY_ERR_BODY_INVALID', 400);

/** `sum-chunk`: one chunk's sum (FP64), and the replica that summed it. */
export class SumChunk implements FerryHandler {
  static metadata = {
    inputs: [{ name: 'numbers', dtype: 'float64' as const, shape: [-1] }],
    outputs: [
      { name: 'sum', dtype: 'float64' as const, shape: [1] },
      { name: 'replica', dtype: 'string' as const, shape: [1] },
    ],
  };

  constructor(private readonly ctx: ReplicaContext) {}

  infer(inputs: TensorMap): TensorMap {
    let sum = 0;
    for (const v of inputs.numbers.data as Float64Array) sum += v;
    return {
      sum: { dtype: 'float64', dims: [1], data: Float64Array.of(sum) },
      replica: { dtype: 'string', dims: [1], data: [this.ctx.replicaId] },
    };
  }
}

/** `compute-sum`: POST /sum/compute {"numbers": [...], "chunkSize": 100} → {"total", "chunks", "replicas"}. */
export class ComputeSum {
  constructor(private readonly ctx: ReplicaContext) {}

  async compute(req: RouteRequest<{ numbers: number[]; chunkSize?: number }>) {
    const { numbers, chunkSize = 100 } = req.body;
    if (!Array.isArray(numbers) || !numbers.every((n) => typeof n === 'number')) throw badInput('numbers must be an array of numbers');
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw badInput('chunkSize must be a positive integer');
    const sumChunk = this.ctx.handle('sum-chunk');
    const partials = [];
    for (let i = 0; i < numbers.length; i += chunkSize) {
      const chunk = Float64Array.from(numbers.slice(i, i + chunkSize));
      partials.push(sumChunk.infer({ numbers: { dtype: 'float64', dims: [chunk.length], data: chunk } }));
    }
    const answers = await Promise.all(partials);
    const total = answers.reduce((sum, a) => sum + (a.sum.data as Float64Array)[0], 0);
    const replicas = [...new Set(answers.map((a) => (a.replica.data as string[])[0]))].sort();
    return { total, chunks: answers.length, replicas };
  }
}
