import http from 'node:http';
import ort from 'onnxruntime-node';
import t from 'tap';
import { reusePortUnavailable } from '../gateway/index.js';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { directRun, maxAbsDiff, randomRow, startFerry, waitFor } from './helpers/ferry.js';

/** Where the runtime shares a port between threads (Node ≥ 22.12 on Linux); CI runs this file there and on Node 20. */
const SHARED = reusePortUnavailable() === null;

/** POSTs JSON on a connection of its own, so the kernel picks an ingress thread for each request. */
function postAlone(url: string, body: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const request = (seed: number) => ({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(seed, 784) }] });
const statusOf = async (url: string) => (await fetch(`${url}/-/status`)).json();

t.test('two ingress threads share the port where the runtime can; elsewhere one gateway serves and says why', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { ingressThreads: 2 });
  if (SHARED) t.same(server.ingress, { threads: 2, requested: 2, reusePort: true, note: '' });
  else {
    t.match(server.ingress, { threads: 1, requested: 2, reusePort: false });
    t.match(server.ingress.note, /^http\.ingressThreads is 2, but Node \d+\.\d+\.\d+ cannot share a port between threads \(reusePort needs Node 22\.12 or later\): one gateway serves, in the main thread$/);
  }
  const status = await statusOf(server.url);
  t.match(status.ingress, { ...server.ingress, connections: Array });
  t.equal(status.ingress.connections.length, server.ingress.threads, 'a connection count per gateway');
});

t.test('connections spread over the ingress threads, and one replica merges their calls into one batch', async (t) => {
  // A window longer than the 64 requests take to arrive holds the batch open until it is full, so calls from both threads
  // are in it however slow the machine (a 50 ms window let a loaded CI machine split them by thread).
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 64, batchWaitTimeoutMs: 2000 } }], { ingressThreads: 2 });
  const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => postAlone(`${server.url}/v2/models/mlp/infer`, request(i))));
  t.same([...new Set(answers.map((a) => a.status))], [200]);
  const want = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(randomRow(7, 784)), [1, 784]) });
  t.ok(maxAbsDiff(answers[7].body.outputs[0].data, want.logits.data as Float32Array) < 1e-5, 'each caller has its own rows');
  const status = await statusOf(server.url);
  const [replica] = status.deployments[0].replicas;
  t.equal(replica.rows, 64, 'one replica ran every row once');
  if (SHARED) {
    t.ok(status.ingress.connections.every((n: number) => n > 0), `every thread accepted connections (${status.ingress.connections})`);
    t.ok(replica.mergedBatches > 0, `${replica.mergedBatches} of ${replica.batches} batches held calls from both threads`);
  } else {
    t.same(status.ingress.connections.length, 1);
    t.equal(replica.mergedBatches, 0, 'one gateway: nothing to merge');
  }
});

t.test('the queue bound holds across threads under overload: 200 or 503, never more queued than the bound', async (t) => {
  const server = await startFerry(
    t,
    [{ name: 'mlp', model: modelPath('mlp.onnx'), maxOngoingRequests: 4, maxQueuedRequests: 10, batching: { maxBatchSize: 64, batchWaitTimeoutMs: 200 } }],
    { ingressThreads: 2 },
  );
  const pool = server.pools.get('mlp')!;
  let most = 0;
  let held = 0;
  const sampler = setInterval(() => {
    most = Math.max(most, pool.queueDepth);
    held = Math.max(held, pool.ongoing);
  }, 1);
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => postAlone(`${server.url}/v2/models/mlp/infer`, request(i))));
  clearInterval(sampler);
  const counts: Record<number, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  t.same(Object.keys(counts).sort(), ['200', '503'], `only 200 and 503 (${JSON.stringify(counts)})`);
  t.ok(counts[200] >= 14, 'the four held and the ten queued were served');
  t.ok(most <= 10, `never more than 10 queued over both threads (at most ${most})`);
  t.ok(held <= 4, `never more than 4 held by the replica (at most ${held})`);
  const refused = answers.find((a) => a.status === 503)!;
  t.equal(refused.body.code, 'FERRY_ERR_QUEUE_FULL');
  t.ok(Number(refused.headers['retry-after']) >= 1, 'with Retry-After');
});

t.test('a replica killed under load from both threads loses no request', async (t) => {
  const server = await startFerry(
    t,
    [{ name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 2, maxOngoingRequests: 128, batching: { maxBatchSize: 64, batchWaitTimeoutMs: 1000 } }],
    { ingressThreads: 2 },
  );
  const pool = server.pools.get('mlp')!;
  const pending = Array.from({ length: 80 }, (_, i) => postAlone(`${server.url}/v2/models/mlp/infer`, request(100 + i)));
  t.ok(await waitFor(() => pool.stats().replicas.some((r) => r.ongoing >= 20)), 'a replica holds calls');
  const victim = pool.stats().replicas.reduce((a, b) => (b.ongoing > a.ongoing ? b : a));
  pool.killReplica(victim.id);
  const answers = await Promise.all(pending);
  t.same(answers.filter((a) => a.status !== 200).map((a) => a.body), [], 'every request answered 200');
  let worst = 0;
  for (let i = 0; i < answers.length; i += 9) {
    const want = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(randomRow(100 + i, 784)), [1, 784]) });
    worst = Math.max(worst, maxAbsDiff(answers[i].body.outputs[0].data, want.logits.data as Float32Array));
  }
  t.ok(worst < 1e-5, `the retried calls have the right answers (max diff ${worst})`);
  t.ok(pool.stats().retried >= 20, `the dead replica's calls were retried (${pool.stats().retried})`);
});

t.test('shutdown drains every ingress: calls held when it begins are answered, then the port closes', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 64, batchWaitTimeoutMs: 400 } }], {
    ingressThreads: 2,
  });
  const pool = server.pools.get('mlp')!;
  const pending = Array.from({ length: 24 }, (_, i) => postAlone(`${server.url}/v2/models/mlp/infer`, request(200 + i)));
  t.ok(await waitFor(() => pool.ongoing === 24), 'every call is held in the window');
  const connections = (await statusOf(server.url)).ingress.connections as number[];
  if (SHARED) t.ok(connections.every((n) => n > 0), `both threads hold some (${connections})`);
  const closed = server.close(5000);
  const answers = await Promise.all(pending);
  await closed;
  t.same([...new Set(answers.map((a) => a.status))], [200], 'each answered, none cut off');
  await t.rejects(fetch(`${server.url}/v2/health/live`), 'nothing listens any more');
});

t.test('a second Ferry on a port in use is refused as a plain listen would be, not let in beside the first', async (t) => {
  const first = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { ingressThreads: 2 });
  const port = Number(new URL(first.url).port);
  const config = validateConfig({ http: { port, ingressThreads: 2 }, node: { cpus: 4 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] }, modelPath('x.ts'));
  const err = await FerryServer.start(config).then(
    (second) => (void second.close(0), null),
    (e: NodeJS.ErrnoException) => e,
  );
  t.equal(err?.code, 'EADDRINUSE', err?.message ?? 'the second Ferry started');
  t.equal(err?.syscall, 'listen', 'with the code and syscall the CLI prints');
  const status = await statusOf(first.url);
  t.equal(status.deployments[0].readiness.ready, true, 'the first serves on, alone');
});
