// `ferry serve examples/classify.config.ts`: the CNN with its pre- and
// post-processing in one batched handler; POST /v2/models/classify/infer
// with `pixels`, [n, 28, 28] UINT8, answers `label` and `probability`.
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    {
      name: 'classify',
      model: '../models/mnist-cnn.onnx',
      handler: './classify.handler.ts',
      batching: { maxBatchSize: 16, batchWaitTimeoutMs: 5 },
      resources: { cpus: 1 },
    },
  ],
});
