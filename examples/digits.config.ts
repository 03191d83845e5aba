// `ferry serve examples/digits.config.ts`: a pipeline. `digits` turns image
// bytes into a tensor and calls `mnist` (the CNN, batched) through a handle;
// `curl --data-binary @digit.png localhost:8000/digits/classify?k=3` (any PNG, or 784 raw bytes: `head -c 784 /dev/urandom > digit.raw`) (the example CNN is untrained: its labels are arbitrary).
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    { name: 'mnist', model: '../models/mnist-cnn.onnx', batching: { maxBatchSize: 32, batchWaitTimeoutMs: 2 }, resources: { cpus: 0.5 } },
    {
      name: 'digits',
      handler: './digits.handler.ts',
      userConfig: { model: 'mnist' },
      routePrefix: '/digits',
      resources: { cpus: 0.5 },
      routes: [{ method: 'POST', path: '/classify', call: 'classify', body: 'bytes' }],
    },
  ],
});
