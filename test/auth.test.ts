import { createHash, timingSafeEqual } from 'node:crypto';
import t, { type Test } from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { matchKey } from '../gateway/auth.js';
import { modelPath } from '../models/index.js';
import { captureLog, randomRow, TEST_INGRESS_THREADS, waitFor } from './helpers/ferry.js';

/*
 * API keys: bearer tokens checked by hash in constant time, scoped to
 * inference on named deployments or to admin, never logged.
 */

const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const CLIENT = 'client-secret-0f9e';
const OTHER = 'other-secret-77aa';
const OPS = 'ops-secret-c3d2';
const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(5, 784) }] });

async function start(t: Test) {
  const log = captureLog();
  const config = validateConfig(
    {
      http: { port: 0, ingressThreads: TEST_INGRESS_THREADS, requestLog: true },
      node: { cpus: 16 },
      auth: {
        apiKeys: [
          { name: 'client', sha256: sha(CLIENT), scopes: ['infer:mlp'] },
          { name: 'other-only', sha256: sha(OTHER), scopes: ['infer:other'] },
          { name: 'ops', fromEnv: 'FERRY_TEST_OPS_KEY', scopes: ['admin'] },
        ],
        public: ['health'],
      },
      deployments: [
        { name: 'mlp', model: modelPath('mlp.onnx'), routePrefix: '/mlp' },
        { name: 'other', model: modelPath('mlp.onnx') },
      ],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config, { logger: { level: 'info', stream: log.stream } });
  t.teardown(() => server.close(2000));
  return { server, log };
}

process.env.FERRY_TEST_OPS_KEY = OPS;

t.test('keys and scopes: 401 without a valid key, 403 outside its scopes, served within them', async (t) => {
  const { server, log } = await start(t);
  const call = async (path: string, key?: string, init: RequestInit = {}) => {
    const res = await fetch(`${server.url}${path}`, { ...init, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(init.headers as Record<string, string>) } });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : text };
  };
  const infer = (model: string, key?: string) => call(`/v2/models/${model}/infer`, key, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const none = await infer('mlp');
  t.equal(none.status, 401, 'no key');
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="ferry"');
  t.match(none.body, { code: 'FERRY_ERR_UNAUTHORIZED', error: 'this route needs an API key: send Authorization: Bearer <key>' });
  const wrong = await infer('mlp', 'not-a-key');
  t.match({ status: wrong.status, body: wrong.body }, { status: 401, body: { code: 'FERRY_ERR_UNAUTHORIZED', error: 'the API key is not valid' } });
  t.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/);
  t.equal((await infer('mlp', CLIENT)).status, 200, 'its own deployment');
  t.equal((await call('/mlp/infer', CLIENT, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 200, 'under its route prefix too');
  const outside = await infer('other', CLIENT);
  t.match({ status: outside.status, body: outside.body }, { status: 403, body: { code: 'FERRY_ERR_FORBIDDEN', error: "API key 'client' may not call deployment 'other'" } });
  t.equal((await call('/v2/models/other', CLIENT)).status, 403, "another deployment's metadata too");
  t.match(await call('/-/status', CLIENT), { status: 403, body: { error: "API key 'client' has no admin scope, which this route needs" } });
  t.equal((await call('/metrics', CLIENT)).status, 403, 'metrics are admin unless left public');
  t.equal((await call('/v2/repository/index', CLIENT, { method: 'POST' })).status, 403, 'so is the repository');
  for (const path of ['/-/status', '/metrics']) t.equal((await call(path, OPS)).status, 200, `admin: ${path}`);
  t.equal((await infer('other', OPS)).status, 200, 'admin may call every deployment');
  t.equal((await call('/v2/health/ready')).status, 200, 'health left public');
  t.equal((await call('/v2')).status, 401, 'server metadata needs a key');
  t.equal((await call('/v2', OTHER)).status, 200, 'any key');
  t.equal((await call('/no/such/route')).status, 401, 'an unknown route tells a caller without a key nothing');
  t.equal((await call('/no/such/route', CLIENT)).status, 404);
  t.equal((await call('/v2/models/mlp', undefined, { headers: { authorization: `Basic ${Buffer.from(`x:${CLIENT}`).toString('base64')}` } })).status, 401, 'only Bearer, but on the pages a browser opens');
  const basic = (key: string) => ({ headers: { authorization: `Basic ${Buffer.from(`anyone:${key}`).toString('base64')}` } });
  t.equal((await call('/-/dashboard/data', undefined, basic(OPS))).status, 200, 'the status page takes the admin key as a Basic password');
  t.equal((await call('/-/dashboard/data', undefined, basic(CLIENT))).status, 403, 'and checks its scopes');
  const wrongBasic = await call('/-/dashboard', undefined, basic('not-a-key'));
  t.equal(wrongBasic.status, 401);
  t.equal(wrongBasic.headers.get('www-authenticate'), 'Basic realm="ferry"', 'a wrong key is asked again, as a browser expects');
  t.equal((await call('/-/dashboard', undefined, { headers: { authorization: 'Basic bm8tY29sb24=' } })).status, 401, 'Basic without a password');
  // Jobs: run by the gateway under a key of its own; readable only with a key that may call their deployment.
  const job = await call('/v2/models/mlp/infer', CLIENT, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'respond-async' }, body });
  t.equal(job.status, 202);
  const location = job.headers.get('location')!;
  let state = '';
  t.ok(await waitFor(() => state === 'succeeded', 10_000, async () => void (state = (await call(location, CLIENT)).body.state)), `the job ran (${state})`);
  t.equal((await call(`${location}/result`, CLIENT)).status, 200);
  t.equal((await call(location, OTHER)).status, 404, "a key that may not call mlp does not see mlp's job");
  t.equal((await call(location, OTHER, { method: 'DELETE' })).status, 404, 'nor cancel it');
  t.equal((await call(location)).status, 401);
  const lines = JSON.stringify(log.lines);
  t.ok(log.lines.some((l) => (l as { status?: number }).status === 403), 'the request log has the refusals');
  for (const secret of [CLIENT, OTHER, OPS]) t.notOk(lines.includes(secret), 'no key in any log line');
});

t.test('matching compares every key, each in constant time, whichever matches', async (t) => {
  const keys = ['a', 'b', 'c', 'd'].map((k) => ({ name: k, sha256: sha(`key-${k}`), admin: false, infer: '*' as const }));
  for (const which of ['a', 'd', 'none']) {
    let compared = 0;
    const counting = (x: Buffer, y: Buffer) => {
      compared++;
      return timingSafeEqual(x, y);
    };
    const found = matchKey(`key-${which}`, keys, counting);
    t.equal(found?.name ?? 'none', which);
    t.equal(compared, 4, `all four compared (${which})`);
  }
  t.equal(matchKey.length, 2, 'the comparison defaults to timingSafeEqual (the third parameter is optional)');
});

t.test('config: a key names its hash or its variable, known scopes, distinct names', async (t) => {
  const deployments = [{ name: 'mlp', model: modelPath('mlp.onnx') }];
  const check = (apiKeys: unknown[]) => () => validateConfig({ auth: { apiKeys }, deployments }, modelPath('ferry.config.ts'));
  t.throws(check([{ name: 'k', scopes: ['infer'] }]), /auth\.apiKeys\[0\]: give sha256 \(the key's hash\) or fromEnv \(a variable holding the key\), one of them/);
  t.throws(check([{ name: 'k', sha256: sha('x'), fromEnv: 'X', scopes: ['infer'] }]), /one of them/);
  t.throws(check([{ name: 'k', sha256: 'abc', scopes: ['infer'] }]), /auth\.apiKeys\[0\]\.sha256: 64 lowercase hex characters/);
  t.throws(check([{ name: 'k', fromEnv: 'FERRY_TEST_UNSET_KEY', scopes: ['infer'] }]), /auth\.apiKeys\[0\]\.fromEnv: the environment variable FERRY_TEST_UNSET_KEY is not set/);
  t.throws(check([{ name: 'k', sha256: sha('x'), scopes: ['infer:nope'] }]), /auth\.apiKeys\[0\]\.scopes\[0\]: 'infer:nope' is not a scope: admin, infer, or infer:<deployment> \(mlp\)/);
  t.throws(check([{ name: 'k', sha256: sha('x'), scopes: ['infer'] }, { name: 'k', sha256: sha('y'), scopes: ['infer'] }]), /auth\.apiKeys\[1\]\.name: 'k' names another key too/);
  const fine = validateConfig({ auth: { apiKeys: [{ name: 'k', fromEnv: 'FERRY_TEST_OPS_KEY', scopes: ['infer:mlp', 'admin'] }] }, deployments }, modelPath('ferry.config.ts'));
  t.same(fine.auth, { keys: [{ name: 'k', sha256: sha(OPS), admin: true, infer: '*' }], public: [] }, 'the key from the environment, hashed; admin covers every deployment');
  t.equal(validateConfig({ deployments }, modelPath('ferry.config.ts')).auth, null, 'no auth: every route open');
});

t.test("a key's rate limit: past it 429 with Retry-After, other keys unaffected, served again once the window passes", async (t) => {
  const config = validateConfig(
    {
      http: { port: 0 },
      node: { cpus: 16 },
      auth: {
        apiKeys: [
          { name: 'metered', sha256: sha(CLIENT), scopes: ['infer'], rateLimit: { max: 3, timeWindowMs: 1500 } },
          { name: 'free', sha256: sha(OTHER), scopes: ['infer'] },
        ],
      },
      deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config);
  t.teardown(() => server.close(2000));
  const infer = (key: string) => fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
  const first = await Promise.all([infer(CLIENT), infer(CLIENT), infer(CLIENT)]);
  t.same(first.map((r) => r.status), [200, 200, 200], 'three within the limit');
  const over = await infer(CLIENT);
  t.equal(over.status, 429);
  t.ok(Number(over.headers.get('retry-after')) >= 1, `Retry-After ${over.headers.get('retry-after')}`);
  t.match(await over.json(), { code: 'FERRY_ERR_RATE_LIMITED', error: /^API key 'metered' is over its rate limit of 3 requests per 1500 ms; retry in / });
  const free = await Promise.all(Array.from({ length: 6 }, () => infer(OTHER)));
  t.ok(free.every((r) => r.status === 200), 'a key without a limit is not counted');
  t.equal((await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 401, 'no key: 401, not 429');
  await new Promise((r) => setTimeout(r, 1700));
  t.equal((await infer(CLIENT)).status, 200, 'served again once the window passed');
});

t.test('what each path asks: a model by its OIP name (a multiplexed one too), a route prefix, the admin routes, what is left open', async (t) => {
  const { routeNeeds } = await import('../gateway/auth.js');
  const need = routeNeeds({ keys: [], public: ['metrics'] }, new Map([['/mlp', 'mlp']]));
  const of = (url: string) => need({ url } as never);
  t.same(of('/v2/models/mlp/infer'), { kind: 'infer', deployment: 'mlp' });
  t.same(of('/v2/models/tenants%2Fbeta/infer'), { kind: 'infer', deployment: 'tenants' }, 'a multiplexed model, its slash encoded');
  t.same(of('/v2/models/tenants/beta/infer'), { kind: 'infer', deployment: 'tenants' });
  t.same(of('/v2/models/bad%E0%A4%A/infer'), { kind: 'infer', deployment: 'bad%E0%A4%A' }, 'a name that does not decode is taken as it is');
  t.same(of('/mlp'), { kind: 'infer', deployment: 'mlp' }, 'a route prefix');
  t.same(of('/mlp/echo?x=1'), { kind: 'infer', deployment: 'mlp' });
  t.same(of('/mlpx'), { kind: 'key' }, 'only the prefix itself or below it');
  t.same(of('/-/status'), { kind: 'admin' });
  t.same(of('/v2/repository/index'), { kind: 'admin' });
  t.same(of('/metrics'), { kind: 'open' }, 'metrics left public');
  t.same(of('/v2/health/live'), { kind: 'key' }, 'health not left public here');
  t.same(of('/v2/jobs/abc'), { kind: 'key' }, 'jobs: any key, then the job\'s own deployment');
});

t.test('the admin listener with metrics left public', async (t) => {
  const { freePort } = await import('./helpers/system-tool.js');
  const config = validateConfig(
    {
      http: { port: 0 },
      node: { cpus: 16 },
      admin: { port: await freePort() },
      auth: { apiKeys: [{ name: 'ops', sha256: sha(OPS), scopes: ['admin'] }], public: ['metrics'] },
      deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config);
  t.teardown(() => server.close(2000));
  t.equal((await fetch(`${server.adminUrl}/metrics`)).status, 200, 'metrics without a key');
  t.equal((await fetch(`${server.adminUrl}/-/status`)).status, 401, 'status still needs one');
  t.equal((await fetch(`${server.adminUrl}/v2/health/live`)).status, 401, 'health was not left public');
  const put = (key?: string) =>
    fetch(`${server.adminUrl}/-/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ http: { port: 0 }, node: { cpus: 16 }, admin: config.admin, auth: { apiKeys: [{ name: 'ops', sha256: sha(OPS), scopes: ['admin'] }], public: ['metrics'] }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] }),
    });
  t.equal((await put()).status, 401, 'a config update needs an admin key');
  t.equal((await fetch(`${server.adminUrl}/v2/repository/models/mlp/unload`, { method: 'POST' })).status, 401, 'so does the repository');
  const applied = await put(OPS);
  t.equal(applied.status, 200, 'with one, the same config applies');
  t.match(await applied.json(), { result: 'applied', changes: [] });
  t.equal((await fetch(`${server.url}/-/config`, { method: 'PUT', headers: { authorization: `Bearer ${OPS}` } })).status, 404, 'and not on the inference listener, which has no admin routes');
});
