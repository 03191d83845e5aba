import http from 'node:http';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import t from 'tap';
import WebSocket from 'ws';
import { reusePortUnavailable } from '../gateway/index.js';
import { FerryServer, loadConfig, validateConfig, type DeploymentConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { captureLog, directRun, maxAbsDiff, startFerry, waitFor } from './helpers/ferry.js';

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
const router = (name: string) => fileURLToPath(new URL(`./fixtures/routers/${name}`, import.meta.url));
const SHARED = reusePortUnavailable() === null;

/** A sequence of `steps` steps of 4 features, the same for a seed. */
const sequence = (steps: number, seed = 1) => Array.from({ length: steps }, (_, s) => Array.from({ length: 4 }, (_, f) => Math.sin(seed * 7 + s * 4 + f)));

/** What the RNN gives for the whole sequence at once, from a zero state: its y, steps × 8. */
async function wholeSequence(x: number[][]): Promise<number[][]> {
  const out = await directRun('session-rnn.onnx', {
    x: new ort.Tensor('float32', Float32Array.from(x.flat()), [x.length, 1, 4]),
    h0: new ort.Tensor('float32', new Float32Array(8), [1, 1, 8]),
  });
  const y = out.y.data as Float32Array;
  return x.map((_, s) => Array.from(y.subarray(s * 8, s * 8 + 8)));
}

/** POSTs a chunk on a connection of its own (so, with ingress threads, the kernel picks a thread for each), with a session key. */
function feed(url: string, x: number[][], session?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', connection: 'close' };
    if (session !== undefined) headers['ferry-session-id'] = session;
    const req = http.request(`${url}/rnn/feed`, { method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ x }));
  });
}

const rnn = (extra: Partial<DeploymentConfig> = {}): DeploymentConfig => ({
  name: 'rnn',
  model: modelPath('session-rnn.onnx'),
  handler: example('stream-rnn.handler.ts'),
  requestRouter: 'session-affinity',
  routePrefix: '/rnn',
  routes: [{ method: 'POST', path: '/feed', call: 'feed' }],
  ...extra,
});

t.test('stream-rnn example: a sequence fed chunk by chunk, over HTTP with ferry-session-id and over one WebSocket, answers what feeding it whole does', async (t) => {
  const server = await FerryServer.start(await loadConfig(example('stream-rnn.config.ts')), { listen: { port: 0 } });
  t.teardown(() => server.close(2000));
  const x = sequence(12);
  const whole = await wholeSequence(x);
  const chunks = [x.slice(0, 3), x.slice(3, 4), x.slice(4, 9), x.slice(9)];
  const answers = [];
  for (const c of chunks) answers.push(await feed(server.url, c, 'reader-1'));
  t.same(answers.map((a) => a.status), [200, 200, 200, 200]);
  t.same(answers.map((a) => a.body.steps), [3, 4, 9, 12], 'the session kept its state across calls');
  t.equal(new Set(answers.map((a) => a.body.replica)).size, 1, 'on one replica');
  const fedWhole = await feed(server.url, x, 'reader-whole');
  // Equal up to float32 rounding: onnxruntime multiplies every step's input at once, and a longer sequence may sum in another order.
  const chunked = answers.flatMap((a) => a.body.y).flat();
  t.ok(maxAbsDiff(chunked, fedWhole.body.y.flat()) < 1e-6, 'every step equals feeding the sequence whole');
  t.ok(maxAbsDiff(chunked, whole.flat()) < 1e-6, "and onnxruntime's own whole-sequence run");

  const alone = await feed(server.url, x.slice(9));
  t.same(alone.body.y, (await wholeSequence(x.slice(9))), 'without a session a chunk starts from zero');
  t.match(await feed(server.url, [[1, 2, 3]], 'reader-1'), { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID', error: /one row per step/ } });
  const reset = await fetch(`${server.url}/rnn/reset`, { method: 'POST', headers: { 'ferry-session-id': 'reader-1' } });
  t.same(await reset.json(), { forgotten: true });
  t.equal((await feed(server.url, x.slice(0, 2), 'reader-1')).body.steps, 2, 'a reset session starts again');

  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/rnn/chunks`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const streamed: any[] = [];
  for (const c of chunks) {
    const answer = new Promise<any>((resolve) => ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
    ws.send(JSON.stringify({ x: c }));
    streamed.push(await answer);
  }
  t.same(streamed.map((a) => a.steps), [3, 4, 9, 12], 'one WebSocket connection is one session');
  // Chunks sent without waiting for their answers still run in order, each from the state the one before left.
  const ws2 = new WebSocket(`${server.url.replace('http', 'ws')}/rnn/chunks`);
  await new Promise((resolve, reject) => ws2.once('open', resolve).once('error', reject));
  const pipedAnswers = new Promise<any[]>((resolve) => {
    const got: any[] = [];
    ws2.on('message', (d: Buffer) => got.push(JSON.parse(d.toString())) === chunks.length && resolve(got));
  });
  for (const c of chunks) ws2.send(JSON.stringify({ x: c }));
  const all = await pipedAnswers;
  ws2.close();
  ws.close();
  t.same(all.flatMap((a) => a.y), streamed.flatMap((a) => a.y), 'pipelined chunks answer what chunks sent one by one did');
  t.same(streamed.flatMap((a) => a.y), answers.flatMap((a) => a.body.y), 'and answers what the same chunks over HTTP did');
  const status = await (await fetch(`${server.url}/-/status`)).json();
  t.equal(status.deployments[0].replicas.reduce((n: number, r: { sessions: number }) => n + r.sessions, 0), 4, 'status counts the sessions placed (two by header, two connections)');
});

t.test('all of one session’s calls reach one replica, across two ingress threads, with no replica past its bound', async (t) => {
  const server = await startFerry(t, [rnn({ numReplicas: 3 })], { ingressThreads: 2 });
  const sessions = Array.from({ length: 12 }, (_, i) => `user-${i}`);
  const seen = new Map<string, Set<string>>(sessions.map((s) => [s, new Set()]));
  for (let round = 0; round < 4; round++) {
    const answers = await Promise.all(sessions.map((s) => feed(server.url, sequence(2, round), s)));
    answers.forEach((a, i) => {
      t.equal(a.body.steps, 2 * (round + 1), `${sessions[i]} kept its state (round ${round})`);
      seen.get(sessions[i])!.add(a.body.replica);
    });
  }
  t.same([...seen.values()].map((s) => s.size), sessions.map(() => 1), 'each session met one replica only');
  const status = await (await fetch(`${server.url}/-/status`)).json();
  const loads = status.deployments[0].replicas.map((r: { sessions: number }) => r.sessions);
  t.equal(loads.reduce((a: number, b: number) => a + b, 0), 12, `status counts every session once (${loads})`);
  t.ok(Math.max(...loads) <= Math.ceil((1.25 * 12) / 3), 'none past ⌈1.25 · 12 / 3⌉');
  if (SHARED) t.ok(status.ingress.connections.every((n: number) => n > 0), `both ingress threads took calls (${status.ingress.connections})`);
});

t.test("a dead replica's sessions move to another, whose handler is told where they came from", async (t) => {
  const server = await startFerry(t, [rnn({ numReplicas: 2 })]);
  const first = await feed(server.url, sequence(3), 'moving');
  t.equal(first.body.steps, 3);
  const pool = server.pools.get('rnn')!;
  pool.killReplica(first.body.replica);
  t.ok(await waitFor(() => pool.stats().replicas.filter((r) => r.state === 'ready').length === 2 && !pool.stats().replicas.some((r) => r.id === first.body.replica)), 'replaced');
  const moved = await feed(server.url, sequence(2), 'moving');
  t.equal(moved.status, 200);
  t.not(moved.body.replica, first.body.replica, 'the session is on another replica now');
  t.equal(moved.body.movedFrom, first.body.replica, "and the handler heard where it came from (its state there is lost)");
  t.equal(moved.body.steps, 2, 'so it started again from zero');
  const after = await feed(server.url, sequence(2), 'moving');
  t.same([after.body.replica, after.body.steps, after.body.movedFrom], [moved.body.replica, 4, undefined], 'it stays on its new replica');
});

t.test('a custom request router from a module places calls; one that fails falls back to power of two choices and says why', async (t) => {
  const mlp = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: new Array(784).fill(0.5) }] };
  const call = (url: string, session?: string) =>
    fetch(`${url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...(session ? { 'ferry-session-id': session } : {}) }, body: JSON.stringify(mlp) });
  const highest = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 3, requestRouter: router('highest-id.ts') }]);
  for (let i = 0; i < 6; i++) t.equal((await call(highest.url)).status, 200);
  const rows = Object.fromEntries(highest.pools.get('mlp')!.stats().replicas.map((r) => [r.id, r.rows]));
  t.same(rows, { 'mlp#1': 0, 'mlp#2': 0, 'mlp#3': 6 }, 'every call went where the router said');

  const log = captureLog();
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 16 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 2, requestRouter: `${router('highest-id.ts')}#Faulty` }] },
    modelPath('ferry.config.ts'),
  );
  const faulty = await FerryServer.start(config, { logger: { level: 'warn', stream: log.stream } });
  t.teardown(() => faulty.close(2000));
  t.same(
    await Promise.all(['throw', 'stranger', 'fine', 'throw', 'not-a-list', 'throws-text'].map(async (s) => (await call(faulty.url, s)).status)),
    [200, 200, 200, 200, 200, 200],
    'every call answered',
  );
  t.ok(await waitFor(() => log.lines.some((l) => l.msg === 'request router of mlp: its chooseReplicas threw: no route for you; the call went by power of two choices')), 'a throw is logged');
  t.ok(log.lines.some((l) => /returned a replica it was not given/.test(l.msg)), 'so is an answer naming no candidate');
  t.ok(log.lines.some((l) => /returned string, not an array of the candidates/.test(l.msg)), 'or no list at all');
  t.ok(log.lines.some((l) => /threw: no Error at all/.test(l.msg)), 'whatever it throws');
  t.equal(log.lines.filter((l) => /no route for you/.test(l.msg)).length, 1, 'once a minute for one reason, not per call');

  const js = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 2, requestRouter: router('first-listed.mjs') }]);
  t.equal((await call(js.url)).status, 200, 'a router in plain JavaScript loads too');
  const mts = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), requestRouter: router('first-listed.mts') }]);
  t.equal((await call(mts.url)).status, 200, 'and one in a .mts module');

  for (const [spec, why] of [
    [`${router('highest-id.ts')}#notAClass`, /its export 'notAClass' is not a class \(got number\)/],
    [`${router('highest-id.ts')}#NoChoose`, /class NoChoose has no chooseReplicas method/],
    [`${router('highest-id.ts')}#Refusing`, /of deployment mlp: its constructor threw: this router serves no deployment/],
  ] as const) {
    const bad = validateConfig({ http: { port: 0 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), requestRouter: spec }] }, modelPath('ferry.config.ts'));
    await t.rejects(FerryServer.start(bad), { message: why, code: 'FERRY_ERR_CONFIG_INVALID' }, 'a router module that cannot route fails the start, naming why');
  }
  t.throws(
    () => validateConfig({ deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), requestRouter: './missing-router.ts' }] }, modelPath('ferry.config.ts')),
    /requestRouter: file not found: .*missing-router\.ts/,
  );
  t.throws(() => validateConfig({ deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), requestRouter: 'round-robin' }] }, modelPath('ferry.config.ts')), /requestRouter/);
});

t.test("a busy session's calls wait for its replica; calls without a session, and new sessions, go to the others at once", async (t) => {
  const slow = fileURLToPath(new URL('./fixtures/handlers/slow.ts', import.meta.url));
  const server = await startFerry(t, [
    { name: 'slow', handler: slow, userConfig: { ms: 1500 }, numReplicas: 3, requestRouter: 'session-affinity', maxOngoingRequests: 1, maxQueuedRequests: 2 },
  ]);
  const handle = server.handle('slow');
  const x = { x: { dtype: 'float32' as const, dims: [1], data: Float32Array.of(1) } };
  const order: string[] = [];
  const hot = [1, 2, 3].map((i) => handle.infer(x, { sessionId: 'hot' }).then(() => order.push(`hot-${i}`)));
  await new Promise((r) => setTimeout(r, 200));
  const plain = handle.infer(x).then(() => order.push('plain'));
  const fresh = handle.infer(x, { sessionId: 'someone-else' }).then(() => order.push('fresh'));
  await Promise.all([...hot, plain, fresh]);
  // With hot-2 and hot-3 filling the queue (maxQueuedRequests 2), a call that queued behind them would have been refused 503.
  t.ok(order.indexOf('plain') < order.indexOf('hot-2') && order.indexOf('fresh') < order.indexOf('hot-2'), `neither was refused or held behind the busy session (${order})`);
  t.same(order.filter((o) => o.startsWith('hot')), ['hot-1', 'hot-2', 'hot-3'], "the session's own calls ran in turn on its replica");
});

t.test("a session key sent twice is refused, as is a model named to a handler's own route", async (t) => {
  const server = await startFerry(t, [rnn()]);
  const send = (headers: Record<string, string | string[]>) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = http.request(`${server.url}/rnn/feed`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ x: sequence(1) }));
    });
  t.match(await send({ 'ferry-session-id': ['a', 'b'] }), { status: 400, body: { error: /ferry-session-id is given 2 times/ } });
  t.match(await send({ 'ferry-session-id': 'a', 'ferry-model-id': 'beta' }), { status: 400, body: { error: /a handler's own route, which serves none/ } });
  t.match(await send({ 'ferry-session-id': 'a' }), { status: 200 });
});
