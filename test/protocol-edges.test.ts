import { connect } from 'node:net';
import ort from 'onnxruntime-node';
import t from 'tap';
import WebSocket from 'ws';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath, OnnxGraphBuilder, OnnxType } from '../models/index.js';
import { directRun, postJson, randomRow, startFerry } from './helpers/ferry.js';

t.test("tensor names that are Object.prototype's own (constructor, valueOf) are ordinary names", async (t) => {
  const g = new OnnxGraphBuilder('names');
  const a = g.input('constructor', OnnxType.FLOAT, ['batch', 2]);
  const b = g.input('x', OnnxType.FLOAT, ['batch', 2]);
  g.node('Add', [a, b], {}, { output: 'valueOf' });
  g.output('valueOf', OnnxType.FLOAT, ['batch', 2]);
  const dir = t.testdir({ 'names.onnx': Buffer.from(g.toBytes()) });
  const server = await startFerry(t, [{ name: 'names', model: `${dir}/names.onnx` }]);
  const url = `${server.url}/v2/models/names/infer`;
  const both = await postJson(url, {
    inputs: [
      { name: 'constructor', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
      { name: 'x', shape: [1, 2], datatype: 'FP32', data: [10, 20] },
    ],
  });
  t.equal(both.status, 200, JSON.stringify(both.body));
  t.same(both.body.outputs, [{ name: 'valueOf', datatype: 'FP32', shape: [1, 2], data: [11, 22] }]);
  const missing = await postJson(url, { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [10, 20] }] });
  t.equal(missing.status, 400);
  t.match(missing.body.error, /model 'names' needs input constructor/);
});

t.test("a tensor named '__proto__' fails to start, saying why", async (t) => {
  const g = new OnnxGraphBuilder('proto');
  const x = g.input('x', OnnxType.FLOAT, ['batch', 2]);
  g.node('Identity', [x], {}, { output: '__proto__' });
  g.output('__proto__', OnnxType.FLOAT, ['batch', 2]);
  const dir = t.testdir({ 'proto.onnx': Buffer.from(g.toBytes()) });
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 2 }, deployments: [{ name: 'proto', model: `${dir}/proto.onnx` }] }, `${dir}/ferry.config.ts`);
  await t.rejects(FerryServer.start(config), /a tensor is named '__proto__'.*rename it in the model/);
});

t.test('request edges: empty outputs list, data with binary_data_size, huge dimensions, numbers no double holds, deep nesting', async (t) => {
  const server = await startFerry(t, [
    { name: 'mixed', model: modelPath('mixed-inputs.onnx') },
    { name: 'i64', model: modelPath('identity-int64.onnx') },
    { name: 'seg', model: modelPath('dynamic-image.onnx') },
    { name: 'f32', model: modelPath('identity-float32.onnx') },
  ]);
  const mixedInputs = [
    { name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
    { name: 'k', shape: [1, 1], datatype: 'INT64', data: [2] },
  ];
  const all = await postJson(`${server.url}/v2/models/mixed/infer`, { inputs: mixedInputs, outputs: [] });
  t.same(all.body.outputs.map((o: { name: string }) => o.name), ['scaled', 'next'], 'outputs: [] answers every output, as Triton does');

  const both = await postJson(`${server.url}/v2/models/f32/infer`, {
    inputs: [{ name: 'in_float32', shape: [1, 2], datatype: 'FP32', data: [1, 2], parameters: { binary_data_size: 8 } }],
  });
  t.equal(both.status, 400);
  t.match(both.body.error, /inputs\[0\] has both data and parameters\.binary_data_size; give one/);

  const huge = await postJson(`${server.url}/v2/models/seg/infer`, { inputs: [{ name: 'image', shape: [1, 3, 0, 1099511627776], datatype: 'FP32', data: [] }] });
  t.equal(huge.status, 400, 'an empty tensor with a huge dimension never reaches onnxruntime');
  t.match(huge.body.error, /dimension 3 is 1099511627776, more than the limit of 16777216 elements/);

  const cases: [string, string, RegExp][] = [
    ['i64', '{"inputs":[{"name":"in_int64","shape":[1,2],"datatype":"INT64","data":[1E400,1]}]}', /element 0 is beyond ±2\^53 and not written as an integer.*\(got 1E400\)/],
    ['f32', '{"inputs":[{"name":"in_float32","shape":[1,2],"datatype":"FP32","data":[1,1e400]}]}', /element 1 is beyond the largest finite FP32 \(got 1e400\)/],
  ];
  for (const [model, body, message] of cases) {
    const r = await postJson(`${server.url}/v2/models/${model}/infer`, body);
    t.equal(r.status, 400, body);
    t.match(r.body.error, message);
  }
  const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`;
  const nested = await postJson(
    `${server.url}/v2/models/i64/infer`,
    `{"parameters":{"x":${deep}},"inputs":[{"name":"in_int64","shape":[1,2],"datatype":"INT64","data":[9007199254740993,1]}]}`,
  );
  t.not(nested.status, 500, `deep nesting beside a big integer is not a 500 (${nested.status} ${nested.body.error})`);
});

t.test('malformed HTTP and odd URLs get Ferry error bodies; long deployment names are reachable', async (t) => {
  const longName = 'm'.repeat(120);
  const server = await startFerry(t, [{ name: longName, model: modelPath('mlp.onnx') }]);
  const ok = await postJson(`${server.url}/v2/models/${longName}/infer`, {
    inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }],
  });
  t.equal(ok.status, 200, 'a 120-character deployment name is routed');
  const want = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(randomRow(1, 784)), [1, 784]) });
  t.ok(Math.abs(ok.body.outputs[0].data[0] - (want.logits.data as Float32Array)[0]) < 1e-5);

  const badUrl = await postJson(`${server.url}/v2/models/%zz/infer`, '{}');
  t.equal(badUrl.status, 400);
  t.equal(badUrl.body.code, 'FERRY_ERR_BAD_REQUEST');
  const tooLong = await postJson(`${server.url}/v2/models/${'n'.repeat(300)}/infer`, '{}');
  t.equal(tooLong.status, 414);
  t.equal(tooLong.body.code, 'FERRY_ERR_BAD_REQUEST');

  const { port } = new URL(server.url);
  const raw = await new Promise<string>((resolve, reject) => {
    let got = '';
    const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
    socket.on('data', (d) => (got += d));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
  t.match(raw, /^HTTP\/1\.1 400 Bad Request/);
  t.match(raw, /"code":"FERRY_ERR_BAD_REQUEST"/);
});

t.test('the versioned stream route answers; a BYTES model gets a body limit that fits any element', async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), version: '3' },
    { name: 'str', model: modelPath('identity-string.onnx') },
  ]);
  t.match(server.bodyLimit.reason, /input 'in_string' of str takes BYTES/);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/versions/3/stream`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answer = new Promise<any>((resolve) => ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
  ws.send(JSON.stringify({ id: 'v3', inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(2, 784) }] }));
  const got = await answer;
  ws.close();
  t.equal(got.id, 'v3');
  t.equal(got.model_version, '3');
  const wrong = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/versions/4/stream`);
  const status = await new Promise<number>((resolve) => wrong.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('open', () => resolve(101)));
  t.equal(status, 404, 'an unknown version is refused before the upgrade');
});

t.test('a client that sends its body a byte at a time gets 408 and its socket closed after receiveTimeoutMs', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { receiveTimeoutMs: 1000 });
  const { port } = new URL(server.url);
  const started = Date.now();
  const outcome = await new Promise<{ got: string; closedAfterMs: number }>((resolve, reject) => {
    let got = '';
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write('POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n');
      const drip = setInterval(() => (socket.writable ? socket.write('{') : clearInterval(drip)), 200);
      socket.on('close', () => clearInterval(drip));
    });
    socket.on('data', (d) => (got += d));
    socket.on('close', () => resolve({ got, closedAfterMs: Date.now() - started }));
    socket.on('error', () => {});
    setTimeout(() => reject(new Error(`still open after 15 s; got ${got}`)), 15_000).unref();
  });
  t.match(outcome.got, /^HTTP\/1\.1 408 /, 'answered 408');
  t.match(outcome.got, /"code":"FERRY_ERR_BAD_REQUEST"/);
  t.ok(outcome.closedAfterMs < 10_000, `the socket was closed (after ${outcome.closedAfterMs} ms)`);
});

t.test('one mistake reads the same over HTTP and over a WebSocket stream', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/stream`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  t.teardown(() => ws.close());
  const mistakes: unknown[] = [
    {},
    { inputs: [] },
    { inputs: [{ name: 'input', shape: [1, 'x'], datatype: 'FP32', data: [] }] },
    { inputs: [{ name: 'input', shape: [-1, 784], datatype: 'FP32', data: [] }] },
    { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: [] }], parameters: { binary_data_output: 'yes' } },
  ];
  for (const mistake of mistakes) {
    const http = await postJson(`${server.url}/v2/models/mlp/infer`, JSON.stringify(mistake));
    const answer = new Promise<any>((resolve) => ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
    ws.send(JSON.stringify(mistake));
    const viaWs = await answer;
    t.equal(http.status, 400);
    t.equal(viaWs.error, http.body.error, `${JSON.stringify(mistake)}: "${http.body.error}" both ways`);
  }
});
