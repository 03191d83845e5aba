import type { FerryHandler, ReplicaContext, TensorMap } from '../index.js';

/** Passes its request to the deployment named in userConfig.to through a handle, unchanged, and answers what it answers. */
export default class Relay implements FerryHandler {
  // The MLP's interface, which it relays.
  static metadata = {
    inputs: [{ name: 'input', dtype: 'float32' as const, shape: [-1, 784] }],
    outputs: [{ name: 'logits', dtype: 'float32' as const, shape: [-1, 10] }],
  };

  constructor(private readonly ctx: ReplicaContext<{ to: string }>) {}

  infer(inputs: TensorMap): Promise<TensorMap> {
    return this.ctx.handle(this.ctx.userConfig.to).infer(inputs);
  }
}
