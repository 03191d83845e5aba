/*
 * Ferry with one autoscaling MLP deployment, in its own process, for
 * `npm run bench -- autoscale`. Short delays so a step shows within seconds.
 */
import { serveForBench } from './serve-for-bench.js';

await serveForBench({
  http: { port: 0 },
  node: { cpus: 2 },
  deployments: [
    {
      name: 'mlp',
      model: './mlp.onnx',
      batching: { maxBatchSize: 32 },
      maxOngoingRequests: 64,
      autoscaling: { minReplicas: 1, maxReplicas: 2, targetOngoingRequests: 16, metricsIntervalMs: 100, lookBackPeriodMs: 1000, upscaleDelayMs: 500, downscaleDelayMs: 10_000 },
    },
  ],
});
