import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import ort from 'onnxruntime-node';
import t from 'tap';
import WebSocket from 'ws';
import { dirname, join } from 'node:path';
import type { DeploymentConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { directRun, maxAbsDiff, postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';

/*
 * Multiplexing end to end: a real Ferry (two ingress threads where the
 * runtime shares a port) serving the tenants' models from one folder, with
 * real replica threads and processes.
 */

const TENANTS = dirname(modelPath('tenants/alpha.onnx'));

const tenants = (extra: Partial<DeploymentConfig> = {}): DeploymentConfig => ({
  name: 'tenants',
  multiplex: { directory: TENANTS, maxModelsPerReplica: 2 },
  numReplicas: 2,
  resources: { cpus: 0.5 },
  ...extra,
});

const body = (row: number[], rows = 1) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, 256], data: Array.from({ length: rows }, () => row).flat() }] });

async function infer(url: string, modelId: string | null, row: number[], how: 'header' | 'path' = 'header') {
  const path = how === 'path' ? `/v2/models/tenants/${modelId}/infer` : '/v2/models/tenants/infer';
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (how === 'header' && modelId !== null) headers['ferry-model-id'] = modelId;
  const res = await fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body(row)) });
  return { status: res.status, body: (await res.json()) as any };
}

async function expected(modelId: string, row: number[]): Promise<Float32Array> {
  return (await directRun(`tenants/${modelId}.onnx`, { x: new ort.Tensor('float32', Float32Array.from(row), [1, 256]) })).scores.data as Float32Array;
}

const replicasOf = async (url: string) => ((await (await fetch(`${url}/-/status`)).json()) as any).deployments[0].replicas as { id: string; models: string[]; modelLoads: number; modelEvictions: number }[];

t.test('each request runs the model it names, by ferry-model-id or by the OIP name tenants/<id>; a missing or unknown model is refused', async (t) => {
  const server = await startFerry(t, [tenants(), { name: 'mlp', model: modelPath('mlp.onnx') }]);
  const row = randomRow(3, 256);
  for (const id of ['alpha', 'beta', 'gamma', 'delta']) {
    const want = await expected(id, row);
    for (const how of ['header', 'path'] as const) {
      const res = await infer(server.url, id, row, how);
      t.equal(res.status, 200, `${id} by ${how}`);
      t.equal(res.body.model_name, `tenants/${id}`);
      t.ok(maxAbsDiff(res.body.outputs[0].data, want) < 1e-5, `${id} by ${how}: its own model's answer`);
    }
  }
  const none = await infer(server.url, null, row);
  t.equal(none.status, 400);
  t.match(none.body, { code: 'FERRY_ERR_BAD_REQUEST', error: /serves several models: name one in ferry-model-id or as the model name 'tenants\/<modelId>'/ });
  t.match(await infer(server.url, 'zeta', row), { status: 404, body: { code: 'FERRY_ERR_MODEL_NOT_FOUND', error: /'tenants\/zeta'/ } });
  t.match(await infer(server.url, 'zeta', row, 'path'), { status: 404, body: { code: 'FERRY_ERR_MODEL_NOT_FOUND' } });
  const twice = await fetch(`${server.url}/v2/models/tenants/beta/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'ferry-model-id': 'gamma' }, body: JSON.stringify(body(row)) });
  t.match({ status: twice.status, body: await twice.json() }, { status: 400, body: { error: /names two models: 'beta' in its path and 'gamma'/ } });
  const single = await fetch(`${server.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'ferry-model-id': 'alpha' },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: randomRow(1, 16) }] }),
  });
  t.match({ status: single.status, body: await single.json() }, { status: 400, body: { error: /'mlp' serves one model, not several/ } });
  t.equal((await fetch(`${server.url}/v2/models/mlp/alpha`)).status, 404, 'a deployment of one model has no models under it');
  t.match(await (await fetch(`${server.url}/v2/models/tenants/gamma`)).json(), { name: 'tenants/gamma', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 256] }] });
  t.match(await (await fetch(`${server.url}/v2/models/tenants/gamma/ready`)).json(), { name: 'tenants/gamma', ready: true });
  t.equal((await fetch(`${server.url}/v2/models/tenants/zeta/ready`)).status, 404);
  t.equal((await postJson(`${server.url}/v2/models/tenants/beta/infer`, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] })).status, 400, 'inputs are checked as ever');

  const handle = server.handle('tenants');
  const x = { x: { dtype: 'float32' as const, dims: [1, 256], data: Float32Array.from(row) } };
  const out = await handle.infer(x, { modelId: 'delta' });
  t.ok(maxAbsDiff(out.scores.data as Float32Array, await expected('delta', row)) < 1e-5, 'a handle call names its model with modelId');
  await t.rejects(handle.infer(x), { statusCode: 400, message: /serves several models/ });
  await t.rejects(handle.infer(x, { modelId: 'zeta' }), { code: 'FERRY_ERR_MODEL_NOT_FOUND', statusCode: 404 });
  await t.rejects(server.handle('mlp').infer({ input: { dtype: 'float32', dims: [1, 16], data: new Float32Array(16) } }, { modelId: 'alpha' }), { code: 'FERRY_ERR_BAD_REQUEST', statusCode: 400 });
});

t.test("a multiplexed deployment's route prefix takes the model from ferry-model-id, checked before the body is read", async (t) => {
  const server = await startFerry(t, [tenants({ numReplicas: 1, routePrefix: '/t' })]);
  const row = randomRow(4, 256);
  const post = async (path: string, headers: Record<string, string>) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body(row)) });
    return { status: res.status, body: (await res.json()) as any };
  };
  for (const path of ['/t', '/t/infer']) {
    const res = await post(path, { 'ferry-model-id': 'gamma' });
    t.ok(maxAbsDiff(res.body.outputs[0].data, await expected('gamma', row)) < 1e-5, `${path} runs gamma`);
    t.equal((await post(path, {})).status, 400, `${path} without a model`);
    t.equal((await post(path, { 'ferry-model-id': 'zeta' })).status, 404, `${path} with an unknown model`);
  }
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/t/stream`, { headers: { 'ferry-model-id': 'beta' } });
  const answer = await new Promise<any>((resolve, reject) => {
    ws.on('open', () => ws.send(JSON.stringify(body(row))));
    ws.on('message', (data) => resolve(JSON.parse(String(data))));
    ws.on('error', reject);
  });
  ws.close();
  t.ok(maxAbsDiff(answer.outputs[0].data, await expected('beta', row)) < 1e-5, 'its stream takes the model from the upgrade request');
});

t.test('the model-aware router sends a model\'s calls to the replica holding it; beyond maxModelsPerReplica the least recently used is evicted; metrics and status show it', async (t) => {
  const server = await startFerry(t, [tenants()]);
  // Each replica loaded the first model (alpha) at start to learn the interface.
  t.same((await replicasOf(server.url)).map((r) => [r.models, r.modelLoads]), [[['alpha'], 1], [['alpha'], 1]]);
  const row = randomRow(5, 256);
  // Calls one after another and in bursts: each model is loaded once, on one replica.
  for (const id of ['beta', 'gamma']) {
    for (let i = 0; i < 10; i++) t.equal((await infer(server.url, id, row)).status, 200);
    const burst = await Promise.all(Array.from({ length: 20 }, () => infer(server.url, id, row)));
    t.ok(burst.every((r) => r.status === 200), `a burst of ${id}`);
  }
  let replicas = await replicasOf(server.url);
  t.equal(replicas.reduce((n, r) => n + r.modelLoads, 0), 4, `beta and gamma loaded once each (${JSON.stringify(replicas)})`);
  for (const id of ['beta', 'gamma']) t.equal(replicas.filter((r) => r.models.includes(id)).length, 1, `${id} is on one replica`);
  t.equal(replicas.reduce((n, r) => n + r.modelEvictions, 0), 0, 'nothing evicted: each replica holds two');
  // delta is held nowhere, and both replicas are full: one of them lets its least recently used model go.
  t.equal((await infer(server.url, 'delta', row)).status, 200);
  replicas = await replicasOf(server.url);
  const holder = replicas.find((r) => r.models.includes('delta'))!;
  t.equal(holder.modelEvictions, 1, `${holder.id} evicted one to load delta`);
  t.equal(holder.models.length, 2);
  t.notOk(holder.models.includes('alpha'), 'alpha, used only at start, was the least recently used');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_multiplexed_model_loads_total\{deployment="tenants"\} 5/);
  t.match(metrics, /ferry_multiplexed_model_evictions_total\{deployment="tenants"\} 1/);
  t.match(metrics, new RegExp(`ferry_multiplexed_models\\{deployment="tenants",replica="${holder.id.replace('#', '#')}"\\} 2`));
  // Back to the evicted model: the router sends it where it is still held, if anywhere, and the answers stay right.
  const want = await expected('alpha', row);
  t.ok(maxAbsDiff((await infer(server.url, 'alpha', row)).body.outputs[0].data, want) < 1e-5, 'alpha still answers as its own model');
});

t.test('multiplexed replicas in child processes report the models they hold to the control plane', async (t) => {
  const server = await startFerry(t, [tenants({ replicaHost: 'process', numReplicas: 1, multiplex: { directory: TENANTS, maxModelsPerReplica: 1 } })]);
  const row = randomRow(9, 256);
  for (const id of ['beta', 'gamma', 'beta']) {
    const res = await infer(server.url, id, row, 'path');
    t.ok(maxAbsDiff(res.body.outputs[0].data, await expected(id, row)) < 1e-5, `${id} from a process replica`);
  }
  let replicas: Awaited<ReturnType<typeof replicasOf>> = [];
  t.ok(await waitFor(() => replicas[0]?.modelLoads === 4, 5000, async () => void (replicas = await replicasOf(server.url))), 'loads reach the status');
  t.match(replicas[0], { models: ['beta'], modelLoads: 4, modelEvictions: 3 });
});

t.test('a WebSocket stream names its model in the path or the upgrade request', async (t) => {
  const server = await startFerry(t, [tenants()]);
  const row = randomRow(11, 256);
  const ws = server.url.replace('http', 'ws');
  const ask = (url: string, headers: Record<string, string> = {}) =>
    new Promise<any>((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      socket.on('open', () => socket.send(JSON.stringify({ id: 'a', ...body(row) })));
      socket.on('message', (data) => {
        socket.close();
        resolve(JSON.parse(String(data)));
      });
      socket.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
      socket.on('error', reject);
    });
  const byPath = await ask(`${ws}/v2/models/tenants/gamma/stream`);
  t.ok(maxAbsDiff(byPath.outputs[0].data, await expected('gamma', row)) < 1e-5, 'by path');
  const byHeader = await ask(`${ws}/v2/models/tenants/stream`, { 'ferry-model-id': 'delta' });
  t.ok(maxAbsDiff(byHeader.outputs[0].data, await expected('delta', row)) < 1e-5, 'by header');
  t.same(await ask(`${ws}/v2/models/tenants/stream`), { status: 400 }, 'no model: refused before the socket opens');
  t.same(await ask(`${ws}/v2/models/tenants/zeta/stream`), { status: 404 });
});

t.test("a folder whose models do not share one interface is refused at start, naming the ones that differ", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-multiplex-mixed-'));
  copyFileSync(join(TENANTS, 'alpha.onnx'), join(dir, 'beta.onnx'));
  copyFileSync(join(TENANTS, 'alpha.onnx'), join(dir, 'gamma.onnx'));
  // First in the folder's order: it must not decide the interface for the others.
  copyFileSync(modelPath('mlp.onnx'), join(dir, 'Aardvark.onnx'));
  await t.rejects(startFerry(t, [tenants({ numReplicas: 1, multiplex: { directory: dir } })]), {
    code: 'FERRY_ERR_CONFIG_INVALID',
    message: /beta, gamma have inputs x .*; Aardvark has inputs input/,
  });
});

t.test('names given oddly: the OIP name with its slash encoded, a header sent twice, a model named to a handler route; the index lists the models', async (t) => {
  const server = await startFerry(t, [tenants({ numReplicas: 1 })]);
  const row = randomRow(6, 256);
  const encoded = await fetch(`${server.url}/v2/models/tenants%2Fbeta/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(row)) });
  const json = (await encoded.json()) as any;
  t.equal(encoded.status, 200);
  t.ok(maxAbsDiff(json.outputs[0].data, await expected('beta', row)) < 1e-5, 'tenants%2Fbeta is tenants/beta');
  const { request } = await import('node:http');
  const twice = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(`${server.url}/v2/models/tenants/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'ferry-model-id': ['alpha', 'beta'] } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body(row)));
  });
  t.match(twice, { status: 400, body: { error: /ferry-model-id is given 2 times/ } });
  const index = (await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST' })).json()) as { name: string }[];
  t.same(index.map((m) => m.name), ['tenants', 'tenants/alpha', 'tenants/beta', 'tenants/delta', 'tenants/gamma']);
});

t.test('an asynchronous job names its model and session as a synchronous request does', async (t) => {
  const server = await startFerry(t, [tenants({ numReplicas: 1 })]);
  const row = randomRow(8, 256);
  const res = await fetch(`${server.url}/v2/models/tenants/delta/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'respond-async', 'ferry-session-id': 'reader-7' },
    body: JSON.stringify(body(row)),
  });
  t.equal(res.status, 202);
  let view: any;
  const location = res.headers.get('location')!;
  t.ok(await waitFor(() => view?.state === 'succeeded', 10_000, async () => void (view = await (await fetch(`${server.url}${location}`)).json())));
  t.equal(view.result.model_name, 'tenants/delta');
  t.ok(maxAbsDiff(view.result.outputs[0].data, await expected('delta', row)) < 1e-5, "delta's answer");
  const none = await fetch(`${server.url}/v2/models/tenants/infer`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'respond-async' }, body: JSON.stringify(body(row)) });
  t.equal(none.status, 400, 'no model named: refused when sent');
});
