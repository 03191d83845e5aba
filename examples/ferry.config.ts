// The example Ferry serves when `ferry serve` is given no config.
// Model files are generated from a fixed seed on first use (npm run models).
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { host: '127.0.0.1', port: 8000 },
  deployments: [
    {
      name: 'mlp',
      model: '../models/mlp.onnx',
      routePrefix: '/mlp',
      numReplicas: 1,
      batching: { maxBatchSize: 32, batchWaitTimeoutMs: 0 },
      maxOngoingRequests: 64,
      maxQueuedRequests: 1000,
    },
    {
      name: 'mnist-cnn',
      model: '../models/mnist-cnn.onnx',
      routePrefix: '/mnist',
      batching: { maxBatchSize: 32 },
      // Grows to 2 replicas under load; on a 2-core machine the second waits as pending.
      autoscaling: { minReplicas: 1, maxReplicas: 2, targetOngoingRequests: 32, upscaleDelayMs: 3000, downscaleDelayMs: 60000 },
    },
  ],
});
