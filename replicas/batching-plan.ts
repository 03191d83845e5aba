import type { ModelMetadata, TensorSpec } from './tensor.js';

/** Whether a model's calls may be concatenated along dimension 0, and why (not). */
export interface BatchingPlan {
  /** True when every input and output has a dynamic dimension 0 that names the same symbol, and no other dimension names it. */
  batchable: boolean;
  /** Why: the batch symbol when batchable, else the first input or output that prevents it. */
  reason: string;
}

/**
 * Decides from a model's declared shapes whether calls can share a run, by
 * Triton's rule for `max_batch_size > 0`: every input and every output must
 * have a dynamic dimension 0, and where the model names it (ONNX `dim_param`),
 * the same name. Otherwise each call must run alone with its own shapes
 * (Triton's `max_batch_size: 0`): a fixed batch of 1, a state batched on
 * axis 1, a rank-0 input, or an output that reduces over the batch. Nor
 * can calls share a run when the batch symbol also names another dimension
 * (x ['batch', 'batch']): concatenating along dimension 0 alone would break
 * the equality the model declares.
 */
export function batchingPlanOf(meta: ModelMetadata): BatchingPlan {
  let named: { spec: TensorSpec; kind: string } | null = null;
  const tensors = [
    ...meta.inputs.map((spec) => ({ spec, kind: 'input' })),
    ...meta.outputs.map((spec) => ({ spec, kind: 'output' })),
  ];
  for (const t of tensors) {
    const { spec, kind } = t;
    if (spec.shape.length === 0) return { batchable: false, reason: `${kind} '${spec.name}' is a scalar (rank 0)` };
    if (spec.shape[0] >= 0) return { batchable: false, reason: `${kind} '${spec.name}' has a fixed dimension 0 of ${spec.shape[0]}` };
    const symbol = spec.dimParams[0];
    if (symbol === null) continue;
    if (named === null) named = t;
    else if (named.spec.dimParams[0] !== symbol) {
      return {
        batchable: false,
        reason: `${kind} '${spec.name}' names dimension 0 '${symbol}' where ${named.kind} '${named.spec.name}' names it '${named.spec.dimParams[0]}'`,
      };
    }
  }
  if (named === null) return { batchable: true, reason: 'every input and output has a dynamic dimension 0' };
  const symbol = named.spec.dimParams[0]!;
  for (const { spec, kind } of tensors) {
    const d = spec.dimParams.indexOf(symbol, 1);
    if (d > 0) {
      return {
        batchable: false,
        reason: `${kind} '${spec.name}' names dimension ${d} '${symbol}' too, the batch symbol of dimension 0: concatenating calls along dimension 0 would break that equality`,
      };
    }
  }
  return { batchable: true, reason: `every input and output has a dynamic dimension 0 ('${symbol}')` };
}
