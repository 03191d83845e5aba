import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import t, { type Test } from 'tap';
import { ClusterGateway } from '../cluster/cluster-gateway.js';
import { ClusterStore } from '../cluster/cluster-store.js';
import { NodeAgent } from '../cluster/node-agent.js';
import { FerryServer, validateConfig, type DeploymentConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { ferry, urlOf, type FerryRun } from './helpers/cli.js';
import { directRun, maxAbsDiff, randomRow, waitFor } from './helpers/ferry.js';
import { startGateway as gateway, startNode as node, TIMING, TIMING_ENV } from './helpers/cluster.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

/*
 * Ferry over several machines' worth of parts on one: a real redis-server,
 * nodes and gateways in this process and as real `ferry node` / `ferry
 * serve --redis` processes, requests over real HTTP.
 */


const mlp = (extra: Partial<DeploymentConfig> = {}): DeploymentConfig => ({ name: 'mlp', model: modelPath('mlp.onnx'), ...extra });



function nodeProcess(t: Test, redis: TestRedis, id: string, cpus = 2): FerryRun {
  const run = ferry(['node', '--redis', redis.url, '--id', id, '--cpus', String(cpus)], TIMING_ENV);
  t.teardown(() => {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  return run;
}

const row = randomRow(21, 784);
const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: row }] });

async function infer(url: string): Promise<{ status: number; data?: number[] }> {
  try {
    const res = await fetch(`${url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = (await res.json()) as { outputs?: { data: number[] }[] };
    return { status: res.status, data: json.outputs?.[0].data };
  } catch {
    return { status: 0 };
  }
}

/** Sends `workers` requests at a time until `stop()` says so; every answer is kept. */
function load(url: string, workers = 8): { stop(): Promise<{ status: number; data?: number[] }[]> } {
  const answers: { status: number; data?: number[] }[] = [];
  let running = true;
  const all = Promise.all(
    Array.from({ length: workers }, async () => {
      while (running) answers.push(await infer(url));
    }),
  );
  return {
    async stop() {
      running = false;
      await all;
      return answers;
    },
  };
}

/** Writes `config` to a config file of its own; returns its path. */
function configFile(config: object): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-cluster-')), 'ferry.config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const nodesOf = async (redis: TestRedis) => {
  const store = new ClusterStore(redis.url);
  await store.connect();
  try {
    return await store.nodes();
  } finally {
    await store.close();
  }
};

t.test('two nodes and a gateway: replicas placed on both, requests answered correctly by both', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = [await node(t, redis, 'a'), await node(t, redis, 'b')];
  const server = await gateway(t, redis, [mlp({ numReplicas: 2 })]);
  const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row), [1, 784]) })).logits.data as Float32Array;
  const answers = await Promise.all(Array.from({ length: 200 }, () => infer(server.url)));
  t.ok(answers.every((r) => r.status === 200 && maxAbsDiff(r.data!, want) < 1e-5), 'every answer is the model\'s');
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as any;
  t.same(status.cluster.assignment.assignment, { mlp: { a: 1, b: 1 } }, 'one replica on each node');
  t.same(status.deployments[0].replicas.map((r: any) => r.node).sort(), ['a', 'b']);
  t.equal(status.cluster.controller, server.cluster!.id, 'the only gateway is the controller');
  t.notOk('node' in status, "a cluster gateway shows no machine's resources of its own");
  // The gateway shows each replica's figures as its node's heartbeat reports them.
  let seen: { node: string; batches: number; rows: number; host: string }[] = [];
  t.ok(
    await waitFor(() => seen.length === 2 && seen.every((r) => r.batches > 0 && r.rows >= r.batches), 5000, async () => {
      seen = ((await (await fetch(`${server.url}/-/status`)).json()) as any).deployments[0].replicas;
    }),
    `the gateway sees each replica's batches (${JSON.stringify(seen.map((r) => [r.node, r.batches, r.rows]))})`,
  );
  t.ok(seen.every((r) => r.host === 'thread'), 'and its host kind');
  // The status page lists the nodes, each replica with the node it runs on.
  const page = (await (await fetch(`${server.url}/-/dashboard/data`)).json()) as any;
  t.same(page.nodes.map((n: any) => [n.id, n.replicas, n.unreachable]).sort(), [['a', 1, ''], ['b', 1, '']], 'the status page lists every node and its replicas');
  t.ok(page.nodes.every((n: any) => n.beatAgoMs >= 0 && n.usedCpus === null && /^[\d.]+:\d+$/.test(n.address)), 'with its address and last heartbeat');
  t.same(page.deployments[0].replicas.map((r: any) => r[3]).sort(), ['a', 'b'], "and each replica's node");
  // Each node's replica ran batches: the requests spread over both.
  for (const n of [a, b]) {
    const stats = (n as unknown as { pools: Map<string, { stats(): { replicas: { batches: number }[] } }> }).pools.get('mlp')!.stats();
    t.ok(stats.replicas[0].batches > 0, `node ${n.id} served (${stats.replicas[0].batches} batches)`);
  }
});

t.test('a node killed with SIGKILL under load: every request answered correctly, its replica placed on the other', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const [a, b] = [nodeProcess(t, redis, 'a'), nodeProcess(t, redis, 'b')];
  for (const run of [a, b]) t.ok(await waitFor(() => /Ferry node/.test(run.out()), 20_000), `node up: ${run.err()}`);
  const lines: string[] = [];
  const server = await gateway(t, redis, [mlp({ numReplicas: 2 })], {}, (level, msg) => void lines.push(`${level}: ${msg}`));
  t.ok(lines.some((l) => /^info: this gateway \(gateway-\S+\) is now the cluster's controller$/.test(l)), `it says it controls (${lines})`);
  t.ok(await waitFor(() => server.stats()[0].replicas.length === 2, 10_000), 'a replica on each node');
  const running = load(server.url);
  await new Promise((r) => setTimeout(r, 500));
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  t.ok(
    await waitFor(() => {
      const s = server.stats()[0];
      return s.replicas.length === 2 && s.replicas.every((r) => r.node === 'b');
    }, 15_000),
    'both replicas on b',
  );
  const replacedMs = Date.now() - killedAt;
  await new Promise((r) => setTimeout(r, 300));
  const answers = await running.stop();
  const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row), [1, 784]) })).logits.data as Float32Array;
  const bad = answers.filter((r) => r.status !== 200 || maxAbsDiff(r.data!, want) >= 1e-5);
  t.equal(bad.length, 0, `${answers.length} requests, none lost or wrong (${JSON.stringify(bad.slice(0, 3))})`);
  t.ok(replacedMs < TIMING.heartbeatTtlMs + TIMING.controlIntervalMs + 10_000, `replaced within ${replacedMs} ms (a replica's load included)`);
  t.same((await nodesOf(redis)).map((n) => n.id), ['b'], "a's heartbeat lapsed");
  t.ok(lines.some((l) => /^warn: node a stopped beating: its calls are retried on other replicas/.test(l)), 'the gateway says the node is gone');
});

t.test('controller failover: when the controlling gateway dies, another takes the lock within its TTL and keeps placing', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a', 4);
  const file = configFile({ http: { port: 0 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 1 }] });
  const first = ferry(['serve', file, '--redis', redis.url], TIMING_ENV);
  t.teardown(() => void (first.child.exitCode === null && first.child.kill('SIGKILL')));
  await urlOf(first);
  const store = new ClusterStore(redis.url);
  await store.connect();
  t.teardown(() => store.close());
  const firstId = (await store.lockHolder())!;
  t.match(firstId, /^gateway-/, 'the first gateway controls');
  const second = await gateway(t, redis, [mlp({ numReplicas: 1, requestTimeoutMs: 15_000 })]);
  t.not(await store.lockHolder(), second.cluster!.id, 'while it lives, the lock stays with it');
  const diedAt = Date.now();
  first.child.kill('SIGKILL');
  t.ok(await waitFor(() => second.cluster!.status().controller === second.cluster!.id, 10_000), 'the second gateway took over');
  const tookMs = Date.now() - diedAt;
  t.ok(tookMs <= TIMING.lockTtlMs + 2 * TIMING.controlIntervalMs + 500, `within one lock TTL and a pass (${tookMs} ms)`);
  const served = await infer(second.url);
  t.equal(served.status, 200, `and serves${served.status === 200 ? '' : `: ${JSON.stringify(second.status().deployments[0])} ${JSON.stringify(second.status().cluster)}`}`);
});

t.test('Redis stopped under load: requests are refused 503 at once while it is down, and served again once it is back', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a');
  const server = await gateway(t, redis, [mlp()]);
  t.equal((await infer(server.url)).status, 200);
  await redis.stop();
  // Within a heartbeat TTL the nodes known still serve; past it, the gateway cannot tell which live.
  t.ok(await waitFor(() => server.stats()[0].readiness.ready === false, 10_000), 'not ready once Redis has been silent a TTL');
  const started = performance.now();
  const refused = await infer(server.url);
  const ms = performance.now() - started;
  t.equal(refused.status, 503);
  t.ok(ms < 1000, `answered in ${ms.toFixed(0)} ms, no hang`);
  const res = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.match(await res.json(), { code: 'FERRY_ERR_BACKEND_UNAVAILABLE', error: /has not answered for \d+ s/ });
  t.equal(res.headers.get('retry-after'), '1');
  await redis.start();
  t.ok(await waitFor(() => server.stats()[0].readiness.ready, 15_000), 'ready again');
  t.equal((await infer(server.url)).status, 200, 'served again');
});

t.test('a load step: the autoscaler asks for more replicas and the controller places them on the node with room', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'small', 1);
  await node(t, redis, 'big', 3);
  const server = await gateway(t, redis, [
    mlp({ autoscaling: { minReplicas: 1, maxReplicas: 4, targetOngoingRequests: 1, upscaleDelayMs: 0, downscaleDelayMs: 60_000, metricsIntervalMs: 100, lookBackPeriodMs: 300 }, maxOngoingRequests: 2 }),
  ]);
  const running = load(server.url, 12);
  const grew = await waitFor(() => server.stats()[0].replicas.length >= 4, 20_000);
  const answers = await running.stop();
  t.ok(grew, `grew to ${server.stats()[0].replicas.length} replicas`);
  const status = (await (await fetch(`${server.url}/-/status`)).json()) as any;
  const placed = status.cluster.assignment.assignment.mlp;
  t.equal(placed.small, 1, 'the small node holds what fits');
  t.equal(placed.big, 3, 'the rest went where there was room');
  t.ok(answers.every((r) => r.status === 200), `${answers.length} answered`);
});

t.test('ferry serve --redis --with-node runs a gateway and a node in one process; ferry status --redis shows the cluster; a node serves its metrics and health', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const file = configFile({ http: { port: 0 }, node: { cpus: 2 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] });
  const both = ferry(['serve', file, '--redis', redis.url, '--with-node'], TIMING_ENV);
  t.teardown(() => void (both.child.exitCode === null && both.child.kill('SIGKILL')));
  const url = await urlOf(both);
  t.match(both.out(), /cluster gateway gateway-\S+ on redis:\/\/127\.0\.0\.1:\d+, with node \S+ \(2 cpus, 0 gpus\)/);
  t.equal((await infer(url)).status, 200, 'it serves from its own node');
  const status = ferry(['status', '--redis', redis.url]);
  t.equal(await status.exit, 0, status.err());
  t.match(status.out(), /controller: gateway-\S+\nNODE +ADDRESS +CPUS +GPUS +HEARTBEAT +REPLICAS\n\S+ +127\.0\.0\.1:\d+ +2 +0 +[\d.]+ s ago +mlp ×1/);
  t.match(status.out(), /placement v\d+ by gateway-\S+:\n  mlp: 1 wanted: \S+ ×1/);

  const agent = new NodeAgent({ redisUrl: redis.url, id: 'watched', cpus: 0, gpus: 0, timing: TIMING, metricsPort: 0, listenHost: '127.0.0.1' });
  await agent.start();
  const base = `http://127.0.0.1:${agent.metricsListenPort}`;
  t.equal((await fetch(`${base}/v2/health/live`)).status, 200);
  t.equal((await fetch(`${base}/v2/health/ready`)).status, 200, 'ready: in the cluster');
  t.match(await (await fetch(`${base}/metrics`)).text(), /ferry_replica_restarts_total/);
  t.equal((await fetch(`${base}/nowhere`)).status, 404);
  await agent.stop(1000);
  const gone = ferry(['status', '--redis', redis.url, '--json']);
  t.equal(await gone.exit, 0);
  t.notOk(JSON.parse(gone.out()).nodes.some((n: { id: string }) => n.id === 'watched'), 'a node that stops leaves the cluster at once');
  both.child.kill('SIGTERM');
  t.equal(await both.exit, 0, 'and stops cleanly on SIGTERM');
});

t.test("a handler's handle calls reach a deployment running on another node", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a', 1);
  await node(t, redis, 'b', 1);
  const { fileURLToPath } = await import('node:url');
  const pipeline = fileURLToPath(new URL('./fixtures/handlers/pipeline.ts', import.meta.url));
  const server = await gateway(t, redis, [mlp(), { name: 'front', handler: pipeline, userConfig: { stages: ['mlp'] } }]);
  const placed = server.status().cluster!.assignment!.assignment;
  t.not(Object.keys(placed.mlp)[0], Object.keys(placed.front)[0], `the two deployments on different nodes (${JSON.stringify(placed)})`);
  const res = await fetch(`${server.url}/v2/models/front/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { outputs: { data: number[] }[] };
  t.equal(res.status, 200, JSON.stringify(json));
  const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row), [1, 784]) })).logits.data as Float32Array;
  t.ok(maxAbsDiff(json.outputs[0].data, want) < 1e-5, "the other node's answer, through the handler");
});

t.test("server.reconfigure on a cluster gateway reaches every node's replicas, and is kept for those started later", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a', 1);
  const { fileURLToPath } = await import('node:url');
  const scaled = { name: 'scaled', model: modelPath('mlp.onnx'), handler: fileURLToPath(new URL('./fixtures/handlers/scaled-mlp.ts', import.meta.url)), userConfig: { scale: 1 } };
  const server = await gateway(t, redis, [scaled]);
  const ask = async () => {
    const res = await fetch(`${server.url}/v2/models/scaled/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0].data;
  };
  const scaleOf = async (k: number) => (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row, (v) => v * k), [1, 784]) })).logits.data as Float32Array;
  t.ok(maxAbsDiff(await ask(), await scaleOf(1)) < 1e-5, 'scale 1');
  t.same(await server.reconfigure('scaled', { scale: 2 }), [], 'set for the nodes');
  const two = await scaleOf(2);
  let now: number[] = [];
  t.ok(await waitFor(() => maxAbsDiff(now, two) < 1e-5, 10_000, async () => void (now = await ask())), 'the node applied it');
  // Kept for the replicas nodes start later (they read it before starting).
  const { ClusterStore: Store } = await import('../cluster/cluster-store.js');
  const store = new Store(redis.url);
  await store.connect();
  t.teardown(() => store.close());
  t.ok((await store.userConfigs(['scaled'])).get('scaled')?.includes('"scale":2'), 'kept in Redis for nodes to come');
});

t.test('a node holding every replica killed under load: its calls wait for the replicas placed elsewhere, none answered 500', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const a = nodeProcess(t, redis, 'a');
  t.ok(await waitFor(() => /Ferry node/.test(a.out()), 20_000), `node up: ${a.err()}`);
  const server = await gateway(t, redis, [mlp({ numReplicas: 2 })]);
  t.ok(await waitFor(() => server.stats()[0].replicas.length === 2, 10_000), 'both replicas on a, the only node');
  await node(t, redis, 'b');
  const running = load(server.url);
  await new Promise((r) => setTimeout(r, 500));
  a.child.kill('SIGKILL');
  t.ok(await waitFor(() => server.stats()[0].replicas.filter((r) => r.node === 'b').length === 2, 20_000), 'both placed again on b');
  await new Promise((r) => setTimeout(r, 300));
  const answers = await running.stop();
  const bad = answers.filter((r) => r.status !== 200);
  t.equal(bad.length, 0, `${answers.length} requests, none lost (${JSON.stringify(bad.slice(0, 3))})`);
});

t.test('Redis restarted with its append-only file: the replicas that run keep running (no node is taken as gone for the blip)', async (t) => {
  const redis = await startRedis(t, { aof: true });
  if (!redis) return;
  await node(t, redis, 'a');
  const server = await gateway(t, redis, [mlp({ numReplicas: 2 })]);
  t.ok(await waitFor(() => server.stats()[0].replicas.length === 2, 10_000));
  const before = server.stats()[0].replicas.map((r) => r.id).sort();
  await redis.stop();
  await new Promise((r) => setTimeout(r, 2 * TIMING.heartbeatTtlMs));
  await redis.start();
  t.ok(await waitFor(() => server.stats()[0].readiness.ready, 15_000), 'ready again');
  await new Promise((r) => setTimeout(r, 2 * TIMING.heartbeatTtlMs));
  t.same(server.stats()[0].replicas.map((r) => r.id).sort(), before, 'the same replicas, not started again');
  t.equal((await infer(server.url)).status, 200);
});

t.test('a gateway that meets a node before its pools are made still gets channels to the replicas already running there', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a');
  const first = await gateway(t, redis, [mlp()]);
  t.ok(await waitFor(() => first.stats()[0].replicas.length === 1, 10_000), 'a replica runs');
  const late = new ClusterGateway({ redisUrl: redis.url, timing: TIMING });
  t.teardown(() => late.close());
  const [config] = validateConfig({ deployments: [mlp()] }, modelPath('ferry.config.ts')).deployments;
  await late.connect([config]);
  t.ok(await waitFor(() => late.status().nodes.length === 1, 5000), 'it follows the node');
  // The node offers its channel as soon as the gateway attaches: long before this pool exists.
  await new Promise((r) => setTimeout(r, 500));
  const pool = late.pool(config);
  t.ok(await waitFor(() => pool.readyReplicas === 1, 5000), `the running replica is reachable (${pool.readyReplicas})`);
  await pool.start();
  const answer = await pool.infer({ input: { dtype: 'float32', dims: [1, 784], data: Float32Array.from(row) } }, 1);
  const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row), [1, 784]) })).logits.data as Float32Array;
  t.ok(maxAbsDiff(answer.logits.data as Float32Array, want) < 1e-5, 'and answers through it');
  await pool.stop(0);
});

t.test('a second node given a live node\'s id is refused, and leaves the first in place', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const first = await node(t, redis, 'twin');
  const second = new NodeAgent({ redisUrl: redis.url, id: 'twin', cpus: 2, gpus: 0, timing: TIMING });
  await t.rejects(second.start(), /a node named twin already beats in this cluster \(at 127\.0\.0\.1:\d+, started .*\); give this one another --id, or stop that one first/);
  await second.stop(0);
  const nodes = await nodesOf(redis);
  t.same(nodes.map((n) => [n.id, n.port]), [['twin', first.listenPort]], 'the first still beats, at its own port');
  await new Promise((r) => setTimeout(r, TIMING.heartbeatTtlMs + 200));
  t.same((await nodesOf(redis)).map((n) => n.id), ['twin'], 'and keeps beating');
});

t.test('a Redis URL naming a database Redis does not have is refused at start, not served from database 0', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const store = new ClusterStore(`${redis.url}/99`);
  await t.rejects(store.connect(), /Redis has no database 99 \(ERR DB index is out of range\); pick one below its `databases` setting/);
  const gatewayOnIt = new ClusterGateway({ redisUrl: `${redis.url}/99`, timing: TIMING });
  await t.rejects(gatewayOnIt.connect([]), /cannot reach Redis at redis:\/\/.*\/99: Redis has no database 99/);
  const fine = new ClusterStore(`${redis.url}/3`);
  await fine.connect();
  t.ok(fine.connected, 'one it has is used');
  await fine.close();
});

t.test('a gateway still waiting for nodes stops at the first SIGTERM', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const file = configFile({ http: { port: 0 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] });
  const run = ferry(['serve', file, '--redis', redis.url], TIMING_ENV);
  t.teardown(() => void (run.child.exitCode === null && run.child.kill('SIGKILL')));
  const store = new ClusterStore(redis.url);
  await store.connect();
  t.teardown(() => store.close());
  let holder: string | null = null;
  t.ok(await waitFor(() => holder !== null, 30_000, async () => void (holder = await store.lockHolder())), 'it joined the cluster (and waits: no node)');
  const signalledAt = Date.now();
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, `it exits 0 (${run.out()} ${run.err()})`);
  t.ok(Date.now() - signalledAt < 10_000, 'at once, not once a node comes');
  t.match(run.out(), /SIGTERM while waiting for the cluster's nodes; stopping/);
  t.equal(await store.lockHolder(), null, 'and let the controller lock go');
});

t.test('a node that beats but cannot be reached (a wrong advertised address) is said so, and gets no replica once its TTL has passed', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'good', 2);
  // Listening on 127.0.0.1 only, advertising 127.0.0.2: every connection is refused.
  const bad = new NodeAgent({ redisUrl: redis.url, id: 'bad', cpus: 8, gpus: 0, timing: TIMING, listenHost: '127.0.0.1', advertiseHost: '127.0.0.2' });
  await bad.start();
  t.teardown(() => bad.stop(1000));
  const warnings: string[] = [];
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 16 }, deployments: [mlp({ numReplicas: 2, requestTimeoutMs: 20_000 })] }, modelPath('ferry.config.ts'));
  const server = await FerryServer.start(config, { cluster: new ClusterGateway({ redisUrl: redis.url, timing: TIMING, log: (level, msg) => void (level === 'warn' && warnings.push(msg)) }) });
  t.teardown(() => server.close(1000));
  t.ok(await waitFor(() => warnings.some((w) => /cannot reach node bad at 127\.0\.0\.2:\d+ \(ECONNREFUSED\): no call goes to its replicas from this gateway/.test(w)), 10_000), `warned (${warnings})`);
  t.ok(
    await waitFor(() => {
      const a = server.cluster!.status().assignment;
      return a !== null && a.assignment.mlp?.good === 2 && !a.assignment.mlp?.bad;
    }, 15_000),
    `both replicas on the node gateways reach (${JSON.stringify(server.cluster!.status().assignment?.assignment)})`,
  );
  t.same(server.cluster!.status().unreachable, { bad: 'ECONNREFUSED' }, 'the gateway says which node it cannot reach, and why');
  t.ok(await waitFor(() => server.stats()[0].replicas.length === 2, 10_000), 'and serves from both');
  t.equal((await infer(server.url)).status, 200);
  const store = new ClusterStore(redis.url);
  await store.connect();
  t.teardown(() => store.close());
  const held = await store.unreachableNodes();
  t.same([...held.keys()], ['bad'], 'Redis holds it for ferry status --redis');
  // Every gateway tells, nodes' own (for their replicas' handle calls) among them.
  t.match(held.get('bad')!.join('; '), /(^|; )gateway-\S+: ECONNREFUSED(;|$)/, 'with each gateway and its reason');
});

t.test("a gateway whose config differs from the one the controller serves says how, and refuses at once a deployment the cluster does not run", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a', 4);
  const other = { name: 'other', model: modelPath('mlp.onnx') };
  // Both models loaded once, so a gateway that serves them can start.
  const first = await gateway(t, redis, [mlp(), other]);
  await first.close(1000);
  const controller = await gateway(t, redis, [mlp()]);
  t.ok(await waitFor(() => controller.cluster!.status().controller === controller.cluster!.id, 5000), 'the mlp-only gateway controls');
  const warnings: string[] = [];
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 16 }, deployments: [mlp({ numReplicas: 2 }), other] }, modelPath('ferry.config.ts'));
  const odd = await FerryServer.start(config, { cluster: new ClusterGateway({ redisUrl: redis.url, timing: TIMING, log: (level, msg) => void (level === 'warn' && warnings.push(msg)) }) });
  t.teardown(() => odd.close(1000));
  t.ok(await waitFor(() => warnings.length > 0, 5000), 'it warns');
  t.match(warnings[0], /this gateway's config differs from the one gateway-\S+ serves the cluster: not in it: other \(answered 503 here\); set differently there: mlp \(the cluster runs them as gateway-\S+ set them\)\. Give every gateway the same config/);
  const started = performance.now();
  const res = await fetch(`${odd.url}/v2/models/other/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.equal(res.status, 503, 'refused');
  t.ok(performance.now() - started < 2000, 'at once, not after its request timeout');
  t.match(await res.json(), { code: 'FERRY_ERR_BACKEND_UNAVAILABLE', error: /deployment other is not in the config gateway-\S+ serves the cluster, so no replica of it is placed/ });
  t.match(odd.stats().find((s) => s.deployment === 'other')!.readiness, { ready: false, reason: /not in the config/ });
  t.equal((await infer(odd.url)).status, 200, 'mlp, which the cluster runs, is served');
});
