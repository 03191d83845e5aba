import http from 'node:http';
import t from 'tap';
import { loadConfig } from '../deployments/index.js';
import { buildGateway, type InferenceTarget } from '../gateway/index.js';
import { modelPath } from '../models/index.js';
import { ferry } from './helpers/cli.js';
import { randomRow, startFerry, waitFor } from './helpers/ferry.js';

t.test('FERRY_ERR_CONFIG_LOAD: a config that cannot be read or imported, from the API and the CLI', async (t) => {
  const dir = t.testdir({ 'broken.config.ts': 'export default { deployments: [ ;' });
  await t.rejects(loadConfig(`${dir}/missing.config.ts`), { code: 'FERRY_ERR_CONFIG_LOAD', message: /cannot load Ferry config .*missing\.config\.ts: file not found/ });
  await t.rejects(loadConfig(`${dir}/broken.config.ts`), { code: 'FERRY_ERR_CONFIG_LOAD', message: /cannot load Ferry config .*broken\.config\.ts: / });
  const run = ferry(['serve', `${dir}/missing.config.ts`]);
  t.equal(await run.exit, 1);
  t.match(run.err(), /^ferry: FERRY_ERR_CONFIG_LOAD: cannot load Ferry config/);
});

t.test('FERRY_ERR_INTERNAL: an unexpected error is a 500 in Ferry\'s form, not a crash', async (t) => {
  const target: InferenceTarget = {
    name: 'odd',
    routePrefix: null,
    version: null,
    modelIds: null,
    requestTimeoutMs: 1000,
    state: 'READY',
    ready: true,
    reason: '',
    batching: true,
    routes: [],
    websockets: [],
    callRoute: async () => null,
    metadata: { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2], dimParams: ['batch', null] }], outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2], dimParams: ['batch', null] }] },
    infer: async () => {
      throw new TypeError('something nobody planned for');
    },
  };
  const app = buildGateway({ targets: new Map([['odd', target]]) });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/v2/models/odd/infer', payload: { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] } });
  t.equal(res.statusCode, 500);
  t.same(res.json(), { error: 'internal error: something nobody planned for', code: 'FERRY_ERR_INTERNAL' });
  const again = await app.inject({ method: 'GET', url: '/v2/health/live' });
  t.equal(again.statusCode, 200, 'the gateway still answers');
});

t.test('FERRY_ERR_CLIENT_CLOSED: a client that leaves is counted with status 499', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: { batchWaitTimeoutMs: 1500 } }]);
  const pool = server.pools.get('mlp')!;
  const { port } = new URL(server.url);
  const req = http.request({ port, method: 'POST', path: '/v2/models/mlp/infer', headers: { 'content-type': 'application/json' } });
  req.on('error', () => {});
  req.end(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(5, 784) }] }));
  t.ok(await waitFor(() => pool.ongoing === 1), 'the call waits in the mailbox');
  req.destroy();
  let metrics = '';
  t.ok(
    await waitFor(() => /ferry_requests_total\{deployment="mlp",code="499"\} 1/.test(metrics), 5000, async () => {
      metrics = await (await fetch(`${server.url}/metrics`)).text();
    }),
    'counted as 499 (FERRY_ERR_CLIENT_CLOSED): nobody is left to read the answer',
  );
});
