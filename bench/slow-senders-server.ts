/* The server of `npm run bench -- slow-senders`: mlp, with the receive timeout the bench passes in FERRY_BENCH_RECEIVE_MS. */
import { serveForBench } from './serve-for-bench.js';

await serveForBench({
  http: { port: 0, receiveTimeoutMs: Number(process.env.FERRY_BENCH_RECEIVE_MS ?? 5000) },
  deployments: [{ name: 'mlp', model: './mlp.onnx' }],
});
