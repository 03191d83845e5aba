import { Agent } from 'undici';
import t, { type Test } from 'tap';
import { validateConfig, type DeploymentConfig } from '../deployments/index.js';
import { assertPortFree, Ingress, IngressThreads } from '../gateway/index.js';
import { FerryMetrics } from '../metrics/index.js';
import { modelPath } from '../models/index.js';
import { ReplicaPool, type IngressPeer } from '../replicas/index.js';
import { fakeHosts, type StartBehaviour } from './helpers/fake-host.js';
import { postJson, waitFor } from './helpers/ferry.js';

/** A pool over in-thread fake hosts (an identity model, x → y, float32 [batch, 2]). */
async function poolOf(t: Test, deployment: Partial<DeploymentConfig> = {}, start: () => StartBehaviour = () => 'ready') {
  const [config] = validateConfig({ node: { cpus: 8 }, deployments: [{ name: 'id', model: './mlp.onnx', ...deployment }] }, modelPath('x.ts')).deployments;
  const { factory, hosts } = fakeHosts(start, true);
  const pool = new ReplicaPool(config, factory);
  await pool.start();
  t.teardown(() => pool.stop(0));
  return { pool, hosts, config };
}

/** What an ingress is told of a pool, as the control plane tells it. */
const describe = (pool: ReplicaPool, config: { name: string } & Record<string, any>) => ({
  ...(config as any),
  key: pool.peerKey,
  metadata: pool.metadata,
  batching: pool.batching,
  counters: { buffer: pool.counters.buffer, slots: pool.counters.slots },
  routing: pool.routing,
  readiness: pool.readiness(),
  atZero: false,
});

/** An in-thread ingress as a pool's peer, as the control plane connects one. */
const peerOf = (ingress: Ingress): IngressPeer => ({
  source: 1,
  replicaUp: (d, slot, port, replicaId) => ingress.replicaUp(d, slot, port, replicaId),
  replicaGone: async (d, slot, reason) => ingress.replicaGone(d, slot, reason),
  atZero: (d, atZero) => ingress.setAtZero(d, atZero),
  failQueued: (d, err) => ingress.failQueued(d, err),
});

const GATEWAY = { bodyLimitBytes: 1 << 20, maxTensorElements: 1 << 20, receiveTimeoutMs: 30_000, server: { name: 'ferry', version: 'test' }, lingerMs: 10 };
const x = (a: number, b: number) => ({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [a, b] }] });

t.test('an ingress thread serves through its own channels, and asks the control plane for status, metrics and readiness', async (t) => {
  const { pool, config } = await poolOf(t, { autoscaling: { minReplicas: 1, maxReplicas: 2 } });
  const metrics = new FerryMetrics();
  metrics.readFrom(() => [{ deployment: 'id', queueDepth: pool.queueDepth, ongoing: pool.ongoing, replicas: { ready: pool.readyReplicas } }]);
  const lines: string[] = [];
  let demanded = 0;
  pool.onDemand(() => demanded++);
  // One thread: Node 20 ignores reusePort, so this runs on every runtime.
  const threads = new IngressThreads({
    count: 1,
    pools: [pool],
    routes: [config],
    gateway: { ...GATEWAY, logLevel: 'info' },
    metrics,
    status: () => ({ from: 'the control plane', queued: pool.queueDepth }),
    dashboard: (since) => ({ from: 'the control plane', since }),
    log: (line) => lines.push(line),
    lost: () => t.fail('the thread ended'),
  });
  let closed = false;
  t.teardown(() => (closed ? undefined : threads.close(0)));
  const url = await threads.listen('127.0.0.1', 0);
  await t.rejects(assertPortFree('127.0.0.1', Number(new URL(url).port)), { code: 'EADDRINUSE' }, 'its port is taken, as a plain bind finds');
  const res = await postJson(`${url}/v2/models/id/infer`, x(3, 4));
  t.equal(res.status, 200);
  t.same(res.body.outputs[0].data, [3, 4], 'answered by the replica over the thread’s own channel');
  t.same(await (await fetch(`${url}/-/status`)).json(), { from: 'the control plane', queued: 0 });
  t.same(await (await fetch(`${url}/-/dashboard/data?since=7`)).json(), { from: 'the control plane', since: 7 }, "the status page's data, asked with what the page has seen");
  const text = await (await fetch(`${url}/metrics`)).text();
  t.match(text, /ferry_requests_total\{deployment="id",code="200"\} 1/, "the thread's counters");
  t.match(text, /ferry_replicas\{deployment="id",state="ready"\} 1/, "merged with the control plane's gauges");
  t.match(text, /nodejs_heap_size_total_bytes/, "and Node's process metrics, once");
  t.same(threads.connections().length, 1);
  t.ok(threads.connections()[0] >= 1, 'its connections are counted');

  t.same((await fetch(`${url}/v2/health/ready`)).status, 200);
  pool.scaleTo(0);
  t.ok(await waitFor(() => pool.readyReplicas === 0));
  const ready = await (await fetch(`${url}/v2/models/id/ready`)).json();
  t.same(ready, { name: 'id', ready: true }, 'at zero it is ready: a request starts a replica (asked now, never stale)');
  const queued = postJson(`${url}/v2/models/id/infer`, x(5, 6));
  t.ok(await waitFor(() => demanded === 1), 'a call queued in the thread asks the control plane for a replica');
  pool.scaleTo(1);
  t.same((await queued).body.outputs[0].data, [5, 6]);

  const bad = await postJson(`${url}/v2/models/id/infer`, '{');
  t.equal(bad.status, 400);
  await threads.close(1000);
  closed = true;
  await t.rejects(fetch(`${url}/v2/health/live`), 'closed');
  t.same(lines.filter((l) => !l.startsWith('{')), [], 'its log lines reach the control plane whole');
});

t.test('an ingress beside the pool’s own router: exact counts over both, one queue bound, retries, and a failed start that answers every call', async (t) => {
  const starts: StartBehaviour[] = ['ready'];
  const { pool, hosts, config } = await poolOf(t, { numReplicas: 1, maxOngoingRequests: 2, maxQueuedRequests: 2 }, () => starts.shift() ?? 'fail');
  const observed: number[] = [];
  const ingress = new Ingress({
    deployments: [describe(pool, config)],
    ...GATEWAY,
    control: { demand() {}, status: async () => ({}), dashboard: async () => ({}), metrics: async () => ({ contentType: 'text/plain', text: '' }), readiness: async () => ({ id: pool.readiness() }) },
    metrics: { observeRequest: (_d, code) => observed.push(code), answered() {} },
  });
  const peer = peerOf(ingress);
  pool.connect(peer);
  const url = await ingress.listen('127.0.0.1', 0, false);
  t.equal((await postJson(`${url}/v2/models/id/infer`, x(1, 2))).status, 200, 'served through the second ingress');
  t.same(observed, [200]);
  t.equal((await fetch(`${url}/v2/models/id/ready`)).status, 200);

  // Hold calls: one from each router fills the replica (2), one more from each fills the queue (2).
  hosts[0].answerAtOnce = false;
  const calls = [postJson(`${url}/v2/models/id/infer`, x(1, 1)), pool.infer({ x: { dtype: 'float32', dims: [1, 2], data: Float32Array.from([2, 2]) } }, 1)];
  t.ok(await waitFor(() => pool.ongoing === 2), 'the replica holds one call from each router');
  const queued = [postJson(`${url}/v2/models/id/infer`, x(3, 3)), pool.infer({ x: { dtype: 'float32', dims: [1, 2], data: Float32Array.from([4, 4]) } }, 1)];
  t.ok(await waitFor(() => pool.queueDepth === 2), 'both routers queue against the one bound');
  const refused = await postJson(`${url}/v2/models/id/infer`, x(5, 5));
  t.equal(refused.status, 503, 'the bound holds over both routers');
  // The replica dies holding two calls: each router retries its own; the replacement fails to start.
  pool.killReplica('id#1');
  t.ok(await waitFor(() => pool.stats().retried === 2), 'one retry from each router');
  const answers = await Promise.allSettled([...calls, ...queued]);
  t.same(
    answers.map((a) => (a.status === 'fulfilled' ? ('body' in a.value ? a.value.body.code : 'answered') : (a.reason as Error).name)),
    ['FERRY_ERR_REPLICA_START', 'ReplicaStartFailedError', 'FERRY_ERR_REPLICA_START', 'ReplicaStartFailedError'],
    'both routers retried their calls, then answered each with the start failure, not a hang',
  );
  await ingress.close(50);
  pool.disconnect(peer);
});

t.test('an ingress thread takes asynchronous jobs into the control plane’s store and reads them back', async (t) => {
  const { pool, config } = await poolOf(t);
  const { MemoryJobStore } = await import('../jobs/memory-jobs.js');
  const { runJobOver } = await import('../jobs/job-runner.js');
  const store = new MemoryJobStore({ resultTtlMs: 60_000, maxQueuedJobs: 1 });
  t.teardown(() => store.close());
  const threads = new IngressThreads({
    count: 1,
    pools: [pool],
    routes: [config],
    gateway: { ...GATEWAY, logLevel: false },
    metrics: new FerryMetrics(),
    status: () => ({}),
    dashboard: () => ({}),
    jobs: { submit: (r) => store.submit(r), get: (id) => store.get(id), cancel: (id) => store.cancel(id) },
    log: () => {},
    lost: () => t.fail('the thread ended'),
  });
  t.teardown(() => threads.close(0));
  const url = await threads.listen('127.0.0.1', 0);
  const submit = () => fetch(`${url}/v2/models/id/infer`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=5, respond-async' }, body: JSON.stringify(x(7, 8)) });
  const first = await submit();
  t.equal(first.status, 202, 'respond-async among other preferences');
  const location = first.headers.get('location')!;
  const full = await submit();
  t.match({ status: full.status, body: await full.json() }, { status: 503, body: { code: 'FERRY_ERR_QUEUE_FULL' } }, "the store's refusal keeps its code and status across the thread");
  t.match(await (await fetch(`${url}${location}`)).json(), { state: 'queued' }, 'no worker yet: it waits');
  store.work((r) => runJobOver(url, r), 1);
  let view: any;
  t.ok(await waitFor(() => view?.state === 'succeeded', 10_000, async () => void (view = await (await fetch(`${url}${location}`)).json())));
  t.same(view.result.outputs[0].data, [7, 8]);
  t.equal((await fetch(`${url}${location}`, { method: 'DELETE' })).status, 409);
});

t.test('an ingress moves a deployment to the pool that replaces it, takes new limits in place, and drops one removed', async (t) => {
  const old = await poolOf(t);
  const next = await poolOf(t, { maxQueuedRequests: 1 });
  next.pool.peerKey = 'id@1';
  const ingress = new Ingress({
    deployments: [describe(old.pool, old.config)],
    ...GATEWAY,
    control: { demand() {}, status: async () => ({}), dashboard: async () => ({}), metrics: async () => ({ contentType: 'text/plain', text: '' }), readiness: async () => ({ id: next.pool.readiness() }) },
    metrics: { observeRequest() {}, answered() {} },
  });
  const peer = peerOf(ingress);
  old.pool.connect(peer);
  const url = await ingress.listen('127.0.0.1', 0, false);
  t.teardown(() => ingress.close(0));
  const answered = new Map<object, number>();
  for (const h of [...old.hosts, ...next.hosts]) {
    const answer = h.answer.bind(h);
    h.answer = () => {
      answered.set(h, (answered.get(h) ?? 0) + 1);
      answer();
    };
  }
  const rowsOf = (p: { hosts: object[] }) => p.hosts.reduce((n: number, h) => n + (answered.get(h) ?? 0), 0);
  t.equal((await postJson(`${url}/v2/models/id/infer`, x(1, 2))).status, 200);
  t.equal(rowsOf(old), 1);

  await ingress.update([describe(next.pool, { ...next.config, requestTimeoutMs: 777 })]);
  next.pool.connect(peer);
  t.same((await postJson(`${url}/v2/models/id/infer`, x(3, 4))).body.outputs[0].data, [3, 4]);
  t.equal(rowsOf(next), 1, 'the call after the update went to the new pool');
  t.equal(rowsOf(old), 1, 'none to the old one');
  ingress.forget(old.pool.peerKey);
  old.pool.disconnect(peer);

  // The same pool again, with a new queue bound: no new router, the bound in place.
  await ingress.update([describe(next.pool, { ...next.config, maxQueuedRequests: 0 })]);
  next.hosts[0].answerAtOnce = false;
  const dispatcher = new Agent({ connections: 100 });
  t.teardown(() => dispatcher.close());
  let settled = 0;
  const sent = Array.from({ length: 70 }, () =>
    fetch(`${url}/v2/models/id/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(x(7, 8)), dispatcher } as RequestInit).then((r) => {
      settled++;
      return r.status;
    }),
  );
  t.ok(await waitFor(() => settled === 6 && next.pool.ongoing === 64, 10_000), 'the replica holds 64 and the six beyond are answered at once');
  next.hosts[0].answerAtOnce = true;
  for (let i = 0; i < 64; i++) next.hosts[0].answer();
  const statuses = await Promise.all(sent);
  t.equal(statuses.filter((s) => s === 503).length, 6, 'a queue bound of 0 refuses what finds the replica full (64 ongoing)');
  t.ok(statuses.includes(200), 'and serves what it holds');

  await ingress.update([]);
  t.equal((await postJson(`${url}/v2/models/id/infer`, x(1, 1))).status, 404, 'a removed deployment is no longer served here');
  next.pool.disconnect(peer);
});

t.test('ingress threads follow an update and ask the control plane to apply configs and run the repository', async (t) => {
  const old = await poolOf(t);
  const next = await poolOf(t);
  next.pool.peerKey = 'id@1';
  const asked: string[] = [];
  const threads = new IngressThreads({
    count: 1,
    pools: [old.pool],
    routes: [old.config],
    gateway: { ...GATEWAY, logLevel: false },
    metrics: new FerryMetrics(),
    status: () => ({}),
    dashboard: () => ({}),
    control: {
      applyConfig: async (raw) => {
        asked.push(`apply ${JSON.stringify(raw)}`);
        throw Object.assign(new Error('refused for the test'), { code: 'FERRY_ERR_CONFIG_REFUSED', statusCode: 409 });
      },
      config: async () => ({ deployments: [] }),
      index: async () => [{ name: 'id', version: '', state: 'READY', reason: '' }, { name: 'off', version: '', state: 'UNAVAILABLE', reason: 'unloaded' }],
      load: async (name, config) => void asked.push(`load ${name} ${config}`),
      unload: (name) => {
        asked.push(`unload ${name}`);
        throw new Error('thrown at once');
      },
    },
    log: () => {},
    lost: () => t.fail('the thread ended'),
  });
  t.teardown(() => threads.close(0));
  const url = await threads.listen('127.0.0.1', 0);
  const put = await fetch(`${url}/-/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"deployments":[]}' });
  t.match({ status: put.status, body: await put.json() }, { status: 409, body: { code: 'FERRY_ERR_CONFIG_REFUSED', error: 'refused for the test' } }, 'the control plane’s refusal keeps its code and status');
  t.same(await (await fetch(`${url}/-/config`)).json(), { deployments: [] });
  t.same((await postJson(`${url}/v2/repository/index`, { ready: true })).body.map((e: { name: string }) => e.name), ['id'], "the control plane's index, ready ones only");
  t.match(await postJson(`${url}/v2/repository/models/id/load`, { parameters: { config: '{}' } }), { status: 200, body: {} });
  t.equal((await postJson(`${url}/v2/repository/models/id/unload`, {})).status, 500, 'an operation that throws at once still answers');
  t.same(asked, ['apply {"deployments":[]}', 'load id {}', 'unload id']);

  await threads.update([next.pool], [next.config]);
  let oldCalls = 0;
  let newCalls = 0;
  const countOld = old.hosts[0].answer.bind(old.hosts[0]);
  old.hosts[0].answer = () => (oldCalls++, countOld());
  const countNew = next.hosts[0].answer.bind(next.hosts[0]);
  next.hosts[0].answer = () => (newCalls++, countNew());
  t.same((await postJson(`${url}/v2/models/id/infer`, x(9, 9))).body.outputs[0].data, [9, 9]);
  t.same([oldCalls, newCalls], [0, 1], 'the thread sends calls to the new pool');
  threads.forget(old.pool);
});
