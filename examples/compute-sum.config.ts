// `ferry serve examples/compute-sum.config.ts`: Ray's compute_sum example as
// Ferry code. `compute-sum` fans chunks out to the `sum-chunk` pool through
// a handle and gathers the partial sums.
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    { name: 'sum-chunk', handler: './compute-sum.handler.ts#SumChunk', numReplicas: 2, resources: { cpus: 0.5 } },
    {
      name: 'compute-sum',
      handler: './compute-sum.handler.ts#ComputeSum',
      routePrefix: '/sum',
      resources: { cpus: 0.5 },
      routes: [{ method: 'POST', path: '/compute', call: 'compute' }],
    },
  ],
});
