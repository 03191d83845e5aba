import { fileURLToPath } from 'node:url';
import t from 'tap';
import { HandlerActor, HandlerFailure } from '../replicas/handler-actor.js';
import { HandleCallError, MAX_HANDLE_CALLS_WAITING } from '../replicas/handle-client.js';
import { HandlerMailbox } from '../replicas/handler-mailbox.js';
import { checkOutputs, ownInputs } from '../replicas/handler-tensors.js';
import type { FromActor, FromReplica, ReplicaSpec } from '../replicas/protocol.js';
import { NO_GATE } from '../replicas/replica-actor.js';
import { modelPath } from '../models/index.js';

/*
 * A handler replica's parts in this process, with real modules and real
 * onnxruntime sessions: what the replica threads and processes run.
 */

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/handlers/${name}.ts`, import.meta.url));

function spec(over: Partial<ReplicaSpec>): ReplicaSpec {
  return {
    deployment: 'd',
    replicaId: 'd#1',
    modelPath: null,
    multiplex: null,
    models: {},
    handlerPath: fixture('double'),
    handlerExport: 'default',
    userConfig: undefined,
    routeMethods: [],
    device: 'cpu',
    intraOpThreads: 1,
    batching: { maxBatchSize: 4, batchWaitTimeoutMs: 0, targetLatencyMs: null, mode: 'auto' },
    counters: null,
    ...over,
  };
}

function actor() {
  const sent: FromReplica[] = [];
  const a = new HandlerActor((msg) => sent.push(msg), NO_GATE);
  return { a, sent };
}

const row = () => ({ input: { dtype: 'float32' as const, dims: [1, 784], data: new Float32Array(784).fill(0.25) } });

t.test('init reports ready with the class interface, or init-failed saying why', async (t) => {
  const ok = actor();
  t.same(await ok.a.init(spec({ modelPath: modelPath('mlp.onnx'), handlerPath: fixture('scaled-mlp'), userConfig: { scale: 1 }, models: { again: modelPath('mlp.onnx') } })), { infer: true, batched: false });
  const ready = ok.sent[0] as Extract<FromReplica, { type: 'ready' }>;
  t.equal(ready.type, 'ready');
  t.equal(ready.metadata.inputs[0].name, 'input', "the model's interface");

  const failures: [string, Partial<ReplicaSpec>, RegExp][] = [
    ['a module that does not load', { handlerPath: fixture('nowhere') }, /handler .*nowhere\.ts could not be loaded/],
    ['an export that is no class', { handlerExport: 'nothing' }, /must export a class as its export 'nothing' \(got undefined\)/],
    ['a constructor that throws', { handlerPath: fixture('broken-start'), userConfig: { failFrom: 1 } }, /failed to start: replica d#1 refuses to start/],
    ['infer with neither metadata nor one model', { handlerPath: fixture('no-metadata') }, /defines infer but no static metadata, and the deployment has no single model/],
    ['init that throws', { handlerPath: fixture('scaled-mlp'), userConfig: { scale: 1 } }, /handler ScaledMlp failed to start: needs a model/],
    ['a default export that is no class', { handlerPath: fixture('not-a-class') }, /must export a class as its default export \(got number\)/],
    ['a model that does not load', { modelPath: modelPath('missing.onnx') }, /model \(.*missing\.onnx\)/],
    ['a named model that does not load', { models: { m: modelPath('missing.onnx') } }, /models\.m \(.*missing\.onnx\)/],
    ['a device that is not here', { modelPath: modelPath('mlp.onnx'), device: 'cuda' }, /CUDA|cuda/],
    ['a route calling a method the class lacks', { handlerPath: fixture('double'), routeMethods: ['missing', 'toString'] }, /handler Double has no method 'missing', 'toString', which the deployment's routes call/],
    ['static metadata without an output', { handlerPath: fixture('bad-metadata') }, /static metadata must list inputs and at least one output/],
    ['a dtype that is none', { handlerPath: fixture('bad-specs'), handlerExport: 'UnknownDtype' }, /static metadata\.inputs\[0\]\.dtype "float99" is not one of float32, .*string/],
    ['a shape that is not an array', { handlerPath: fixture('bad-specs'), handlerExport: 'ShapeNotArray' }, /static metadata\.inputs\[0\]\.shape must be an array of whole numbers, -1 for a dynamic dimension \(got "x"\)/],
    ['dimensions that are none', { handlerPath: fixture('bad-specs'), handlerExport: 'OddDims' }, /inputs\[0\]\.shape must be an array of whole numbers.*\[-1,-7,1\.5\]/],
    ['one name twice', { handlerPath: fixture('bad-specs'), handlerExport: 'TwoNamedAlike' }, /outputs\[1\]\.name 'y' is declared twice/],
    ['a spec that is no object', { handlerPath: fixture('bad-specs'), handlerExport: 'NotAnObject' }, /inputs\[0\] must be \{ name, dtype, shape \}/],
    ['a spec without a name', { handlerPath: fixture('bad-specs'), handlerExport: 'Nameless' }, /inputs\[0\]\.name must be a non-empty string/],
  ];
  for (const [what, over, why] of failures) {
    const f = actor();
    t.equal(await f.a.init(spec(over)), null, what);
    const msg = f.sent[0] as Extract<FromReplica, { type: 'init-failed' }>;
    t.equal(msg.type, 'init-failed', what);
    t.match(msg.message, why, what);
  }
  const none = actor();
  t.same(await none.a.init(spec({ handlerPath: fixture('no-inference') })), { infer: false, batched: false }, 'a class without infer serves none');
  t.same((none.sent[0] as Extract<FromReplica, { type: 'ready' }>).metadata, { inputs: [], outputs: [] });
  const plain = actor();
  t.same(await plain.a.init(spec({ handlerPath: fixture('plain').replace(/\.ts$/, '.mjs') })), { infer: true, batched: false }, 'a JavaScript module needs no loader');
  t.equal(await plain.a.checkHealth(), null, 'a class without checkHealth is healthy');
  t.equal(await plain.a.reconfigure({ any: 1 }), null, 'and takes any userConfig without reconfigure');
  await t.rejects(plain.a.route({ method: 'throwsString', body: null, params: {}, query: {}, response: 'json' }, new AbortController().signal), { message: 'not an Error', code: 'FERRY_ERR_HANDLER_FAILED' }, 'a thrown non-Error is reported as text');
  await t.rejects(plain.a.route({ method: 'throwsNull', body: null, params: {}, query: {}, response: 'json' }, new AbortController().signal), { message: 'null', code: 'FERRY_ERR_HANDLER_FAILED' }, 'even null');
  const named = actor();
  t.same(await named.a.init(spec({ handlerPath: fixture('compute-parts'), handlerExport: 'Half' })), { infer: true, batched: true }, 'a named export');
});

t.test('calls, batches, routes, reconfigure and health checks: what user code returns or throws', async (t) => {
  const { a } = actor();
  await a.init(spec({ modelPath: modelPath('mlp.onnx'), handlerPath: fixture('scaled-mlp'), userConfig: { scale: 1 } }));
  const signal = new AbortController().signal;
  const out = await a.call(row(), signal);
  t.same(Object.keys(out).sort(), ['calls', 'logits', 'replica']);
  await t.rejects(a.call({ input: { dtype: 'float32', dims: [1, 784], data: new Float32Array(784).fill(-1) } }, signal), { code: 'FERRY_ERR_HANDLER_FAILED', statusCode: 500 });
  t.equal(await a.reconfigure({ scale: 2, healthy: false }), null);
  t.match(await a.checkHealth(), /told to be unhealthy/);
  t.equal(await a.reconfigure({ scale: 2 }), null);
  t.equal(await a.checkHealth(), null);
  await t.rejects(a.route({ method: 'nope', body: null, params: {}, query: {}, response: 'json' }, signal), { message: /no method 'nope'/, code: 'FERRY_ERR_NOT_SERVED', statusCode: 404 });
  t.equal(await a.route({ method: 'nothing', body: null, params: {}, query: {}, response: 'json' }, signal), 'null', 'a route answering nothing answers null');
  for (const lifecycle of ['init', 'reconfigure', 'checkHealth', 'infer', 'inferBatch']) {
    await t.rejects(a.route({ method: lifecycle, body: { scale: 9 }, params: {}, query: {}, response: 'json' }, signal), { code: 'FERRY_ERR_NOT_SERVED' }, `'${lifecycle}' is Ferry's to call, not a route's`);
  }

  const parts = actor();
  await parts.a.init(spec({ handlerPath: fixture('compute-parts'), handlerExport: 'Half' }));
  t.equal(await parts.a.route({ method: 'echo', body: { n: 1 }, params: { id: '7' }, query: { q: 'x' }, response: 'json' }, signal), '{"body":{"n":1},"params":{"id":"7"},"query":{"q":"x"},"session":null}');
  const bytes = (body: unknown) => parts.a.route({ method: 'bytes', body, params: {}, query: {}, response: 'bytes' }, signal);
  t.same([...((await bytes('text')) as Uint8Array)], [...new TextEncoder().encode('text')], 'a string answers its UTF-8 bytes');
  t.same([...((await bytes('view')) as Uint8Array)], [2, 3], 'a view answers its own bytes only');
  t.same([...((await bytes('buffer')) as Uint8Array)], [9, 9], 'an ArrayBuffer answers its bytes');
  await t.rejects(bytes('number'), /answers bytes: it must return a Uint8Array, an ArrayBuffer or a string \(got number\)/);
  await t.rejects(bytes('null'), /\(got null\)/);
  t.equal(await parts.a.reconfigure({ fail: true }), 'reconfigure refused', "reconfigure's throw is reported");
  await t.rejects(parts.a.route({ method: 'passOn', body: null, params: {}, query: {}, response: 'json' }, signal), { code: 'FERRY_ERR_QUEUE_FULL', statusCode: 503 }, "a handle call's error keeps its code");

  const sizes = actor();
  await sizes.a.init(spec({ handlerPath: fixture('batch-sizes') }));
  const x = (v: number) => ({ x: { dtype: 'float32' as const, dims: [1], data: Float32Array.of(v) } });
  const two = await sizes.a.batch([x(1), x(2)], signal);
  t.same(two.map((o) => [...(o.y.data as Float32Array)]), [[2], [4]]);
  const lying = actor();
  await lying.a.init(spec({ handlerPath: fixture('compute-parts'), handlerExport: 'Half' }));
  await t.rejects(lying.a.batch([x(1), x(2)], signal), /inferBatch must return one output map per call: 2 calls, got 1/);
});

t.test('outputs are checked and copied; inputs in shared memory are copied before user code sees them', async (t) => {
  const good = { y: { dtype: 'float32', dims: [2], data: Float32Array.of(1, 2) }, s: { dtype: 'string', dims: [1], data: ['a'] } };
  const checked = checkOutputs(good, 'infer');
  t.not(checked.y.data, good.y.data, 'a copy, so handing it over never detaches what user code holds');
  t.same([...(checked.y.data as Float32Array)], [1, 2]);
  const bad: [unknown, RegExp][] = [
    [null, /must return an object of output tensors by name \(got object\)|got object/],
    [[1], /got an array/],
    [{ y: 3 }, /output 'y' must be \{ dtype, dims, data \} \(got number\)/],
    [{ y: null }, /\(got null\)/],
    [{ y: { dtype: 'float8', dims: [1], data: [1] } }, /dtype "float8" is not one of/],
    [{ y: { dtype: 'float32', dims: [-1], data: new Float32Array(1) } }, /dims must be an array of non-negative integers/],
    [{ y: { dtype: 'float32', dims: [2], data: new Float64Array(2) } }, /float32 data must be a Float32Array \(got Float64Array\)/],
    [{ y: { dtype: 'float32', dims: [2], data: new Float32Array(3) } }, /dims \[2\] hold 2 elements but data has 3/],
    [{ y: { dtype: 'string', dims: [2], data: ['a', 1] } }, /a string tensor's data must be an array of strings/],
    [{ y: { dtype: 'string', dims: [2], data: ['a'] } }, /dims \[2\] hold 2 elements but data has 1/],
  ];
  for (const [outputs, why] of bad) t.throws(() => checkOutputs(outputs, 'infer'), why);

  const shared = new Float32Array(new SharedArrayBuffer(8));
  const plain = Float32Array.of(1);
  const own = ownInputs({ a: { dtype: 'float32', dims: [2], data: shared }, b: { dtype: 'float32', dims: [1], data: plain }, c: { dtype: 'string', dims: [1], data: ['x'] } });
  t.notOk((own.a.data as Float32Array).buffer instanceof SharedArrayBuffer, 'a tensor in shared memory is copied');
  t.equal(own.b.data, plain, 'one handed over is kept');
  const untouched = { b: { dtype: 'float32' as const, dims: [1], data: plain } };
  t.equal(ownInputs(untouched), untouched);
});

t.test('the mailbox: calls run at once and concurrently, or in batches; cancels and a gone ingress reach user code', async (t) => {
  const answers: { source: number; msg: FromActor }[] = [];
  const gauges: string[] = [];
  const slow = actor();
  await slow.a.init(spec({ handlerPath: fixture('slow'), userConfig: { ms: 150 } }));
  const box = new HandlerMailbox({ maxBatchSize: 4, batchWaitTimeoutMs: 0 }, slow.a, (source, msg) => answers.push({ source, msg }), {
    started: () => gauges.push('started'),
    finished: (rows) => gauges.push(`finished ${rows}`),
  });
  box.configure(false);
  const call = (id: number) => ({ id, inputs: { x: { dtype: 'float32' as const, dims: [1], data: Float32Array.of(id) } }, rows: 1, enqueuedAt: Date.now() });
  box.receive(1, { type: 'calls', calls: [call(1), call(2)] });
  box.receive(2, { type: 'calls', calls: [call(3)] });
  box.receive(1, { type: 'cancel', ids: [2, 99] });
  box.detach(2);
  await new Promise((r) => setTimeout(r, 400));
  t.equal(answers.length, 3, 'every call answers once');
  t.same(answers[0], { source: 1, msg: { type: 'answers', answers: [{ id: 2, cancelled: true }], startedAt: 0 } }, 'a running call cancelled is answered at once (its signal aborted), freeing its place');
  const started = answers.slice(1).map((a) => (a.msg.answers[0] as unknown as { outputs: { started: { data: Int32Array } } }).outputs.started.data[0]);
  t.same(started, [3, 3], 'the three ran side by side: each, finishing, had seen all three start');
  t.same(answers.slice(1).map((a) => a.msg.answers[0].id), [1, 3], "the cancelled call's late result is dropped");
  t.ok(gauges.filter((g) => g === 'started').length >= 3, 'the watchdog is told the replica is alive while calls run');

  const sized = actor();
  await sized.a.init(spec({ handlerPath: fixture('batch-sizes') }));
  const batched: FromActor[] = [];
  const batches = new HandlerMailbox({ maxBatchSize: 2, batchWaitTimeoutMs: 50 }, sized.a, (_s, msg) => batched.push(msg), { started() {}, finished() {} });
  batches.configure(true);
  const x = (id: number) => ({ id, inputs: { x: { dtype: 'float32' as const, dims: [1], data: Float32Array.of(id) } }, rows: 1, enqueuedAt: Date.now() });
  batches.receive(1, { type: 'calls', calls: [x(1), x(2), x(3)] });
  batches.receive(1, { type: 'calls', calls: [x(4)] });
  batches.receive(1, { type: 'cancel', ids: [4] });
  batches.receive(3, { type: 'calls', calls: [x(5)] });
  batches.detach(3);
  await new Promise((r) => setTimeout(r, 300));
  const all = batched.flatMap((m) => m.answers);
  t.match(all.find((a) => a.id === 4), { cancelled: true }, 'a queued call is taken out by its cancel');
  t.notOk(all.some((a) => a.id === 5), "a gone ingress's queued call is dropped");
  const sizes = all.filter((a) => 'outputs' in a).map((a) => (a as unknown as { outputs: { batch_size: { data: Int32Array } } }).outputs.batch_size.data[0]);
  t.same(sizes, [2, 2, 1], 'batches of at most maxBatchSize calls');

  const widened: FromActor[] = [];
  const wide = new HandlerMailbox({ maxBatchSize: 2, batchWaitTimeoutMs: 0 }, sized.a, (_s, msg) => widened.push(msg), { started() {}, finished() {} });
  wide.configure(true);
  wide.setWindow(3, 0);
  wide.receive(1, { type: 'calls', calls: [x(11), x(12), x(13)] });
  await new Promise((r) => setTimeout(r, 200));
  const wideSizes = widened.flatMap((m) => m.answers).map((a) => (a as unknown as { outputs: { batch_size: { data: Int32Array } } }).outputs.batch_size.data[0]);
  t.same(wideSizes, [3, 3, 3], 'a new window (a config update) takes more calls per batch');

  const routed: FromActor[] = [];
  const routes = new HandlerMailbox({ maxBatchSize: 2, batchWaitTimeoutMs: 0 }, sized.a, (_s, msg) => routed.push(msg), { started() {}, finished() {} });
  routes.configure(true);
  const parts = actor();
  await parts.a.init(spec({ handlerPath: fixture('compute-parts'), handlerExport: 'Half' }));
  const partsBox = new HandlerMailbox({ maxBatchSize: 2, batchWaitTimeoutMs: 0 }, parts.a, (_s, msg) => routed.push(msg), { started() {}, finished() {} });
  partsBox.configure(true);
  const routeCall = (id: number, method: string, body: unknown, response: 'json' | 'bytes') => ({ id, inputs: {}, rows: 1, enqueuedAt: Date.now(), route: { method, body, params: {}, query: {}, response } });
  partsBox.receive(1, { type: 'calls', calls: [routeCall(1, 'echo', 5, 'json'), routeCall(2, 'bytes', 'text', 'bytes')] });
  await new Promise((r) => setTimeout(r, 50));
  t.same(routed.flatMap((m) => m.answers).sort((a, b) => a.id - b.id), [
    { id: 1, result: '{"body":5,"params":{},"query":{},"session":null}' },
    { id: 2, result: new TextEncoder().encode('text') },
  ], 'route calls run as they come, even in a batching mailbox, and answer JSON text or bytes');

  const failing = actor();
  await failing.a.init(spec({ handlerPath: fixture('compute-parts'), handlerExport: 'Half' }));
  const failed: FromActor[] = [];
  const fails = new HandlerMailbox({ maxBatchSize: 2, batchWaitTimeoutMs: 0 }, failing.a, (_s, msg) => failed.push(msg), { started() {}, finished() {} });
  fails.configure(true);
  fails.receive(1, { type: 'calls', calls: [x(1), x(2)] });
  await new Promise((r) => setTimeout(r, 100));
  t.match(failed.flatMap((m) => m.answers), [{ id: 1, code: 'FERRY_ERR_HANDLER_FAILED' }, { id: 2, code: 'FERRY_ERR_HANDLER_FAILED' }], 'a batch that fails fails each of its calls');
});

t.test('handle calls from user code: answered by id, aborted by their signal or by the request they were made for', async (t) => {
  const sent: FromReplica[] = [];
  const a = new HandlerActor((msg) => sent.push(msg), NO_GATE);
  const handle = a.handles.handle('other');
  const first = handle.infer({});
  const second = handle.call('m', { x: 1 });
  t.match(sent, [{ type: 'handle-call', id: 1, deployment: 'other' }, { type: 'handle-call', id: 2, deployment: 'other', method: 'm', body: { x: 1 } }]);
  a.handles.settle({ id: 1, outputs: {} });
  a.handles.settle({ id: 2, error: 'full', code: 'FERRY_ERR_QUEUE_FULL', statusCode: 503 });
  a.handles.settle({ id: 99, result: 1 });
  t.same(await first, {});
  await t.rejects(second, new HandleCallError('full', 'FERRY_ERR_QUEUE_FULL', 503));
  const abort = new AbortController();
  const third = handle.call('m', null, { signal: abort.signal });
  abort.abort();
  t.match(sent.at(-1), { type: 'handle-cancel', id: 3 }, 'an aborted signal cancels the call where it runs');
  a.handles.settle({ id: 3, result: 'late' });
  t.equal(await third, 'late');
  await t.rejects(handle.infer({}, { signal: abort.signal }), { code: 'FERRY_ERR_CLIENT_CLOSED', message: /cancelled before it was sent/ }, 'a call made with an aborted signal is not sent');

  const before = sent.length;
  const flood = Array.from({ length: MAX_HANDLE_CALLS_WAITING + 5 }, () => handle.call('m').catch((err: HandleCallError) => err));
  t.equal(sent.length - before, MAX_HANDLE_CALLS_WAITING, 'a fan-out sends as many calls as may wait, no more');
  const refused = (await Promise.race([Promise.all(flood.slice(-5)), new Promise((r) => setTimeout(r, 1000, 'pending'))])) as HandleCallError[];
  t.match(refused, Array(5).fill({ code: 'FERRY_ERR_QUEUE_FULL', statusCode: 503, message: /10000 handle calls waiting/ }), 'past the bound, calls are refused in the replica as a full queue');
});

t.test("a handler refuses with a status by throwing HandleCallError with a registered code; anything else is the handler's 500", async (t) => {
  const as = (err: unknown) => {
    const f = new HandlerFailure(err);
    return [f.code, f.statusCode, f.passed];
  };
  t.same(as(new HandleCallError('k must be 1 to 10', 'FERRY_ERR_BODY_INVALID', 400)), ['FERRY_ERR_BODY_INVALID', 400, true], 'a 400 of its own');
  t.same(as(new HandleCallError('downstream is full', 'FERRY_ERR_QUEUE_FULL', 503)), ['FERRY_ERR_QUEUE_FULL', 503, true]);
  t.same(as(Object.assign(new Error('lookalike'), { name: 'HandleCallError', code: 'FERRY_ERR_BOGUS', statusCode: 400 })), ['FERRY_ERR_HANDLER_FAILED', 500, false], 'an unregistered code is not passed on');
  t.same(as(new HandleCallError('fine?', 'FERRY_ERR_BODY_INVALID', 200)), ['FERRY_ERR_HANDLER_FAILED', 500, false], 'nor a status that is not an error');
  t.same(as(new Error('plain')), ['FERRY_ERR_HANDLER_FAILED', 500, false]);
});

t.test('a handler mailbox: a batch that never settles is let go once its calls are given up, and a latency target adapts its window', async (t) => {
  const sized = actor();
  await sized.a.init(spec({ handlerPath: fixture('batch-sizes') }));
  const sent: FromActor[] = [];
  const adapted: number[] = [];
  const latencies: number[] = [];
  const box = new HandlerMailbox({ maxBatchSize: 2, batchWaitTimeoutMs: 0, targetLatencyMs: 500 }, sized.a, (_s, msg) => sent.push(msg), {
    started() {},
    finished() {},
    adapted: (windowMs) => adapted.push(windowMs),
    answered: (ms) => latencies.push(...ms),
  });
  box.configure(true);
  const x = (id: number, v: number) => ({ id, inputs: { x: { dtype: 'float32' as const, dims: [1], data: Float32Array.of(v) } }, rows: 1, enqueuedAt: Date.now() });
  box.receive(1, { type: 'calls', calls: [x(1, -1)] });
  await new Promise((r) => setTimeout(r, 20));
  box.receive(1, { type: 'cancel', ids: [1] });
  box.receive(1, { type: 'calls', calls: [x(2, 3)] });
  await new Promise((r) => setTimeout(r, 50));
  const answers = sent.flatMap((m) => m.answers);
  t.match(answers, [{ id: 1, cancelled: true }, { id: 2, outputs: { y: { data: Float32Array.of(6) } } }], 'the hung batch was given up, and the next ran');
  t.equal(adapted.length, 1, 'the batch that ran fed the window');
  t.equal(latencies.length, 2, 'and both calls reported their time');
});

t.test('what user code answers is checked where it runs: declared outputs, their dtype and shape, and a JSON route answer', async (t) => {
  const bad = actor();
  await bad.a.init(spec({ handlerPath: fixture('bad-output') }));
  const signal = new AbortController().signal;
  const x = (v: number) => ({ x: { dtype: 'float32' as const, dims: [1], data: Float32Array.of(v) } });
  await t.rejects(bad.a.call(x(4), signal), { message: /infer returned no output 'x'/ });
  await t.rejects(bad.a.call(x(5), signal), { message: /as int32, but its interface declares float32/ });
  await t.rejects(bad.a.call(x(6), signal), { message: /dims \[1,1\], which do not fit its interface's \[-1\]/ });
  t.same([...((await bad.a.call(x(3), signal)).x.data as Float32Array)], [3]);
  const parts = actor();
  await parts.a.init(spec({ handlerPath: fixture('compute-parts'), handlerExport: 'Half' }));
  await t.rejects(parts.a.route({ method: 'notJson', body: null, params: {}, query: {}, response: 'json' }, signal), { code: 'FERRY_ERR_HANDLER_FAILED', message: /'notJson' returned a function, which is not JSON/ });
  t.equal(new HandlerFailure({ message: 'made by hand' }).message, 'made by hand', "a thrown object's message is used");
  t.equal(new HandlerFailure({ code: 1 }).message, '[object Object]', 'and without one, what it says of itself');
});

t.test('tensors from user code or a handle call that are not tensors are named as such', async (t) => {
  t.throws(() => checkOutputs([], 'infer'), /infer must return an object of output tensors by name \(got an array\)/);
  t.throws(() => checkOutputs(5, 'the handle call', 'input'), /the handle call must pass an object of input tensors by name \(got number\)/);
  t.throws(() => checkOutputs({ x: { dtype: 'float32', dims: [1], data: null } }, 'infer'), /float32 data must be a Float32Array \(got null\)/);
  t.throws(() => checkOutputs({ x: { dtype: 'float32', dims: [1], data: Object.create(null) } }, 'infer'), /float32 data must be a Float32Array \(got object\)/);
  t.throws(() => checkOutputs({ x: { dtype: 'float32', dims: [1], data: [1] } }, 'infer'), /float32 data must be a Float32Array \(got Array\)/);
});
