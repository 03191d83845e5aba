/*
 * Ferry in its own process, as `ferry serve` runs it, answering the bench's
 * requests for pool counters over IPC.
 */
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';

const config = validateConfig(
  {
    http: { port: 0 },
    deployments: [{ name: 'mlp', model: './mlp.onnx', batching: { maxBatchSize: 32 }, maxOngoingRequests: 64 }],
  },
  modelPath('bench.config.ts'),
);
const server = await FerryServer.start(config);
process.send?.({ url: server.url });
process.on('message', (msg) => {
  if (msg === 'stats') process.send?.({ stats: server.stats() });
});
process.on('disconnect', () => void server.close(1000).then(() => process.exit(0)));
