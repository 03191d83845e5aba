// `ferry serve examples/stream-rnn.config.ts`: sticky sessions. Two replicas,
// each keeping the RNN state of the sessions placed on it; every call of one
// session (one ferry-session-id, one WebSocket connection) goes to one replica.
import { defineConfig } from 'ferry-serve';

export default defineConfig({
  http: { port: 8000 },
  deployments: [
    {
      name: 'rnn',
      model: '../models/session-rnn.onnx',
      handler: './stream-rnn.handler.ts',
      requestRouter: 'session-affinity',
      numReplicas: 2,
      resources: { cpus: 0.5 },
      routePrefix: '/rnn',
      routes: [
        { method: 'POST', path: '/feed', call: 'feed' },
        { method: 'POST', path: '/reset', call: 'reset' },
      ],
      websockets: [{ path: '/chunks', call: 'feed' }],
    },
  ],
});
