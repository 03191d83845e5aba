import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import t from 'tap';
import { FerryServer, validateConfig, type DeploymentConfig, type TensorMap } from '../index.js';
import { renderStatus } from '../cli/status-command.js';
import { modelPath } from '../models/index.js';
import { captureLog, directRun, maxAbsDiff, postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/handlers/${name}.ts`, import.meta.url));
const row = randomRow(7, 784).map(Math.abs);
const mlpRequest = (data: number[] = row) => ({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data }] });

async function expectedLogits(scale: number): Promise<Float32Array> {
  const out = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(row, (v) => v * scale), [1, 784]) });
  return out.logits.data as Float32Array;
}

for (const replicaHost of ['thread', 'process'] as const) {
  t.test(`${replicaHost} host: a handler runs its code around its model, with its userConfig and state, and takes a new userConfig live`, async (t) => {
    const server = await startFerry(t, [{ name: 'scaled', model: './mlp.onnx', handler: fixture('scaled-mlp'), userConfig: { scale: 2 }, replicaHost }]);
    const url = `${server.url}/v2/models/scaled/infer`;
    const first = await postJson(url, mlpRequest());
    t.equal(first.status, 200);
    t.ok(maxAbsDiff(first.body.outputs[0].data, await expectedLogits(2)) < 1e-5, 'the model ran on the input the handler scaled by userConfig.scale');
    const meta = await (await fetch(`${server.url}/v2/models/scaled`)).json();
    t.same(meta.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }], "without static metadata it serves its model's interface");

    const handle = server.handle('scaled');
    const viaHandle = await handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: Float32Array.from(row) } });
    t.same([...(viaHandle.calls.data as Int32Array)], [2], 'the replica kept its state: this is its second call');
    const replicaBefore = (viaHandle.replica.data as string[])[0];

    await t.rejects(server.reconfigure('nowhere', {}), { code: 'FERRY_ERR_MODEL_NOT_FOUND' });
    await t.rejects(server.reconfigure('scaled', { scale: () => 3 }), { code: 'FERRY_ERR_BODY_INVALID', message: /userConfig\.scale is a function/ });
    await t.rejects(server.reconfigure('scaled', undefined), { code: 'FERRY_ERR_BODY_INVALID', message: /userConfig is undefined/ });
    const errors = await server.reconfigure('scaled', { scale: 3 });
    t.same(errors, [], 'every replica took the new userConfig');
    const after = await handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: Float32Array.from(row) } });
    t.ok(maxAbsDiff(after.logits.data as Float32Array, await expectedLogits(3)) < 1e-5, 'reconfigure changed the scale');
    t.equal((after.replica.data as string[])[0], replicaBefore, 'on the same replica');
    t.same([...(after.calls.data as Int32Array)], [3], 'which was not restarted: its state is intact');
  });

  t.test(`${replicaHost} host: a throw in user code answers 500 with Ferry's code and the message, and the replica serves on`, async (t) => {
    const server = await startFerry(t, [
      { name: 'scaled', model: './mlp.onnx', handler: fixture('scaled-mlp'), userConfig: { scale: 1 }, replicaHost },
      { name: 'bad', handler: fixture('bad-output'), replicaHost },
    ]);
    const failed = await postJson(`${server.url}/v2/models/scaled/infer`, mlpRequest([-1, ...row.slice(1)]));
    t.equal(failed.status, 500);
    t.equal(failed.body.code, 'FERRY_ERR_HANDLER_FAILED');
    t.match(failed.body.error, /negative input -1/);
    t.equal((await postJson(`${server.url}/v2/models/scaled/infer`, mlpRequest())).status, 200, 'the next call is served');
    t.equal(server.pools.get('scaled')!.stats().restarts, 0, 'by the same replica');

    const bad = (x: number) => postJson(`${server.url}/v2/models/bad/infer`, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [x] }] });
    const wrongCount = await bad(1);
    t.equal(wrongCount.status, 500);
    t.match(wrongCount.body, { code: 'FERRY_ERR_HANDLER_FAILED', error: /output 'x': dims \[5\] hold 5 elements but data has 2/ });
    const notATensor = await bad(2);
    t.match(notATensor.body, { code: 'FERRY_ERR_HANDLER_FAILED', error: /output 'x' must be \{ dtype, dims, data \}|output 'x'/ });
    t.match((await bad(4)).body, { code: 'FERRY_ERR_HANDLER_FAILED', error: /infer returned no output 'x' \(its interface declares 'x'\)/ });
    t.match((await bad(5)).body, { code: 'FERRY_ERR_HANDLER_FAILED', error: /infer returned output 'x' as int32, but its interface declares float32/ });
    t.match((await bad(6)).body, { code: 'FERRY_ERR_HANDLER_FAILED', error: /infer returned output 'x' with dims \[1,1\], which do not fit its interface's \[-1\]/ });
    t.same((await bad(3)).body.outputs[0].data, [3], 'and good outputs still come back');
  });
}

t.test('inferBatch receives the calls gathered for one batch, at most maxBatchSize of them', async (t) => {
  const server = await startFerry(t, [{ name: 'sizes', handler: fixture('batch-sizes'), batching: { maxBatchSize: 4, batchWaitTimeoutMs: 100 } }]);
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => postJson(`${server.url}/v2/models/sizes/infer`, { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [i, i + 0.5] }] })),
  );
  answers.forEach((a, i) => {
    t.equal(a.status, 200);
    t.same(a.body.outputs.find((o: { name: string }) => o.name === 'y').data, [2 * i, 2 * i + 1], `call ${i} got its own output`);
  });
  const sizes = answers.map((a) => a.body.outputs.find((o: { name: string }) => o.name === 'batch_size').data[0]);
  t.ok(sizes.every((s) => s >= 1 && s <= 4), `batches of at most 4 calls (${sizes})`);
  t.ok(sizes.some((s) => s > 1), 'calls that arrived together ran together');
  const stats = server.pools.get('sizes')!.stats();
  t.equal(stats.batching.enabled, true);
  t.match(stats.batching.reason, /inferBatch/);
});

t.test('a code-only deployment: static metadata is its OIP interface; without infer it serves none, and says so', async (t) => {
  const server = await startFerry(t, [
    { name: 'double', handler: fixture('double') },
    { name: 'nothing', handler: fixture('no-inference') },
  ]);
  const meta = await (await fetch(`${server.url}/v2/models/double`)).json();
  t.same(meta.outputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }]);
  const wrong = await postJson(`${server.url}/v2/models/double/infer`, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
  t.equal(wrong.status, 400, 'the gateway checks requests against the declared interface');
  const none = await postJson(`${server.url}/v2/models/nothing/infer`, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
  t.equal(none.status, 404);
  t.equal(none.body.code, 'FERRY_ERR_NOT_SERVED');
  await t.rejects(server.handle('nothing').infer({}), { code: 'FERRY_ERR_NOT_SERVED' });
});

t.test('a handler whose constructor throws: the first start fails with its message; a later replica is retried with back-off and the error is in status', async (t) => {
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 4 }, deployments: [{ name: 'broken', handler: fixture('broken-start'), userConfig: { failFrom: 1 } }] },
    modelPath('ferry.config.ts'),
  );
  await t.rejects(FerryServer.start(config), /replica broken#1 refuses to start/);

  const server = await startFerry(t, [
    { name: 'broken', handler: fixture('broken-start'), userConfig: { failFrom: 2 }, autoscaling: { minReplicas: 1, maxReplicas: 2, initialReplicas: 1 } },
  ]);
  server.pools.get('broken')!.scaleTo(2);
  const failures = () => server.status().deployments[0].startFailures;
  t.ok(await waitFor(() => /broken#2 refuses to start/.test(failures().lastError)), 'the error is in status');
  t.ok(await waitFor(() => failures().inARow >= 2 && /broken#3 refuses/.test(failures().lastError)), 'and the start is retried, after a back-off');
  t.match(renderStatus(server.status(), server.url), /failed starts in a row, retried with back-off: .*refuses to start/, 'ferry status shows it');
  const served = await postJson(`${server.url}/v2/models/broken/infer`, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [5] }] });
  t.equal(served.status, 200, 'the replica that started serves meanwhile');
});

t.test('a replica whose checkHealth fails is replaced, and only that one', async (t) => {
  const server = await startFerry(t, [
    // A check that throws is the point here; the timeout is long so a loaded machine's slow answer is not a second failure.
    { name: 'scaled', model: './mlp.onnx', handler: fixture('scaled-mlp'), userConfig: { scale: 1 }, healthCheckPeriodMs: 50, healthCheckTimeoutMs: 20000 },
  ]);
  const pool = server.pools.get('scaled')!;
  const before = pool.stats().replicas[0].id;
  t.equal((await postJson(`${server.url}/v2/models/scaled/infer`, mlpRequest([42, ...row.slice(1)]))).status, 200, 'the poisoned call is answered');
  t.ok(await waitFor(() => pool.stats().replicas.some((r) => r.state === 'ready' && r.id !== before)), 'a new replica took its place');
  t.equal(pool.stats().replicas.filter((r) => r.state === 'ready').length, 1);
  t.equal((await postJson(`${server.url}/v2/models/scaled/infer`, mlpRequest())).status, 200, 'and serves');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_replica_restarts_total\{deployment="scaled",reason="unhealthy"\} 1/);
});

t.test('a userConfig given while a replica starts reaches it before its first call', async (t) => {
  const server = await startFerry(t, [
    { name: 'scaled', model: './mlp.onnx', handler: fixture('scaled-mlp'), userConfig: { scale: 1 }, autoscaling: { minReplicas: 1, maxReplicas: 2, initialReplicas: 1 } },
  ]);
  const pool = server.pools.get('scaled')!;
  pool.scaleTo(2);
  t.ok(pool.stats().replicas.some((r) => r.state === 'starting'), 'a second replica is starting');
  t.same(await pool.reconfigure({ scale: 5 }), []);
  t.ok(await waitFor(() => pool.stats().replicas.filter((r) => r.state === 'ready').length === 2), 'both are ready');
  const expected = await expectedLogits(5);
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const out = await server.handle('scaled').infer({ input: { dtype: 'float32', dims: [1, 784], data: Float32Array.from(row) } });
    seen.add((out.replica.data as string[])[0]);
    t.ok(maxAbsDiff(out.logits.data as Float32Array, expected) < 1e-5, `call ${i} ran with scale 5 on ${(out.replica.data as string[])[0]}`);
  }
  t.equal(seen.size, 2, 'on both replicas');
});

t.test('a replica whose checkHealth does not answer within healthCheckTimeoutMs is replaced', async (t) => {
  const log = captureLog();
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 4 }, deployments: [{ name: 'scaled', model: './mlp.onnx', handler: fixture('scaled-mlp'), userConfig: { scale: 1 }, healthCheckPeriodMs: 50, healthCheckTimeoutMs: 200 }] },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config, { logger: { level: 'warn', stream: log.stream } });
  t.teardown(() => server.close(2000));
  const pool = server.pools.get('scaled')!;
  const before = pool.stats().replicas[0].id;
  t.equal((await postJson(`${server.url}/v2/models/scaled/infer`, mlpRequest([43, ...row.slice(1)]))).status, 200);
  t.ok(await waitFor(() => pool.stats().replicas.some((r) => r.state === 'ready' && r.id !== before)), 'a new replica took its place');
  t.ok(await waitFor(() => log.lines.some((l) => /failed its health check and was killed: checkHealth did not answer within 200 ms/.test(l.msg))), 'the log says why');
});

const pipelineDeployments = (replicaHost: 'thread' | 'process'): DeploymentConfig[] => [
  { name: 'double', handler: fixture('double'), replicaHost },
  { name: 'mlp', model: './mlp.onnx' },
  { name: 'pipeline', handler: fixture('pipeline'), userConfig: { stages: ['double', 'mlp'] }, replicaHost },
];

for (const replicaHost of ['thread', 'process'] as const) {
  t.test(`${replicaHost} host: a pipeline through handles answers what its stages called by hand answer`, async (t) => {
    const server = await startFerry(t, pipelineDeployments(replicaHost));
    const through = await postJson(`${server.url}/v2/models/pipeline/infer`, mlpRequest());
    t.equal(through.status, 200);
    const doubled = await postJson(`${server.url}/v2/models/double/infer`, mlpRequest());
    const byHand = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ ...doubled.body.outputs[0], name: 'input' }] });
    t.same(through.body.outputs[0].data, byHand.body.outputs[0].data, 'the same logits, bit for bit');
    const embedded = await server.handle('pipeline').infer({ input: { dtype: 'float32', dims: [1, 784], data: Float32Array.from(row) } });
    t.same([...(embedded.logits.data as Float32Array)], byHand.body.outputs[0].data, 'and so does an embedder\'s handle');
  });
}

t.test('handle calls batched together downstream each get their own answer', async (t) => {
  // The calls of one batch are answered with views of one output buffer: each answer must reach its caller intact.
  const server = await startFerry(t, [
    { name: 'mlp', model: './mlp.onnx', batching: { maxBatchSize: 32, batchWaitTimeoutMs: 20 } },
    { name: 'pipeline', handler: fixture('pipeline'), userConfig: { stages: ['mlp'] } },
  ]);
  const rows = Array.from({ length: 24 }, (_, i) => randomRow(100 + i, 784).map(Math.abs));
  const answers = await Promise.all(rows.map((r) => postJson(`${server.url}/v2/models/pipeline/infer`, mlpRequest(r))));
  t.same(answers.map((a) => a.status), rows.map(() => 200), 'every request answered');
  const direct = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 784]) });
  const logits = direct.logits.data as Float32Array;
  t.ok(answers.every((a, i) => maxAbsDiff(a.body.outputs[0].data, logits.subarray(i * 10, i * 10 + 10)) < 1e-5), 'each with its own logits');
  const mlp = server.pools.get('mlp')!.stats().replicas[0];
  t.ok(mlp.batches < rows.length, `the handle calls were batched downstream (${rows.length} calls in ${mlp.batches} batches)`);
  t.equal(server.pools.get('pipeline')!.stats().ongoing, 0, 'and none is left holding a place');
});

t.test('a handle call is checked as HTTP checks a request: data that does not fill its dims is refused alone, never shifting the calls batched with it; a wrong name, shape or datatype is the same 400', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: './mlp.onnx', batching: { maxBatchSize: 32, batchWaitTimeoutMs: 20 } }]);
  const handle = server.handle('mlp');
  const good = Float32Array.from(row);
  const [expected] = [await expectedLogits(1)];
  const calls = await Promise.allSettled([
    ...Array.from({ length: 6 }, () => handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: good } })),
    handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: new Float32Array(100) } }),
    handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: new Float32Array(5000) } }),
    handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: new Float64Array(784) as unknown as Float32Array } }),
  ]);
  for (const c of calls.slice(0, 6)) t.ok(c.status === 'fulfilled' && maxAbsDiff(c.value.logits.data as Float32Array, expected) < 1e-5, 'a good call gets its own logits');
  for (const c of calls.slice(6)) t.match(c, { status: 'rejected', reason: { code: 'FERRY_ERR_INPUT_DATA', statusCode: 400 } }, 'the bad one is a 400');

  // The model's interface is checked as HTTP checks it, with the same codes, before the call is queued.
  const rowsBefore = server.pools.get('mlp')!.stats().replicas[0].rows;
  const wrong = await Promise.allSettled([
    handle.infer({ pixels: { dtype: 'float32', dims: [1, 784], data: good } }),
    handle.infer({ input: { dtype: 'float32', dims: [784], data: good } }),
    handle.infer({ input: { dtype: 'float32', dims: [1, 783], data: good.subarray(0, 783) } }),
    handle.infer({ input: { dtype: 'int32', dims: [1, 784], data: new Int32Array(784) } }),
    handle.infer({}),
  ]);
  const codes = wrong.map((c) => (c.status === 'rejected' ? [(c.reason as { code: string }).code, (c.reason as { statusCode: number }).statusCode] : ['answered', 200]));
  t.same(codes, [
    ['FERRY_ERR_INPUT_NAME', 400],
    ['FERRY_ERR_INPUT_SHAPE', 400],
    ['FERRY_ERR_INPUT_SHAPE', 400],
    ['FERRY_ERR_INPUT_DATATYPE', 400],
    ['FERRY_ERR_INPUT_NAME', 400],
  ]);
  t.match((wrong[0] as PromiseRejectedResult).reason.message, /model 'mlp' has no input 'pixels' \(its inputs: input\)/, 'naming what the model takes');
  t.equal(server.pools.get('mlp')!.stats().replicas[0].rows, rowsBefore, 'and the replica never saw them');
  await t.rejects(server.reconfigure('mlp', { scale: 2 }), { code: 'FERRY_ERR_NOT_SERVED', message: /runs no handler/ }, 'a model alone has no userConfig to reconfigure');
  await t.rejects(handle.call('run', {}), { code: 'FERRY_ERR_NOT_SERVED', message: /runs no handler: it has no method 'run'/ }, 'nor methods to call');
  await t.rejects(handle.infer({ input: { dtype: 'float32', dims: [1, 784], data: good } }, { sessionId: '' }), { code: 'FERRY_ERR_BAD_REQUEST', message: /sessionId must be 1 to 256 characters/ });
});

t.test('a call whose code never answers is given up at its timeout and frees its place; the replica serves on', async (t) => {
  const server = await startFerry(t, [
    {
      name: 'slow',
      handler: fixture('slow'),
      userConfig: { ms: 1 },
      maxOngoingRequests: 1,
      requestTimeoutMs: 300,
      routePrefix: '/slow',
      routes: [
        { path: '/hang', call: 'hang' },
        { path: '/ping', call: 'ping' },
      ],
    },
  ]);
  for (let i = 0; i < 3; i++) t.equal((await fetch(`${server.url}/slow/hang`, { method: 'POST' })).status, 408, 'a hung call is a 408');
  const ping = await fetch(`${server.url}/slow/ping`, { method: 'POST' });
  t.equal(ping.status, 200, "the hung calls hold no place: the replica's one place is free");
  t.equal(await ping.json(), 'pong');
  t.equal(server.pools.get('slow')!.stats().ongoing, 0);

  const batched = await startFerry(t, [{ name: 'sizes', handler: fixture('batch-sizes'), maxOngoingRequests: 2, requestTimeoutMs: 300, batching: { maxBatchSize: 2 } }]);
  const x = (v: number) => postJson(`${batched.url}/v2/models/sizes/infer`, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [v] }] });
  t.equal((await x(-1)).status, 408, 'an inferBatch that never settles is a 408');
  t.same((await x(3)).body.outputs[1].data, [6], 'and the batches after it run');
});

t.test('handles: calls fan out and are gathered; an unknown deployment is a clear error', async (t) => {
  const server = await startFerry(t, [
    { name: 'slow', handler: fixture('slow'), userConfig: { ms: 100 }, numReplicas: 2 },
    { name: 'fan', handler: fixture('fan-out'), userConfig: { target: 'slow' } },
    { name: 'lost', handler: fixture('fan-out'), userConfig: { target: 'nowhere' } },
  ]);
  const began = performance.now();
  const fanned = await postJson(`${server.url}/v2/models/fan/infer`, { inputs: [{ name: 'x', shape: [8], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] });
  const took = performance.now() - began;
  t.equal(fanned.status, 200);
  t.equal(fanned.body.outputs[0].data.length, 8, 'eight calls gathered');
  t.ok(took < 700, `eight 100 ms calls ran side by side, not one after another (${Math.round(took)} ms)`);
  const lost = await postJson(`${server.url}/v2/models/lost/infer`, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
  t.equal(lost.status, 404, "a handle to a deployment that does not exist fails the call with that deployment's 404");
  t.equal(lost.body.code, 'FERRY_ERR_MODEL_NOT_FOUND');
});

t.test('handles carry backpressure (503 through the pipeline) and cancellation (a timed-out request cancels downstream calls not yet started)', async (t) => {
  const server = await startFerry(t, [
    { name: 'slow', handler: fixture('slow'), userConfig: { ms: 300 }, maxOngoingRequests: 1, maxQueuedRequests: 1 },
    { name: 'fan', handler: fixture('fan-out'), userConfig: { target: 'slow' }, requestTimeoutMs: 5000 },
  ]);
  const full = await postJson(`${server.url}/v2/models/fan/infer`, { inputs: [{ name: 'x', shape: [4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
  t.equal(full.status, 503, "the downstream queue's refusal reaches the client as a 503");
  t.equal(full.body.code, 'FERRY_ERR_QUEUE_FULL');
  t.ok(full.headers.get('retry-after'), 'with Retry-After');
  await new Promise((r) => setTimeout(r, 700)); // what was admitted downstream drains

  const timed = await startFerry(t, [
    { name: 'slow', handler: fixture('slow'), userConfig: { ms: 200 }, maxOngoingRequests: 1, maxQueuedRequests: 100 },
    { name: 'fan', handler: fixture('fan-out'), userConfig: { target: 'slow' }, requestTimeoutMs: 300 },
  ]);
  const late = await postJson(`${timed.url}/v2/models/fan/infer`, { inputs: [{ name: 'x', shape: [10], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }] });
  t.equal(late.status, 408, 'the request timed out');
  await new Promise((r) => setTimeout(r, 800));
  const next = await timed.handle('slow').infer({ x: { dtype: 'float32', dims: [1], data: Float32Array.of(0) } });
  const started = (next.started.data as Int32Array)[0];
  t.ok(started <= 4, `the calls still queued were cancelled with it: the replica started ${started - 1} of 10, then this one`);
});

t.test('the config: a handler, a model or both; models and userConfig need a handler; userConfig must be plain JSON', async (t) => {
  const source = modelPath('ferry.config.ts');
  const check = (d: Record<string, unknown>) => () => validateConfig({ deployments: [{ name: 'd', ...d }] }, source);
  t.throws(check({}), /needs a model \(an ONNX file\), a multiplex folder of models, or a handler/);
  t.throws(check({ model: './mlp.onnx', userConfig: { a: 1 } }), /userConfig is read by a handler/);
  t.throws(check({ model: './mlp.onnx', models: { a: './mlp.onnx' } }), /models is read by a handler/);
  t.throws(check({ handler: './nowhere.ts' }), /handler: file not found/);
  t.throws(check({ handler: fixture('double'), models: { a: './missing.onnx' } }), /models\.a: file not found/);
  t.throws(check({ handler: fixture('double'), userConfig: { when: new Date(0) } }), /userConfig must be plain JSON.*userConfig\.when is a Date/);
  const ok = validateConfig({ deployments: [{ name: 'd', handler: fixture('double'), models: { a: './mlp.onnx' }, userConfig: { n: [1, 'x', null] } }] }, source);
  t.equal(ok.deployments[0].model, null);
  t.equal(ok.deployments[0].models.a, modelPath('mlp.onnx'));
  t.equal(ok.deployments[0].healthCheckPeriodMs, 10_000, "Ray Serve's default period");
});

export type { TensorMap };
