import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import t from 'tap';
import { redisProblem } from '../jobs/bullmq-jobs.js';
import { MemoryJobStore } from '../jobs/memory-jobs.js';
import { modelPath } from '../models/index.js';
import { directRun, maxAbsDiff, randomRow, startFerry, waitFor } from './helpers/ferry.js';

/*
 * Asynchronous inference on one machine: requests with Prefer:
 * respond-async against a real Ferry, jobs kept in memory.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const handler = (name: string) => fileURLToPath(new URL(`./fixtures/handlers/${name}.ts`, import.meta.url));
const row = randomRow(31, 784);
const mlpBody = JSON.stringify({ id: 'job-1', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: row }] });

async function submit(url: string, path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'respond-async', ...headers }, body: body as BodyInit });
  return { status: res.status, location: res.headers.get('location'), applied: res.headers.get('preference-applied'), body: (await res.json()) as any };
}

const job = async (url: string, location: string) => {
  const res = await fetch(`${url}${location}`);
  return { status: res.status, body: (await res.json()) as any };
};

t.test('a job: 202 with its location, then its state, and once done the OIP response a synchronous request gets', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const accepted = await submit(server.url, '/v2/models/mlp/infer', mlpBody);
  t.equal(accepted.status, 202);
  t.equal(accepted.applied, 'respond-async');
  t.match(accepted.location, /^\/v2\/jobs\/[0-9a-f-]{36}$/);
  t.same(accepted.body, { id: accepted.location!.split('/').pop(), state: 'queued', location: accepted.location });
  let view: any;
  t.ok(await waitFor(() => view?.state === 'succeeded', 10_000, async () => void (view = (await job(server.url, accepted.location!)).body)), 'it finishes');
  const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row), [1, 784]) })).logits.data as Float32Array;
  t.match(view, { deployment: 'mlp', status_code: 200, result_url: `${accepted.location}/result`, result: { model_name: 'mlp', id: 'job-1' } });
  t.ok(maxAbsDiff(view.result.outputs[0].data, want) < 1e-5, "the model's answer");
  t.ok(view.createdAt <= view.startedAt && view.startedAt <= view.finishedAt, 'its times in order');
  const result = await fetch(`${server.url}${accepted.location}/result`);
  t.equal(result.status, 200);
  t.match(await result.json(), { model_name: 'mlp', id: 'job-1' });
  const sync = await (await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: mlpBody })).json();
  t.same(view.result, sync, 'the same answer as a synchronous request');
  const cancelDone = await fetch(`${server.url}${accepted.location}`, { method: 'DELETE' });
  t.match({ status: cancelDone.status, body: await cancelDone.json() }, { status: 409, body: { code: 'FERRY_ERR_JOB_CONFLICT', error: /is succeeded: only a queued job can be cancelled/ } });
  t.match(await job(server.url, '/v2/jobs/0b6e7e26-0000-0000-0000-000000000000'), { status: 404, body: { code: 'FERRY_ERR_JOB_NOT_FOUND' } });
  t.match(await job(server.url, '/v2/jobs/not%20an%20id'), { status: 400 });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_async_jobs_total\{deployment="mlp",outcome="succeeded"\} 1/);
  t.match(metrics, /ferry_async_jobs\{state="queued"\} 0/);
});

t.test('a bad request is refused when it is sent, with the 400 a synchronous one gets; nothing is queued', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const bad = await submit(server.url, '/v2/models/mlp/infer', JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }));
  t.equal(bad.status, 400);
  t.match(bad.body.code, /^FERRY_ERR_INPUT_/);
  t.equal((await submit(server.url, '/v2/models/nope/infer', mlpBody)).status, 404);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.notMatch(metrics, /ferry_async_jobs_total\{/, 'no job finished, none ran');
});

t.test('binary tensors: a binary-extension request runs as sent, its binary response kept byte for byte', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const data = Buffer.from(Float32Array.from(row).buffer);
  const json = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], parameters: { binary_data_size: data.length } }],
      outputs: [{ name: 'logits', parameters: { binary_data: true } }],
    }),
  );
  const accepted = await submit(server.url, '/v2/models/mlp/infer', Buffer.concat([json, data]), {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': String(json.length),
  });
  t.equal(accepted.status, 202);
  let view: any;
  t.ok(await waitFor(() => view?.state === 'succeeded', 10_000, async () => void (view = (await job(server.url, accepted.location!)).body)));
  t.notOk('result' in view, 'a binary response is not inlined in the state');
  const res = await fetch(`${server.url}${view.result_url}`);
  const length = Number(res.headers.get('inference-header-content-length'));
  const bytes = Buffer.from(await res.arrayBuffer());
  const logits = new Float32Array(bytes.subarray(length).buffer.slice(bytes.byteOffset + length, bytes.byteOffset + bytes.length));
  const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row), [1, 784]) })).logits.data as Float32Array;
  t.ok(maxAbsDiff(logits, want) < 1e-5, 'the binary outputs');
});

t.test('a queued job can be cancelled; a running one cannot; queued jobs run in turn, `concurrency` at a time', async (t) => {
  const server = await startFerry(t, [{ name: 'slow', handler: handler('slow'), userConfig: { ms: 400 } }], {}, { asyncInference: { concurrency: 1 } });
  const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] });
  const first = await submit(server.url, '/v2/models/slow/infer', body);
  const second = await submit(server.url, '/v2/models/slow/infer', body);
  await sleep(100);
  const running = await fetch(`${server.url}${first.location}`, { method: 'DELETE' });
  t.equal(running.status, 409, 'the first runs');
  const cancelled = await fetch(`${server.url}${second.location}`, { method: 'DELETE' });
  t.match({ status: cancelled.status, body: await cancelled.json() }, { status: 200, body: { state: 'cancelled' } });
  t.match((await job(server.url, second.location!)).body, { state: 'cancelled' });
  const result = await fetch(`${server.url}${second.location}/result`);
  t.equal(result.status, 409, 'a cancelled job has no result');
  t.match(await result.json(), { code: 'FERRY_ERR_JOB_CONFLICT', error: /is cancelled: it was cancelled, so it has no result/ }, 'and never will');
  let view: any;
  t.ok(await waitFor(() => view?.state === 'succeeded', 10_000, async () => void (view = (await job(server.url, first.location!)).body)));
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_async_jobs_total\{deployment="slow",outcome="cancelled"\} 1/);
});

t.test('results are kept resultTtlMs, then the job is gone; past maxQueuedJobs a job is refused 503', async (t) => {
  const store = new MemoryJobStore({ resultTtlMs: 1000, maxQueuedJobs: 2 });
  t.teardown(() => store.close());
  const request = { deployment: 'd', json: '{}', binary: null };
  const a = await store.submit(request);
  await store.submit(request);
  await t.rejects(store.submit(request), { code: 'FERRY_ERR_QUEUE_FULL', statusCode: 503, message: /^the asynchronous job queue is full: \d+ jobs waiting \(asyncInference.maxQueuedJobs is \d+\); try again later$/ });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  store.work(async () => {
    await gate;
    return { status: 200, contentType: 'application/json', body: Buffer.from('{}').toString('base64') };
  }, 1);
  t.same(await store.counts(), { queued: 1, running: 1 });
  release();
  let state: string | undefined;
  t.ok(await waitFor(() => state === 'succeeded', 5000, async () => void (state = (await store.get(a))?.state)), 'it ran');
  const doneAt = (await store.get(a))!.finishedAt!;
  let gone = false;
  t.ok(await waitFor(() => gone, 10_000, async () => void (gone = (await store.get(a)) === null)), 'gone after its TTL');
  t.ok(Date.now() - doneAt >= 1000, 'not before');
  t.equal(await store.cancel(a), null);
  const failing = new MemoryJobStore({ resultTtlMs: 60_000, maxQueuedJobs: 5 });
  t.teardown(() => failing.close());
  failing.work(async () => {
    throw new Error('the gateway did not answer');
  }, 1);
  const f = await failing.submit(request);
  t.ok(await waitFor(() => state === 'failed', 5000, async () => void (state = (await failing.get(f))?.state)));
  const view = await failing.get(f);
  t.match(view, { state: 'failed', response: { status: 500 } });
  t.match(JSON.parse(Buffer.from(view!.response!.body, 'base64').toString()), { error: 'the gateway did not answer' });
});

t.test("a Redis failure in a 503's message is said in Ferry's terms", async (t) => {
  t.equal(redisProblem(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:6379)');
  t.equal(redisProblem(new Error("Stream isn't writeable and enableOfflineQueue options is false")), 'not connected (it reconnects by itself)');
  t.equal(redisProblem(new Error('Connection is closed.')), 'not connected (it reconnects by itself)');
  t.equal(redisProblem(new Error('OOM command not allowed when used memory > maxmemory')), 'OOM command not allowed when used memory > maxmemory', "Redis's own refusal is kept as it said it");
});
