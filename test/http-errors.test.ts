import type { FastifyReply, FastifyRequest } from 'fastify';
import t from 'tap';
import { postJson, randomRow, startFerry } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';
import { handleError } from '../gateway/http-errors.js';

const row = randomRow(3, 784);
const good = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: row }] };

t.test('bad input is a 400 naming the field, and nothing is queued', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const url = `${server.url}/v2/models/mlp/infer`;
  const cases: [string, unknown, string, RegExp][] = [
    ['broken JSON', '{"inputs": [', 'FERRY_ERR_BODY_INVALID', /not valid JSON/],
    ['no inputs', {}, 'FERRY_ERR_BODY_INVALID', /^inputs is required$/],
    ['shape not integers', { inputs: [{ ...good.inputs[0], shape: [1, 'x'] }] }, 'FERRY_ERR_BODY_INVALID', /inputs\[0\]\.shape\[1\] must be an integer \(got "x"\)/],
    ['negative dim', { inputs: [{ ...good.inputs[0], shape: [-1, 784] }] }, 'FERRY_ERR_BODY_INVALID', /inputs\[0\]\.shape\[0\] must be >= 0/],
    ['unknown input', { inputs: [{ ...good.inputs[0], name: 'image' }] }, 'FERRY_ERR_INPUT_NAME', /has no input 'image'/],
    ['repeated input', { inputs: [good.inputs[0], good.inputs[0]] }, 'FERRY_ERR_INPUT_NAME', /given more than once/],
    ['wrong datatype', { inputs: [{ ...good.inputs[0], datatype: 'FP64' }] }, 'FERRY_ERR_INPUT_DATATYPE', /is FP64 but input 'input' takes FP32/],
    ['unknown datatype', { inputs: [{ ...good.inputs[0], datatype: 'FLOAT' }] }, 'FERRY_ERR_INPUT_DATATYPE', /"FLOAT" is not a known datatype/],
    ['wrong rank', { inputs: [{ ...good.inputs[0], shape: [784] }] }, 'FERRY_ERR_INPUT_SHAPE', /has 1 dimensions/],
    ['wrong fixed dim', { inputs: [{ ...good.inputs[0], shape: [1, 783] }] }, 'FERRY_ERR_INPUT_SHAPE', /dimension 1 must be 784/],
    ['zero rows', { inputs: [{ ...good.inputs[0], shape: [0, 784], data: [] }] }, 'FERRY_ERR_INPUT_SHAPE', /at least 1/],
    ['huge dims', { inputs: [{ ...good.inputs[0], shape: [1e9, 784] }] }, 'FERRY_ERR_INPUT_SHAPE', /more than the limit/],
    ['too little data', { inputs: [{ ...good.inputs[0], data: row.slice(1) }] }, 'FERRY_ERR_INPUT_DATA', /has 783 elements but its shape declares 784/],
    ['too much data', { inputs: [{ ...good.inputs[0], data: [...row, 1] }] }, 'FERRY_ERR_INPUT_DATA', /more than the 784 elements/],
    ['string element', { inputs: [{ ...good.inputs[0], data: ['NaN', ...row.slice(1)] }] }, 'FERRY_ERR_INPUT_DATA', /element 0 must be a number \(got "NaN"\)/],
    ['data not an array', { inputs: [{ ...good.inputs[0], data: 5 }] }, 'FERRY_ERR_INPUT_DATA', /data must be an array/],
    ['unknown output', { ...good, outputs: [{ name: 'probs' }] }, 'FERRY_ERR_INPUT_NAME', /has no output 'probs'/],
  ];
  for (const [what, body, code, message] of cases) {
    const res = await postJson(url, body);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.code, code, `${what}: ${code}`);
    t.match(res.body.error, message, `${what}: message names the problem`);
  }
  t.equal(server.stats()[0].replicas[0].rows, 0, 'no bad request reached the replica');
  const ok = await postJson(url, good);
  t.equal(ok.status, 200, 'a valid request is served afterwards');
});

t.test('unknown model and unknown route are 404', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const infer = await postJson(`${server.url}/v2/models/nope/infer`, good);
  t.equal(infer.status, 404);
  t.same(infer.body, { error: "model 'nope' is not served here", code: 'FERRY_ERR_MODEL_NOT_FOUND' });
  const meta = await fetch(`${server.url}/v2/models/nope`);
  t.equal(meta.status, 404);
  const route = await fetch(`${server.url}/nowhere`);
  t.equal(route.status, 404);
  t.equal((await route.json()).code, 'FERRY_ERR_ROUTE_NOT_FOUND');
});

t.test('a body over the limit is 413', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { bodyLimitBytes: 4096 });
  const res = await postJson(`${server.url}/v2/models/mlp/infer`, good);
  t.equal(res.status, 413);
  t.equal(res.body.code, 'FERRY_ERR_BODY_TOO_LARGE');
  t.match(res.body.error, /4096 bytes/);
});

t.test('a full queue is 503 with Retry-After, and admitted requests still finish', async (t) => {
  const server = await startFerry(t, [
    {
      name: 'mlp',
      model: modelPath('mlp.onnx'),
      // One call per replica, held 1.5 s waiting for a second row (longer than
      // the eight requests take to arrive, even on a busy machine); two more may queue.
      batching: { maxBatchSize: 2, batchWaitTimeoutMs: 1500 },
      maxOngoingRequests: 1,
      maxQueuedRequests: 2,
    },
  ]);
  const answers = await Promise.all(Array.from({ length: 8 }, () => postJson(`${server.url}/v2/models/mlp/infer`, good)));
  const full = answers.filter((a) => a.status === 503);
  const served = answers.filter((a) => a.status === 200);
  t.equal(served.length + full.length, 8, 'every request answered 200 or 503');
  t.ok(served.length >= 1 && served.length <= 3, `the replica and the queue took at most 3 (${served.length})`);
  t.ok(full.length >= 5, `the rest were refused (${full.length})`);
  for (const f of full) {
    t.equal(f.body.code, 'FERRY_ERR_QUEUE_FULL');
    t.equal(f.headers.get('retry-after'), '1');
  }
});

t.test('health and readiness', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), routePrefix: '/mlp' }]);
  t.same(await (await fetch(`${server.url}/v2/health/live`)).json(), { live: true });
  t.same(await (await fetch(`${server.url}/v2/health/ready`)).json(), { ready: true });
  t.same(await (await fetch(`${server.url}/v2/models/mlp/ready`)).json(), { name: 'mlp', ready: true });
  t.same(await (await fetch(`${server.url}/mlp/ready`)).json(), { name: 'mlp', ready: true });
  const meta = await (await fetch(`${server.url}/v2/models/mlp`)).json();
  t.same(meta.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }], 'metadata read from the session, -1 for the batch dim');
  t.same(meta.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }]);
  t.same(await (await fetch(`${server.url}/mlp`)).json(), meta, 'metadata under the route prefix too');
  await server.close();
  const pool = server.pools.get('mlp')!;
  t.equal(pool.ready, false, 'a closed deployment is not ready');
});

t.test('an answer cut short because its client left is logged at debug, not as an internal error', async (t) => {
  // What @fastify/compress hands the error handler when the socket under a compressed answer closes.
  const premature = Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  const logged: string[] = [];
  const sent: number[] = [];
  const req = { log: { debug: () => logged.push('debug'), error: () => logged.push('error') }, routeOptions: {}, headers: {} } as unknown as FastifyRequest;
  const reply = (destroyed: boolean) =>
    ({
      raw: { destroyed },
      header: () => {},
      code(status: number) {
        sent.push(status);
        return { send: () => {} };
      },
    }) as unknown as FastifyReply;
  handleError(premature, req, reply(true));
  t.same(logged, ['debug']);
  t.same(sent, [], 'nothing is written to a closed socket');
  handleError(premature, req, reply(false));
  t.same(logged, ['debug', 'error'], 'the same error with the client still there is a fault');
  t.same(sent, [500]);
});
