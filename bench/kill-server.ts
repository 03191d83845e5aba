/* The server of `npm run bench -- kill`: mixed-inputs on two process replicas, so a kill is a SIGKILL. */
import { serveForBench } from './serve-for-bench.js';

await serveForBench({
  http: { port: 0 },
  node: { cpus: 2 },
  deployments: [{ name: 'mixed', model: './mixed-inputs.onnx', replicaHost: 'process', numReplicas: 2, resources: { cpus: 1 } }],
});
