import { createHash } from 'node:crypto';
import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { TEST_INGRESS_THREADS } from './helpers/ferry.js';
import { freePort } from './helpers/system-tool.js';

/*
 * `admin: { host, port }`: status, metrics and the repository on a listener
 * of their own, off the inference one; with API keys, admin keys only.
 */

const OPS = 'ops-key-1234';
const CLIENT = 'client-key-5678';
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

t.test('the admin routes move to their own port; inference stays on the main one', async (t) => {
  const port = await freePort();
  const config = validateConfig(
    {
      http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
      node: { cpus: 16 },
      admin: { host: '127.0.0.1', port },
      auth: {
        apiKeys: [
          { name: 'ops', sha256: sha(OPS), scopes: ['admin'] },
          { name: 'client', sha256: sha(CLIENT), scopes: ['infer'] },
        ],
        public: ['health'],
      },
      deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config);
  t.teardown(() => server.close(2000));
  t.equal(server.adminUrl, `http://127.0.0.1:${port}`);
  const get = (url: string, key?: string, init: RequestInit = {}) => fetch(url, { ...init, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(init.headers as object) } });
  for (const path of ['/-/status', '/metrics', '/-/dashboard', '/-/dashboard/data']) {
    t.equal((await get(`${server.url}${path}`, OPS)).status, 404, `${path} is no longer on the inference listener`);
    t.equal((await get(`${server.adminUrl}${path}`, OPS)).status, 200, `${path} is on the admin one`);
  }
  const adminDocs = (await (await get(`${server.adminUrl}/docs/json`, OPS)).json()) as { paths: Record<string, unknown> };
  t.same(
    Object.keys(adminDocs.paths).filter((p) => /^\/(-|metrics|v2\/repository)/.test(p)).sort(),
    [
      '/-/config',
      '/-/dashboard',
      '/-/dashboard/assets/{file}',
      '/-/dashboard/data',
      '/-/status',
      '/metrics',
      '/v2/repository/index',
      '/v2/repository/models/{name}/load',
      '/v2/repository/models/{name}/unload',
    ].sort(),
    "the admin listener's own docs describe its routes",
  );
  const mainDocs = (await (await get(`${server.url}/docs/json`, OPS)).json()) as { paths: Record<string, unknown> };
  t.notOk(mainDocs.paths['/-/status'], "and the inference listener's, only its own");
  t.equal((await get(`${server.url}/v2/repository/index`, OPS, { method: 'POST' })).status, 404);
  const index = await get(`${server.adminUrl}/v2/repository/index`, OPS, { method: 'POST' });
  t.same(await index.json(), [{ name: 'mlp', version: '', state: 'READY', reason: '' }], 'the repository index, on the admin listener');
  t.equal((await get(`${server.adminUrl}/-/status`)).status, 401, 'an admin route needs a key there too');
  t.equal((await get(`${server.adminUrl}/-/status`, CLIENT)).status, 403, 'an admin key');
  t.equal((await get(`${server.adminUrl}/v2/health/live`)).status, 200, 'its health as public as configured');
  t.equal((await get(`${server.adminUrl}/v2/models/mlp`, OPS)).status, 404, 'no model routes there');
  t.ok((await get(`${server.adminUrl}/-/status`, OPS)).headers.get('x-request-id'), 'answers carry request ids there too');
  const infer = await get(`${server.url}/v2/models/mlp/infer`, CLIENT, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: new Array(784).fill(0.1) }] }),
  });
  t.equal(infer.status, 200, 'inference on the main listener');
  await server.close(2000);
  await t.rejects(fetch(`${server.adminUrl}/v2/health/live`), 'the admin listener closes with the server');
});

t.test('an admin port already in use fails the start, and nothing is left listening', async (t) => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 16 }, admin: { host: '127.0.0.1', port }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] }, modelPath('ferry.config.ts'));
  await t.rejects(FerryServer.start(config), { code: 'EADDRINUSE' });
});
