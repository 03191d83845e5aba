import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import ort from 'onnxruntime-node';
import t from 'tap';
import WebSocket from 'ws';
import { bytesElements, bytesOf } from './helpers/binary.js';
import { directRun, maxAbsDiff, randomRow, startFerry } from './helpers/ferry.js';
import { modelPath, OnnxGraphBuilder, OnnxType } from '../models/index.js';

// What real Triton clients send: tritonclient.http sends no Content-Type, curl -d
// a form type; bodies may be gzip or deflate; answers may be asked compressed;
// a raw binary request has no JSON header at all. Requests go through node:http
// so that exactly the listed headers are sent (fetch adds its own).

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as sent, before any Content-Encoding is undone. */
  raw: Buffer;
  /** The body with its Content-Encoding undone. */
  body: Buffer;
}

function send(base: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string, method = 'POST'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const coding = res.headers['content-encoding'];
        const decoded = coding === 'gzip' ? gunzipSync(raw) : coding === 'deflate' ? inflateSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, body: decoded });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (a: Answer) => JSON.parse(a.body.toString('utf8'));

/** Splits a binary answer by its Inference-Header-Content-Length into JSON and tensors. */
function split(a: Answer): { json: any; binary: Buffer } {
  const length = Number(a.headers['inference-header-content-length']);
  return { json: JSON.parse(a.body.toString('utf8', 0, length)), binary: a.body.subarray(length) };
}

/** A binary-extension body: JSON header then tensors, with the header's length. */
function framed(header: unknown, tensors: Buffer[]): { body: Buffer; length: string } {
  const head = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([head, ...tensors]), length: String(head.length) };
}

const f32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

const row = Float32Array.from(randomRow(11, 784));
const mlpJson = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: Array.from(row) }] };
const mlpBinary = framed(
  { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 3136 } }], parameters: { binary_data_output: true } },
  [bytesOf(row)],
);
const reference = async () => (await directRun('mlp.onnx', { input: new ort.Tensor('float32', row, [1, 784]) })).logits.data as Float32Array;

t.test('every Content-Type, and none, is framed by Inference-Header-Content-Length alone, on every inference route', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), version: '3', routePrefix: '/mlp' }]);
  const expected = await reference();
  const types = [undefined, 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8', 'application/octet-stream'];
  const routes = ['/v2/models/mlp/infer', '/v2/models/mlp/versions/3/infer', '/mlp', '/mlp/infer'];
  for (const type of types) {
    const typed: Record<string, string> = type === undefined ? {} : { 'content-type': type };
    for (const route of routes) {
      const what = `${type ?? 'no Content-Type'} to ${route}`;
      const viaJson = await send(server.url, route, typed, JSON.stringify(mlpJson));
      t.equal(viaJson.status, 200, `${what}, JSON`, { body: viaJson.body.toString().slice(0, 200) });
      if (viaJson.status === 200) t.ok(maxAbsDiff(json(viaJson).outputs[0].data, expected) < 1e-5, `${what}, JSON: the model's answer`);
      const viaBinary = await send(server.url, route, { ...typed, 'inference-header-content-length': mlpBinary.length }, mlpBinary.body);
      t.equal(viaBinary.status, 200, `${what}, binary`, { body: viaBinary.body.toString().slice(0, 200) });
      if (viaBinary.status === 200) t.ok(maxAbsDiff(f32(split(viaBinary).binary), expected) < 1e-5, `${what}, binary: the model's answer`);
    }
    const index = await send(server.url, '/v2/repository/index', typed, JSON.stringify({ ready: true }));
    t.same(json(index), [{ name: 'mlp', version: '3', state: 'READY', reason: '' }], `${type ?? 'no Content-Type'}: the repository index`);
  }
  const empty = await send(server.url, '/v2/repository/index');
  t.equal(empty.status, 200, 'an index request with no body at all');
  t.same(json(empty).map((m: { name: string }) => m.name), ['mlp'], 'no body lists every model');

  const malformed = await send(server.url, '/v2/models/mlp/infer', { 'content-type': 'nonsense' }, JSON.stringify(mlpJson));
  t.equal(malformed.status, 415, 'a malformed Content-Type is a 415');
  t.equal(json(malformed).code, 'FERRY_ERR_CONTENT_TYPE');
  t.match(json(malformed).error, /"nonsense".*any well-formed media type/, `it names what it got and what is read: ${json(malformed).error}`);
});

t.test('gzip and deflate request bodies are decoded before framing, with the limit on the decoded bytes', async (t) => {
  const limit = 256 * 1024;
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { bodyLimitBytes: limit });
  const url = '/v2/models/mlp/infer';
  const plainJson = await send(server.url, url, {}, JSON.stringify(mlpJson));
  const plainBinary = await send(server.url, url, { 'inference-header-content-length': mlpBinary.length }, mlpBinary.body);
  t.equal(plainJson.status, 200);
  t.equal(plainBinary.status, 200);
  const encoders: [string, string, (b: Buffer) => Buffer][] = [
    ['gzip', 'gzip', gzipSync],
    ['deflate (zlib, as Python zlib.compress)', 'deflate', deflateSync],
    ['deflate (raw)', 'deflate', deflateRawSync],
    ['identity', 'identity', (b) => b],
    ['x-gzip', 'x-gzip', gzipSync],
  ];
  for (const [what, coding, encode] of encoders) {
    const viaJson = await send(server.url, url, { 'content-encoding': coding }, encode(Buffer.from(JSON.stringify(mlpJson))));
    t.equal(viaJson.status, 200, `${what}, JSON`, { body: viaJson.body.toString().slice(0, 200) });
    t.ok(viaJson.body.equals(plainJson.body), `${what}, JSON: the same answer as uncompressed`);
    const viaBinary = await send(
      server.url,
      url,
      { 'content-encoding': coding, 'content-type': 'application/octet-stream', 'inference-header-content-length': mlpBinary.length },
      encode(mlpBinary.body),
    );
    t.equal(viaBinary.status, 200, `${what}, binary`, { body: viaBinary.body.toString().slice(0, 200) });
    t.ok(viaBinary.body.equals(plainBinary.body), `${what}, binary: the same answer as uncompressed`);
  }

  for (const coding of ['br', 'zstd', 'compress', 'x-foo', 'gzip, br', 'gzip, gzip']) {
    const res = await send(server.url, url, { 'content-encoding': coding }, Buffer.from(JSON.stringify(mlpJson)));
    t.equal(res.status, 415, `${coding}: 415`);
    t.equal(json(res).code, 'FERRY_ERR_CONTENT_ENCODING');
    t.match(json(res).error, `"${coding}"`, `${coding}: names what it got (${json(res).error})`);
    t.match(json(res).error, /gzip, deflate or identity/, `${coding}: names what is accepted`);
    if (coding.includes(',')) t.match(json(res).error, /\(stacked encodings\): Ferry decodes request bodies in one of gzip/, `${coding}: says only one is decoded`);
  }

  const whole = gzipSync(Buffer.from(JSON.stringify(mlpJson)));
  const corrupt: [string, string, Buffer][] = [
    ['not gzip at all', 'gzip', Buffer.from(JSON.stringify(mlpJson))],
    ['truncated gzip', 'gzip', whole.subarray(0, whole.length - 12)],
    ['not deflate at all', 'deflate', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01])],
  ];
  for (const [what, coding, body] of corrupt) {
    const res = await send(server.url, url, { 'content-encoding': coding }, body);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(json(res).code, 'FERRY_ERR_BODY_INVALID');
    t.match(json(res).error, new RegExp(`the ${coding} body cannot be decoded`), `${what}: names the encoding (${json(res).error})`);
  }

  // The same request padded with JSON whitespace past the limit: far smaller
  // than the limit gzipped, but its decoded size is what counts.
  const padded = Buffer.from(JSON.stringify(mlpJson) + ' '.repeat(limit));
  const small = gzipSync(padded);
  t.ok(small.length < limit / 4, `the padded body compresses to ${small.length} bytes`);
  const tooLarge = await send(server.url, url, { 'content-encoding': 'gzip' }, small);
  t.equal(tooLarge.status, 413, 'a body that decodes past the limit is a 413');
  t.equal(json(tooLarge).code, 'FERRY_ERR_BODY_TOO_LARGE');
  const justUnder = await send(server.url, url, { 'content-encoding': 'gzip' }, gzipSync(padded.subarray(0, limit)));
  t.equal(justUnder.status, 200, 'the same request decoding to exactly the limit is served');
  t.ok(justUnder.body.equals(plainJson.body), 'with the same answer');
});

t.test('a decompression bomb is refused as soon as its decoded size passes the limit, before the upload ends', async (t) => {
  const limit = 256 * 1024;
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], { bodyLimitBytes: limit });
  // 64 MiB of zeros in ~64 KB; the request is never ended, so only a server
  // that stops at the limit can answer it.
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = http.request(new URL('/v2/models/mlp/infer', server.url), { method: 'POST', headers: { 'content-encoding': 'gzip' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) });
        req.destroy();
      });
    });
    req.on('error', () => {}); // the socket is reset once the 413 is written; the answer is what counts
    req.write(bomb.subarray(0, bomb.length - 8)); // everything but the gzip trailer; no end()
    setTimeout(() => {
      req.destroy();
      reject(new Error('no answer within 10 s: the server waited for the whole body'));
    }, 10_000).unref();
  });
  t.equal(answer.status, 413);
  t.equal(answer.body.code, 'FERRY_ERR_BODY_TOO_LARGE');
  t.match(answer.body.error, String(limit));
});

t.test('answers are compressed when the client accepts gzip or deflate, binary ones keeping the uncompressed header length', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const url = '/v2/models/mlp/infer';
  // 32 rows, so that the answers are worth compressing (over 1 KB).
  const rows = Array.from({ length: 32 }, (_, i) => randomRow(100 + i, 784)).flat();
  const jsonBody = JSON.stringify({ inputs: [{ name: 'input', shape: [32, 784], datatype: 'FP32', data: rows }] });
  const bin = framed(
    { inputs: [{ name: 'input', shape: [32, 784], datatype: 'FP32', parameters: { binary_data_size: 32 * 3136 } }], parameters: { binary_data_output: true } },
    [bytesOf(Float32Array.from(rows))],
  );
  const plainJson = await send(server.url, url, {}, jsonBody);
  const plainBinary = await send(server.url, url, { 'inference-header-content-length': bin.length }, bin.body);
  t.equal(plainJson.headers['content-encoding'], undefined, 'no Accept-Encoding: not compressed');
  t.equal(plainBinary.headers['content-encoding'], undefined);
  for (const coding of ['gzip', 'deflate']) {
    const viaJson = await send(server.url, url, { 'accept-encoding': coding }, jsonBody);
    t.equal(viaJson.status, 200);
    t.equal(viaJson.headers['content-encoding'], coding, `JSON answer sent ${coding}`);
    t.ok(viaJson.raw.length < viaJson.body.length, `JSON: ${viaJson.raw.length} bytes on the wire for ${viaJson.body.length}`);
    t.ok(viaJson.body.equals(plainJson.body), `JSON, ${coding}: decodes to exactly the uncompressed answer`);

    const viaBinary = await send(server.url, url, { 'accept-encoding': coding, 'inference-header-content-length': bin.length }, bin.body);
    t.equal(viaBinary.status, 200);
    t.equal(viaBinary.headers['content-encoding'], coding, `binary answer sent ${coding}`);
    t.equal(viaBinary.headers['inference-header-content-length'], plainBinary.headers['inference-header-content-length'], 'the header length is the uncompressed JSON header');
    t.ok(viaBinary.body.equals(plainBinary.body), `binary, ${coding}: decodes to exactly the uncompressed answer`);
    t.same(split(viaBinary).json, split(plainBinary).json, 'and splits where the uncompressed one does');
  }
});

/** Tiny models for raw binary requests: a dynamic length, and BYTES inputs of one and two elements. */
function writeRawModels(dir: string): Record<string, string> {
  const seq = new OnnxGraphBuilder('seq');
  const x = seq.input('x', OnnxType.FLOAT, ['batch', 'len']);
  seq.node('Add', [x, x], {}, { output: 'doubled' });
  seq.node('ReduceSum', [x, seq.int64s('axes', [1], [1])], { keepdims: 1 }, { output: 'total' });
  seq.output('doubled', OnnxType.FLOAT, ['batch', 'len']);
  seq.output('total', OnnxType.FLOAT, ['batch', 1]);
  const text = (name: string, width: number) => {
    const g = new OnnxGraphBuilder(name);
    g.node('Identity', [g.input('s', OnnxType.STRING, ['batch', width])], {}, { output: 'echo' });
    g.output('echo', OnnxType.STRING, ['batch', width]);
    return g.toBytes();
  };
  const files: Record<string, Uint8Array> = { seq: seq.toBytes(), text: text('text', 1), pair: text('pair', 2) };
  return Object.fromEntries(
    Object.entries(files).map(([name, bytes]) => {
      writeFileSync(join(dir, `${name}.onnx`), bytes);
      return [name, join(dir, `${name}.onnx`)];
    }),
  );
}

t.test('a raw binary request (Inference-Header-Content-Length: 0) is the only input\'s tensor, shaped by Triton\'s rules', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-raw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const raw = writeRawModels(dir);
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), routePrefix: '/mlp' },
    { name: 'fixed', model: modelPath('fixed-batch.onnx') },
    { name: 'image', model: modelPath('dynamic-image.onnx') },
    { name: 'mixed', model: modelPath('mixed-inputs.onnx') },
    { name: 'seq', model: raw.seq },
    { name: 'text', model: raw.text },
    { name: 'pair', model: raw.pair },
  ]);
  const RAW = { 'inference-header-content-length': '0' };

  // A batching deployment: dimension 0 is 1, the rest as declared.
  const expected = await reference();
  for (const route of ['/v2/models/mlp/infer', '/mlp']) {
    const res = await send(server.url, route, RAW, bytesOf(row));
    t.equal(res.status, 200, `mlp at ${route}`, { body: res.body.toString().slice(0, 200) });
    const { json: head, binary } = split(res);
    t.same(head.outputs.map((o: any) => [o.name, o.datatype, o.shape]), [['logits', 'FP32', [1, 10]]], 'outputs as a [1,784] request gives');
    t.equal(head.outputs[0].parameters.binary_data_size, 40, 'returned binary');
    t.ok(maxAbsDiff(f32(binary), expected) < 1e-5, 'the model\'s answer for that row');
  }
  const gz = await send(server.url, '/v2/models/mlp/infer', { ...RAW, 'content-encoding': 'gzip' }, gzipSync(bytesOf(row)));
  t.equal(gz.status, 200, 'a gzip raw binary request is decoded first');
  t.ok(maxAbsDiff(f32(split(gz).binary), expected) < 1e-5);

  // A fixed shape: exactly its bytes.
  const frame = Float32Array.from(randomRow(5, 2400));
  const fixed = await send(server.url, '/v2/models/fixed/infer', RAW, bytesOf(frame));
  t.equal(fixed.status, 200, 'fixed-batch', { body: fixed.body.toString().slice(0, 200) });
  const direct = await directRun('fixed-batch.onnx', { x: new ort.Tensor('float32', frame, [1, 25, 96]) });
  t.same(split(fixed).json.outputs[0].shape, [1, 1]);
  t.ok(maxAbsDiff(f32(split(fixed).binary), direct.score.data as Float32Array) < 1e-6, 'fixed-batch: the model\'s answer');

  // One dynamic dimension besides the batch: sized from the byte count.
  const values = Float32Array.from(randomRow(6, 10));
  const seq = await send(server.url, '/v2/models/seq/infer', RAW, bytesOf(values));
  t.equal(seq.status, 200, 'seq', { body: seq.body.toString().slice(0, 200) });
  const explicit = framed(
    { inputs: [{ name: 'x', shape: [1, 10], datatype: 'FP32', parameters: { binary_data_size: 40 } }], parameters: { binary_data_output: true } },
    [bytesOf(values)],
  );
  const ordinary = await send(server.url, '/v2/models/seq/infer', { 'inference-header-content-length': explicit.length }, explicit.body);
  t.equal(ordinary.status, 200);
  t.same(split(seq).json.outputs.map((o: any) => o.shape), [[1, 10], [1, 1]], '40 bytes of FP32 are [1,10]');
  t.same(split(seq).json, split(ordinary).json, 'the same answer header as the explicit [1,10] request');
  t.ok(split(seq).binary.equals(split(ordinary).binary), 'and the same tensors');

  // BYTES: one element, the whole body (Triton adds the length prefix).
  const word = Buffer.from('héllo, wörld', 'utf8');
  const text = await send(server.url, '/v2/models/text/infer', RAW, word);
  t.equal(text.status, 200, 'text', { body: text.body.toString().slice(0, 200) });
  t.same(split(text).json.outputs[0].shape, [1, 1]);
  t.ok(split(text).binary.equals(bytesElements(['héllo, wörld'])), 'the element comes back whole');

  // Models and bodies that do not fit: 400 saying why.
  const refusals: [string, string, Buffer, RegExp][] = [
    ['two inputs', '/v2/models/mixed/infer', Buffer.alloc(20), /needs a model with exactly one input; 'mixed' has 2 \(x, k\)/],
    ['two dynamic dimensions besides the batch', '/v2/models/image/infer', Buffer.alloc(3 * 8 * 8 * 4), /dimensions 2 and 3 are dynamic, and at most one may be besides the batch dimension 0/],
    ['wrong size for a fixed shape', '/v2/models/fixed/infer', Buffer.alloc(9604), /needs exactly 9600 bytes \(shape \[1,25,96\]\); the body has 9604/],
    ['wrong size for mlp', '/v2/models/mlp/infer', Buffer.alloc(100), /needs exactly 3136 bytes .*the body has 100/],
    ['not a whole number of elements', '/v2/models/seq/infer', Buffer.alloc(6), /needs a whole multiple of 4 bytes \(dimension 1 is sized from the body\); the body has 6/],
    ['BYTES of two elements', '/v2/models/pair/infer', Buffer.from('ab'), /to a BYTES input needs the input to hold one element/],
    ['an empty body', '/v2/models/mlp/infer', Buffer.alloc(0), /has an empty body/],
    ['the repository index', '/v2/repository/index', Buffer.alloc(8), /is only for inference/],
  ];
  for (const [what, route, body, message] of refusals) {
    const res = await send(server.url, route, RAW, body);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(json(res).code, 'FERRY_ERR_BODY_INVALID', `${what}: FERRY_ERR_BODY_INVALID`);
    t.match(json(res).error, message, `${what}: ${json(res).error}`);
  }
  for (const name of ['mixed', 'image', 'pair']) t.equal(server.pools.get(name)!.stats().replicas[0].rows, 0, `no refused raw request reached ${name}`);
});

t.test('an output requested twice is a 400 naming it and both places', async (t) => {
  const server = await startFerry(t, [{ name: 'mixed', model: modelPath('mixed-inputs.onnx') }]);
  const inputs = [
    { name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
    { name: 'k', shape: [1, 1], datatype: 'INT64', data: [2] },
  ];
  const res = await send(server.url, '/v2/models/mixed/infer', {}, JSON.stringify({ inputs, outputs: [{ name: 'next' }, { name: 'scaled' }, { name: 'next' }] }));
  t.equal(res.status, 400);
  t.equal(json(res).code, 'FERRY_ERR_INPUT_NAME');
  t.match(json(res).error, /output 'next' is requested twice \(outputs\[0\] and outputs\[2\]\)/);
  const once = await send(server.url, '/v2/models/mixed/infer', {}, JSON.stringify({ inputs, outputs: [{ name: 'next' }, { name: 'scaled' }] }));
  t.equal(once.status, 200, 'each once is fine');
  t.same(json(once).outputs.map((o: { name: string }) => o.name), ['next', 'scaled']);
});

t.test('WebSocket messages, text and binary, are answered as before', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/stream`, { perMessageDeflate: false });
  t.teardown(() => ws.close());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answers: any[] = [];
  const both = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) answers.push(JSON.parse(data.toString()));
      else {
        const length = data.readUInt32LE(0);
        answers.push({ ...JSON.parse(data.toString('utf8', 4, 4 + length)), binary: data.subarray(4 + length) });
      }
      if (answers.length === 2) resolve();
    }),
  );
  ws.send(JSON.stringify({ id: 'text', ...mlpJson }));
  const head = Buffer.from(JSON.stringify({ id: 'bin', ...JSON.parse(mlpBinary.body.toString('utf8', 0, Number(mlpBinary.length))) }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(head.length);
  ws.send(Buffer.concat([length, head, bytesOf(row)]));
  await both;
  const expected = await reference();
  const byId = new Map(answers.map((a) => [a.id, a]));
  t.ok(maxAbsDiff(byId.get('text').outputs[0].data, expected) < 1e-5, 'text message: the model\'s answer');
  t.ok(maxAbsDiff(f32(byId.get('bin').binary), expected) < 1e-5, 'binary message: the model\'s answer');
});
