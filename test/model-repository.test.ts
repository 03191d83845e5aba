import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { randomRow, TEST_INGRESS_THREADS } from './helpers/ferry.js';

/*
 * The OIP repository extension as Triton serves it: load and unload under
 * load, a model file placed in the model repository while serving, the
 * index with each model's state and reason, and model paths confined to
 * the repository.
 */

const body = (seed: number) => JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(seed, 784) }] });
const post = async (url: string, json?: unknown) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json === undefined ? '' : JSON.stringify(json) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};
const index = async (url: string) => (await post(`${url}/v2/repository/index`, {})).body as { name: string; state: string; reason: string }[];

t.test('load and unload through the repository API while other models take steady load', async (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'ferry-repo-'));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  copyFileSync(modelPath('mlp.onnx'), join(repo, 'steady.onnx'));
  copyFileSync(modelPath('mlp.onnx'), join(repo, 'toggled.onnx'));
  const server = await FerryServer.start(
    validateConfig(
      {
        http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
        node: { cpus: 16 },
        modelRepository: repo,
        deployments: [
          { name: 'steady', model: join(repo, 'steady.onnx') },
          { name: 'toggled', model: join(repo, 'toggled.onnx') },
        ],
      },
      join(repo, 'ferry.config.json'),
    ),
  );
  t.teardown(() => server.close(2000));
  const dispatcher = new Agent({ connections: 4 });
  t.teardown(() => dispatcher.close());
  const problems: string[] = [];
  let answered = 0;
  let running = true;
  const loops = Array.from({ length: 3 }, async (_, c) => {
    for (let i = 0; running; i++) {
      try {
        const res = await fetch(`${server.url}/v2/models/steady/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i + c), dispatcher } as RequestInit);
        await res.text();
        if (res.status !== 200) problems.push(`${res.status}`);
        else answered++;
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  });

  // A model file placed in the repository while serving.
  mkdirSync(join(repo, 'placed'));
  copyFileSync(modelPath('mlp.onnx'), join(repo, 'placed', 'model.onnx'));
  t.equal((await post(`${server.url}/v2/models/placed/infer`)).status, 404, 'not served before its load');
  const loaded = await post(`${server.url}/v2/repository/models/placed/load`, { parameters: { config: JSON.stringify({ version: '7', batching: { maxBatchSize: 8 } }) } });
  t.same(loaded, { status: 200, body: {} }, 'Triton answers a load with an empty object');
  const placed = await fetch(`${server.url}/v2/models/placed/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(1) });
  t.equal(placed.status, 200, 'the loaded model answers');
  t.match(await index(server.url), [{ name: 'steady', state: 'READY' }, { name: 'toggled', state: 'READY' }, { name: 'placed', state: 'READY' }]);
  t.same(((await (await fetch(`${server.url}/v2`)).json()) as { extensions: string[] }).extensions, ['binary_tensor_data', 'model_repository'], 'the server metadata names the extension');

  const unloaded = await post(`${server.url}/v2/repository/models/toggled/unload`);
  t.equal(unloaded.status, 200);
  t.match(await index(server.url), [{ name: 'steady', state: 'READY' }, { name: 'placed', state: 'READY' }, { name: 'toggled', state: 'UNAVAILABLE', reason: 'unloaded' }]);
  t.equal((await post(`${server.url}/v2/models/toggled/infer`, JSON.parse(body(2)))).status, 404, 'an unloaded model takes no request');
  t.equal((await post(`${server.url}/v2/repository/models/toggled/unload`)).status, 200, 'unloading it again is no error');
  t.same(
    (await post(`${server.url}/v2/repository/index`, { ready: true })).body.map((e: { name: string }) => e.name),
    ['steady', 'placed'],
    '{"ready": true} lists the ready ones',
  );

  t.equal((await post(`${server.url}/v2/repository/models/toggled/load`)).status, 200, 'an unloaded model loads again');
  t.equal((await post(`${server.url}/v2/models/toggled/infer`, JSON.parse(body(3)))).status, 200);

  const settingsOfConfig = await post(`${server.url}/v2/repository/models/steady/load`, { parameters: { config: JSON.stringify({ numReplicas: 2 }) } });
  t.equal(settingsOfConfig.status, 400, "a model of the config takes its settings from the config, not a load's");
  t.match(settingsOfConfig.body.error, /one of the config's/);
  const reconfigured = await post(`${server.url}/v2/repository/models/placed/load`, { parameters: { config: JSON.stringify({ version: '8' }) } });
  t.equal(reconfigured.status, 200, 'a model loaded from the repository takes a new config with a load');
  t.same(((await (await fetch(`${server.url}/v2/models/placed`)).json()) as { versions: string[] }).versions, ['8']);
  const given = (await (await fetch(`${server.url}/-/config`)).json()) as { deployments: { name: string; version?: string; model: string }[] };
  t.match(given.deployments, [{ name: 'steady' }, { name: 'placed', version: '8', model: join(repo, 'placed', 'model.onnx') }, { name: 'toggled' }], 'GET /-/config: the config as written, the repository’s loads and unloads in it');

  const before = server.stats().find((s) => s.deployment === 'steady')!.replicas.map((r) => r.id);
  t.equal((await post(`${server.url}/v2/repository/models/steady/load`)).status, 200, 'loading a model that serves reloads it');
  const after = server.stats().find((s) => s.deployment === 'steady')!.replicas.map((r) => r.id);
  t.notSame(after, before, 'with new replicas, under load');

  running = false;
  await Promise.all(loops);
  t.same(problems, [], 'the model under load answered every request through loads, unloads and its own reload');
  t.ok(answered > 0);
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as { updates: { origin: string; result: string }[] };
  t.ok(status.updates.every((u) => u.origin === 'repository' && u.result === 'applied'), 'each load and unload is in the status history');
});

t.test('the repository refuses what lies outside it, names the unknown, and checks the config a load brings', async (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'ferry-repo-'));
  const outside = mkdtempSync(join(tmpdir(), 'ferry-outside-'));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  copyFileSync(modelPath('mlp.onnx'), join(repo, 'mlp.onnx'));
  copyFileSync(modelPath('mlp.onnx'), join(repo, 'mlp2.onnx'));
  copyFileSync(modelPath('mlp.onnx'), join(outside, 'secret.onnx'));
  symlinkSync(join(outside, 'secret.onnx'), join(repo, 'escape.onnx'));
  const config = {
    http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
    node: { cpus: 16 },
    modelRepository: '.',
    deployments: [{ name: 'mlp', model: 'mlp.onnx' }],
  };
  t.throws(
    () => validateConfig({ ...config, deployments: [{ name: 'mlp', model: join(outside, 'secret.onnx') }] }, join(repo, 'ferry.config.json')),
    /outside the model repository/,
    'a config naming a model outside the repository is invalid',
  );
  t.throws(() => validateConfig({ ...config, modelRepository: join(repo, 'none') }, join(repo, 'ferry.config.json')), /modelRepository: not a directory/);
  const server = await FerryServer.start(validateConfig(config, join(repo, 'ferry.config.json')));
  t.teardown(() => server.close(2000));

  const escape = await post(`${server.url}/v2/repository/models/escape/load`);
  t.equal(escape.status, 404, 'a link out of the repository is not followed');
  t.match(escape.body.error, /outside the model repository/);
  const dotted = await post(`${server.url}/v2/repository/models/..%2F${encodeURIComponent('ferry-outside')}/load`);
  t.equal(dotted.status, 400, 'a name with a path in it is refused');
  const aFile = await post(`${server.url}/v2/repository/models/mlp.onnx/load`);
  t.equal(aFile.status, 404, 'a name that is a file (not a folder) is not found, not an error');
  const listed = await index(server.url);
  t.match(listed, [{ name: 'mlp', state: 'READY' }], 'the served model first');
  t.match(
    listed.filter((e) => e.name !== 'mlp'),
    [
      { name: 'escape', state: 'UNAVAILABLE', reason: /^load failed: .*outside the model repository/ },
      { name: 'mlp2', state: 'UNAVAILABLE', reason: 'not loaded' },
    ],
    'then a failed load with why, then a model the repository holds, never loaded (as Triton lists them)',
  );
  const unknown = await post(`${server.url}/v2/repository/models/nothing/load`);
  t.equal(unknown.status, 404);
  t.match(unknown.body.error, /looked for nothing\.onnx and nothing\/model\.onnx/);
  const withFile = await post(`${server.url}/v2/repository/models/mlp2/load`, { parameters: { config: JSON.stringify({ model: '/etc/passwd' }) } });
  t.equal(withFile.status, 400, 'a load’s config may not name files');
  const badJson = await post(`${server.url}/v2/repository/models/mlp2/load`, { parameters: { config: '{' } });
  t.equal(badJson.status, 400);
  const badType = await post(`${server.url}/v2/repository/models/mlp2/load`, { parameters: { config: 3 } });
  t.equal(badType.status, 400);
  const badSetting = await post(`${server.url}/v2/repository/models/mlp2/load`, { parameters: { config: JSON.stringify({ numReplicas: -2 }) } });
  t.equal(badSetting.status, 400);
  t.match(badSetting.body.error, /parameters\.config of 'mlp2' is invalid:\n  - numReplicas must be/, 'named by what the load sent');
  t.equal((await post(`${server.url}/v2/repository/models/nothing/unload`)).status, 404, 'unloading what is not served names it');
  const outsideUpdate = await fetch(`${server.url}/-/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...config, deployments: [{ name: 'mlp', model: join(outside, 'secret.onnx') }] }),
  });
  t.equal(outsideUpdate.status, 400, 'an update naming a model outside the repository is refused');
  const unconfined = await fetch(`${server.url}/-/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...config, modelRepository: outside, deployments: [{ name: 'mlp', model: join(outside, 'secret.onnx') }] }),
  });
  t.equal(unconfined.status, 409, 'the repository itself is fixed while serving');
  t.same([...server.pools.keys()], ['mlp'], 'nothing of it serves');
});

t.test('a gateway without a control plane indexes the deployments it serves', async (t) => {
  const { buildGateway, inferenceTarget } = await import('../gateway/index.js');
  const source = {
    metadata: { inputs: [], outputs: [] },
    batching: false,
    readiness: () => ({ ready: false, reason: 'replicas fail to start: for the test' }),
    infer: async () => ({}),
    callRoute: async () => null,
  };
  const route = { name: 'solo', routePrefix: null, version: '3', requestTimeoutMs: 1000, routes: [], websockets: [], multiplex: { modelIds: ['a'] } };
  const app = buildGateway({ targets: new Map([['solo', inferenceTarget(route, source, { active: false, lingerMs: 0 })]]) });
  t.teardown(() => app.close());
  const all = await app.inject({ method: 'POST', url: '/v2/repository/index' });
  t.same(all.json(), [
    { name: 'solo', version: '3', state: 'UNAVAILABLE', reason: 'replicas fail to start: for the test' },
    { name: 'solo/a', version: '3', state: 'UNAVAILABLE', reason: 'replicas fail to start: for the test' },
  ]);
  t.same((await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } })).json(), []);
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/solo/load' })).statusCode, 404, 'no control plane: no load');
});
