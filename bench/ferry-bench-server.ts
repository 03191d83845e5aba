/*
 * Ferry in its own process, as `ferry serve` runs it. `mlp` is the
 * single-row deployment of the first comparison; `mlp-wide` has two replicas
 * and batches of up to 128 rows for the many-row loads.
 * `ferry-bench-server <ingressThreads>`: gateways sharing the port (default 1).
 */
import { serveForBench } from './serve-for-bench.js';

await serveForBench({
  http: { port: 0, bodyLimitBytes: 64 * 1024 * 1024, ingressThreads: Number(process.argv[2] ?? 1) },
  // Three replicas on two cores, declared: the comparisons run one deployment at a time.
  node: { cpus: 3 },
  deployments: [
    { name: 'mlp', model: './mlp.onnx', batching: { maxBatchSize: 32 }, maxOngoingRequests: 64 },
    { name: 'mlp-wide', model: './mlp.onnx', numReplicas: 2, batching: { maxBatchSize: 128 }, maxOngoingRequests: 128, maxQueuedRequests: 4096 },
  ],
});
