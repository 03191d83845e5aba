import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { fileURLToPath } from 'node:url';
import { randomRow, TEST_INGRESS_THREADS, waitFor } from './helpers/ferry.js';

/*
 * Zero-downtime config updates: under steady keep-alive load, a model
 * replaced, batching changed in place, a deployment added and one removed
 * answer every request 2xx with no connection error; an invalid update or
 * one that changes what is fixed at start is refused whole, with its reason
 * in the answer and in status, while service goes on.
 */

const body = (seed: number) => JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(seed, 784) }] });

/** Keep-alive clients sending one request after another to each deployment until stopped; every answer that is not 2xx, and every connection error, kept. */
function steadyLoad(url: string, names: () => readonly string[], clients = 4) {
  const dispatcher = new Agent({ connections: clients, keepAliveTimeout: 30_000 });
  const problems: string[] = [];
  const ok = new Map<string, number>();
  let running = true;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; running; i++) {
      const all = names();
      const name = all[(i + c) % all.length];
      try {
        const res = await fetch(`${url}/v2/models/${name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i), dispatcher } as RequestInit);
        const text = await res.text();
        if (res.status >= 300) problems.push(`${name}: ${res.status} ${text.slice(0, 200)}`);
        else ok.set(name, (ok.get(name) ?? 0) + 1);
      } catch (err) {
        problems.push(`${name}: connection error ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`);
      }
    }
  });
  return {
    problems,
    ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      await dispatcher.close();
    },
  };
}

const put = async (url: string, config: unknown) => {
  const res = await fetch(`${url}/-/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  return { status: res.status, body: (await res.json()) as any };
};

const replicaIds = (server: FerryServer, name: string) =>
  server
    .stats()
    .find((s) => s.deployment === name)!
    .replicas.map((r) => r.id)
    .sort();

t.test('an update under steady load: a model replaced, batching changed, a deployment added and one removed, with no request lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-update-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'mlp-v2.onnx');
  copyFileSync(modelPath('mlp.onnx'), copy);
  const base = {
    http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
    node: { cpus: 16 },
    deployments: [
      { name: 'replaced', model: modelPath('mlp.onnx'), version: '1', numReplicas: 2 },
      { name: 'tuned', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 4, batchWaitTimeoutMs: 0 } },
      { name: 'removed', model: modelPath('mlp.onnx') },
    ],
  };
  const server = await FerryServer.start(validateConfig(base, modelPath('ferry.config.ts')));
  t.teardown(() => server.close(2000));
  const before = { replaced: replicaIds(server, 'replaced'), tuned: replicaIds(server, 'tuned') };

  let names = ['replaced', 'tuned', 'removed'];
  const load = steadyLoad(server.url, () => names);
  await new Promise((r) => setTimeout(r, 300));
  const next = {
    ...base,
    deployments: [
      { name: 'replaced', model: copy, version: '2', numReplicas: 2 },
      { name: 'tuned', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 16, batchWaitTimeoutMs: 2 }, maxQueuedRequests: 500 },
      { name: 'added', model: copy },
    ],
  };
  // Requests to the deployment being removed stop once the update is asked for; those in flight must still succeed.
  names = ['replaced', 'tuned'];
  const began = performance.now();
  const answer = await put(server.url, next);
  const tookMs = performance.now() - began;
  t.equal(answer.status, 200, JSON.stringify(answer.body));
  t.equal(answer.body.result, 'applied');
  t.same(
    answer.body.changes.map((c: { deployment: string; action: string }) => `${c.deployment} ${c.action}`),
    ['replaced replace', 'tuned adjust', 'added add', 'removed remove'],
    'each deployment planned as Ray Serve would: new replicas only where needed',
  );
  names = ['replaced', 'tuned', 'added'];
  await new Promise((r) => setTimeout(r, 500));
  await load.stop();

  t.same(load.problems, [], 'no request answered other than 2xx, no connection error');
  for (const name of ['replaced', 'tuned', 'added']) t.ok((load.ok.get(name) ?? 0) > 0, `${name} answered requests`);
  t.ok((load.ok.get('removed') ?? 0) > 0, 'the removed deployment answered until it was removed');
  t.notSame(replicaIds(server, 'replaced'), before.replaced, 'a new model file starts new replicas');
  t.same(replicaIds(server, 'tuned'), before.tuned, 'a batching change keeps the replicas');
  t.equal(server.config.deployments.find((d) => d.name === 'tuned')!.batching.maxBatchSize, 16);
  t.same([...server.pools.keys()], ['replaced', 'tuned', 'added']);
  const meta = (await (await fetch(`${server.url}/v2/models/replaced`)).json()) as { versions: string[] };
  t.same(meta.versions, ['2'], 'the replaced deployment answers with its new version');
  t.equal((await fetch(`${server.url}/v2/models/removed`)).status, 404, 'the removed deployment is gone');
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as { updates: { result: string; origin: string; durationMs: number }[] };
  t.match(status.updates, [{ result: 'applied', origin: 'api' }], 'the update is in the status history');
  t.comment(`update under load: ${Math.round(tookMs)} ms to apply, ${[...load.ok.values()].reduce((a, b) => a + b, 0)} requests answered 2xx, ${load.problems.length} not`);
});

t.test('an invalid update, or one that changes what is fixed at start, is refused whole while service goes on', async (t) => {
  const base = {
    http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
    node: { cpus: 16 },
    deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), routePrefix: '/mlp' }],
  };
  const server = await FerryServer.start(validateConfig(base, modelPath('ferry.config.ts')));
  t.teardown(() => server.close(2000));
  const ids = replicaIds(server, 'mlp');
  const load = steadyLoad(server.url, () => ['mlp'], 2);

  const invalid = await put(server.url, { ...base, deployments: [{ name: 'mlp', model: modelPath('no-such.onnx') }, { name: 'x', numReplicas: -1 }] });
  t.equal(invalid.status, 400);
  t.equal(invalid.body.code, 'FERRY_ERR_CONFIG_INVALID');
  t.match(invalid.body.error, /no-such\.onnx/, 'the reason names the missing file');
  t.match(invalid.body.error, /deployments\[1\]/, 'and every other problem');

  const fixed = await put(server.url, { ...base, http: { ...base.http, receiveTimeoutMs: 5000 }, deployments: [{ ...base.deployments[0], routePrefix: '/other' }] });
  t.equal(fixed.status, 409);
  t.equal(fixed.body.code, 'FERRY_ERR_CONFIG_REFUSED');
  t.match(fixed.body.error, /http: fixed while Ferry serves/);
  t.match(fixed.body.error, /routePrefix/);

  const routed = await put(server.url, { ...base, deployments: [...base.deployments, { name: 'new', model: modelPath('mlp.onnx'), routePrefix: '/new' }] });
  t.equal(routed.status, 409, 'an added deployment with routes of its own needs a restart');

  const notJson = await fetch(`${server.url}/-/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[1]' });
  t.equal(notJson.status, 400);

  const dir = mkdtempSync(join(tmpdir(), 'ferry-update-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const garbage = join(dir, 'broken.onnx');
  writeFileSync(garbage, 'not an onnx model');
  const failing = await put(server.url, { ...base, deployments: [...base.deployments, { name: 'broken', model: garbage }] });
  t.equal(failing.status, 503, 'an update whose new replicas cannot start is not applied');
  t.equal(failing.body.code, 'FERRY_ERR_REPLICA_START');
  t.match(failing.body.error, /the config serving before goes on/);

  await new Promise((r) => setTimeout(r, 200));
  await load.stop();
  t.same(load.problems, [], 'service went on through every refusal');
  t.same(replicaIds(server, 'mlp'), ids, 'the old replicas serve on');
  t.same([...server.pools.keys()], ['mlp']);
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as { updates: { result: string; reason: string }[] };
  t.same(
    status.updates.map((u) => u.result),
    ['refused', 'refused', 'refused', 'failed'],
    'every refusal is in the history',
  );
  t.match(status.updates[0].reason, /no-such\.onnx/, 'with its reason');
  const current = (await (await fetch(`${server.url}/-/config`)).json()) as typeof base;
  t.same(current, base, 'GET /-/config answers the config still serving, as it was written');
  const again = await put(server.url, current);
  t.match(again, { status: 200, body: { result: 'applied', changes: [] } }, 'and takes it back');
  const short = await put(server.url, { deployments: [...base.deployments, { name: 'second', model: modelPath('mlp.onnx') }] });
  t.match(short, { status: 200, body: { changes: [{ deployment: 'second', action: 'add' }] } }, 'what is fixed while serving may be left out');
});

t.test('settings that need no new replica change in place: userConfig, replica count, autoscaling, timeout', async (t) => {
  const handler = fileURLToPath(new URL('./fixtures/handlers/scaled-mlp.ts', import.meta.url));
  const base = {
    http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
    node: { cpus: 16 },
    deployments: [
      { name: 'scaled', model: modelPath('mlp.onnx'), handler, userConfig: { scale: 1 }, numReplicas: 1 },
      { name: 'auto', model: modelPath('mlp.onnx'), autoscaling: { minReplicas: 1, maxReplicas: 3, metricsIntervalMs: 100 } },
    ],
  };
  const server = await FerryServer.start(validateConfig(base, modelPath('ferry.config.ts')));
  t.teardown(() => server.close(2000));
  const infer = async (x: number) => {
    const res = await fetch(`${server.url}/v2/models/scaled/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: new Array(784).fill(x) }] }) });
    return ((await res.json()) as { outputs: { name: string; data: number[] }[] }).outputs.find((o) => o.name === 'logits')!.data;
  };
  const atOne = await infer(0.5);
  const first = replicaIds(server, 'scaled');
  const next = {
    ...base,
    deployments: [
      { ...base.deployments[0], userConfig: { scale: 2 }, numReplicas: 2, requestTimeoutMs: 12_345 },
      { ...base.deployments[1], autoscaling: { minReplicas: 2, maxReplicas: 3, metricsIntervalMs: 100 } },
    ],
  };
  const answer = await put(server.url, next);
  t.equal(answer.status, 200, JSON.stringify(answer.body));
  t.same(
    answer.body.changes,
    [
      { deployment: 'scaled', action: 'adjust', fields: ['userConfig', 'requestTimeoutMs', 'numReplicas'] },
      { deployment: 'auto', action: 'adjust', fields: ['autoscaling'] },
    ],
  );
  t.ok(replicaIds(server, 'scaled').includes(first[0]), 'the first replica serves on');
  t.same(await infer(0.25), atOne, 'its handler took the new userConfig: half the input, twice the scale');
  t.ok(await waitFor(() => server.stats().find((s) => s.deployment === 'scaled')!.replicas.filter((r) => r.state === 'ready').length === 2), 'a second replica joins');
  t.ok(await waitFor(() => server.stats().find((s) => s.deployment === 'auto')!.target >= 2), 'the autoscaler keeps the new minimum');
  t.equal(server.config.deployments[0].requestTimeoutMs, 12_345);

  // A replacement starts as many replicas as the deployment runs, within its bounds, so the load moves to as many.
  server.pools.get('auto')!.scaleTo(3);
  const replaced = await put(server.url, { ...next, deployments: [next.deployments[0], { ...next.deployments[1], version: 'v2' }] });
  t.match(replaced.body.changes, [{ deployment: 'auto', action: 'replace' }]);
  t.equal(server.pools.get('auto')!.targetReplicas, 3, 'the new pool starts with the three the old one ran');
});

t.test('on a node its deployments fully reserve, updates still apply: shares settled anew, new replicas beside the old for the drain', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-update-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(modelPath('mlp.onnx'), join(dir, 'mlp.onnx'));
  copyFileSync(modelPath('mlp.onnx'), join(dir, 'other.onnx'));
  // No deployment sets resources.cpus: three share the node's two cores, which they reserve whole.
  const base = { http: { port: 0, ingressThreads: TEST_INGRESS_THREADS }, node: { cpus: 2 }, deployments: ['a', 'b', 'c'].map((name) => ({ name, model: 'mlp.onnx' })) };
  const server = await FerryServer.start(validateConfig(base, join(dir, 'ferry.config.json')));
  t.teardown(() => server.close(2000));
  t.equal(server.status().node!.usedCpus, 2, 'the node is fully reserved');
  const load = steadyLoad(server.url, () => ['a', 'b']);
  const steps: [string, unknown, string[]][] = [
    ['more replicas', { deployments: [{ name: 'a', model: 'mlp.onnx', numReplicas: 3 }, { name: 'b', model: 'mlp.onnx' }, { name: 'c', model: 'mlp.onnx' }] }, ['a adjust', 'b adjust', 'c adjust']],
    ['a model replaced', { deployments: [{ name: 'a', model: 'other.onnx', numReplicas: 3 }, { name: 'b', model: 'mlp.onnx' }, { name: 'c', model: 'mlp.onnx' }] }, ['a replace']],
    ['one added, one removed', { deployments: [{ name: 'a', model: 'other.onnx', numReplicas: 3 }, { name: 'b', model: 'mlp.onnx' }, { name: 'd', model: 'mlp.onnx' }] }, ['d add', 'c remove']],
  ];
  for (const [what, config, changes] of steps) {
    const answer = await put(server.url, config);
    t.equal(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
    t.same(
      answer.body.changes.map((c: { deployment: string; action: string }) => `${c.deployment} ${c.action}`),
      changes,
      `${what}: planned so, the shares Ferry settles changing in place`,
    );
    t.ok(server.status().node!.usedCpus <= 2 + 1e-9, `${what}: once drained, the node holds no more than it has (${server.status().node!.usedCpus})`);
  }
  t.equal(server.stats().find((s) => s.deployment === 'a')!.replicas.filter((r) => r.state === 'ready').length, 3, 'a runs its three');
  await load.stop();
  t.same(load.problems, [], 'no request lost through any of it');
});
