// `ferry serve examples/tenants.config.ts`: model multiplexing. One deployment
// serves every model in models/tenants/ (alpha, beta, gamma, delta); each
// request names one (header ferry-model-id, or the model name tenants/<id>),
// a replica loads it on first use and keeps at most two, releasing the least
// recently used. Calls go to a replica that holds their model already.
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    {
      name: 'tenants',
      multiplex: { directory: '../models/tenants', maxModelsPerReplica: 2 },
      numReplicas: 2,
      resources: { cpus: 0.5 },
    },
  ],
});
