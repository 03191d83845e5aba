/*
 * Ferry with one autoscaling MLP deployment, in its own process, for
 * `npm run bench -- autoscale`. Short delays so a step shows within seconds.
 */
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';

const config = validateConfig(
  {
    http: { port: 0 },
    node: { cpus: 2 },
    deployments: [
      {
        name: 'mlp',
        model: './mlp.onnx',
        batching: { maxBatchSize: 32 },
        maxOngoingRequests: 64,
        autoscaling: {
          minReplicas: 1,
          maxReplicas: 2,
          targetOngoingRequests: 16,
          metricsIntervalMs: 100,
          lookBackPeriodMs: 1000,
          upscaleDelayMs: 500,
          downscaleDelayMs: 10_000,
        },
      },
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
