/*
 * Ferry in its own process for `npm run bench -- batching`: the same model
 * three times, one replica each, batched three ways — adaptive to a latency
 * target, a fixed 10 ms window, and no window.
 */
import { serveForBench } from './serve-for-bench.js';

const common = { model: './mlp.onnx', maxOngoingRequests: 256, maxQueuedRequests: 4096, resources: { cpus: 1 } };
await serveForBench({
  http: { port: 0 },
  node: { cpus: 3 },
  deployments: [
    { name: 'adaptive', ...common, batching: { maxBatchSize: 64, targetLatencyMs: 50 } },
    { name: 'fixed-10ms', ...common, batching: { maxBatchSize: 64, batchWaitTimeoutMs: 10 } },
    { name: 'no-window', ...common, batching: { maxBatchSize: 64, batchWaitTimeoutMs: 0 } },
  ],
});
