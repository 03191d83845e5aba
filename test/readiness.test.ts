import { copyFileSync, rmSync } from 'node:fs';
import t from 'tap';
import { modelPath } from '../models/index.js';
import { postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
};
const index = async (url: string) => (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json();

t.test('a deployment scaled to zero is ready: the request a probe would otherwise block starts a replica', async (t) => {
  const server = await startFerry(t, [
    { name: 'zero', model: modelPath('fixed-batch.onnx'), autoscaling: { minReplicas: 0, maxReplicas: 1, initialReplicas: 0 } },
  ]);
  t.equal(server.stats()[0].replicas.length, 0, 'no replica runs');
  t.same(await get(`${server.url}/v2/health/ready`), { status: 200, body: { ready: true } });
  t.same(await get(`${server.url}/v2/models/zero/ready`), { status: 200, body: { name: 'zero', ready: true } });
  t.same(await index(server.url), [{ name: 'zero', version: '', state: 'READY', reason: 'scaled to zero: a request starts a replica' }]);
  const res = await postJson(`${server.url}/v2/models/zero/infer`, { inputs: [{ name: 'x', shape: [1, 25, 96], datatype: 'FP32', data: randomRow(1, 2400) }] });
  t.equal(res.status, 200, 'the request started a replica and was answered');
});

t.test('a deployment whose replicas fail to start is not ready, and says why', async (t) => {
  const dir = t.testdir({});
  copyFileSync(modelPath('mlp.onnx'), `${dir}/mlp.onnx`);
  const server = await startFerry(t, [{ name: 'fragile', model: `${dir}/mlp.onnx` }, { name: 'fine', model: modelPath('mlp.onnx') }]);
  t.same((await get(`${server.url}/v2/health/ready`)).body, { ready: true });
  rmSync(`${dir}/mlp.onnx`);
  const pool = server.pools.get('fragile')!;
  pool.killReplica(pool.stats().replicas[0].id);
  t.ok(await waitFor(() => !pool.readiness().ready && /fail to start/.test(pool.readiness().reason), 15_000), pool.readiness().reason);
  t.equal((await get(`${server.url}/v2/health/ready`)).status, 503, 'the server is not ready while one deployment cannot serve');
  t.equal((await get(`${server.url}/v2/models/fragile/ready`)).status, 503);
  t.equal((await get(`${server.url}/v2/models/fine/ready`)).status, 200, 'the other deployment is');
  const entry = (await index(server.url)).find((e: { name: string }) => e.name === 'fragile');
  t.equal(entry.state, 'UNAVAILABLE');
  t.match(entry.reason, /^replicas fail to start: .*mlp\.onnx/);
  const status = await (await fetch(`${server.url}/-/status`)).json();
  t.match(status.deployments[0].readiness, { ready: false, reason: /fail to start/ });
});
