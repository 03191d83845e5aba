// `ferry serve examples/ensemble.config.ts`: one handler, two named models
// (context.models.mlp and context.models.cnn), their probabilities averaged;
// POST /v2/models/ensemble/infer with an `image` of [n, 784] floats.
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    {
      name: 'ensemble',
      handler: './ensemble.handler.ts',
      models: { mlp: '../models/mlp.onnx', cnn: '../models/mnist-cnn.onnx' },
      routePrefix: '/ensemble',
      resources: { cpus: 1 },
    },
  ],
});
