// `ferry serve examples/counter.config.ts`: a code deployment with state and
// its own routes (no model). One replica, so every call sees the same count.
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    {
      name: 'counter',
      handler: './counter.handler.ts',
      routePrefix: '/counter',
      numReplicas: 1,
      resources: { cpus: 0.5 },
      routes: [
        { method: 'POST', path: '/increment', call: 'increment' },
        { method: 'GET', path: '/value', call: 'get' },
      ],
      websockets: [{ path: '/ws', call: 'onMessage' }],
    },
  ],
});
