/*
 * Ferry in its own process, as `ferry serve` runs it, answering the bench's
 * requests for pool counters over IPC. `mlp` is the single-row deployment of
 * the first comparison; `mlp-wide` has two replicas and batches of up to 128 rows for the many-row loads.
 */
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';

const config = validateConfig(
  {
    http: { port: 0, bodyLimitBytes: 64 * 1024 * 1024 },
    // Three replicas on two cores, declared: the comparisons run one deployment at a time.
    node: { cpus: 3 },
    deployments: [
      { name: 'mlp', model: './mlp.onnx', batching: { maxBatchSize: 32 }, maxOngoingRequests: 64 },
      { name: 'mlp-wide', model: './mlp.onnx', numReplicas: 2, batching: { maxBatchSize: 128 }, maxOngoingRequests: 128, maxQueuedRequests: 4096 },
    ],
  },
  modelPath('bench.config.ts'),
);
const server = await FerryServer.start(config);
process.send?.({ url: server.url });
process.on('message', (msg: { type?: string; id?: number }) => {
  if (msg?.type === 'stats') process.send?.({ id: msg.id, stats: server.stats() });
});
process.on('disconnect', () => void server.close(1000).then(() => process.exit(0)));
