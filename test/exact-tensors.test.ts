import ort from 'onnxruntime-node';
import t from 'tap';
import WebSocket from 'ws';
import { modelPath } from '../models/index.js';
import { bytesElements, bytesOf, postBinary } from './helpers/binary.js';
import { directRun, startFerry } from './helpers/ferry.js';

/** POSTs a JSON text body exactly as given and returns status and raw answer text. */
async function postText(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text() };
}

/** One WebSocket message sent, one answer read as text. */
async function wsRoundTrip(url: string, message: string | Buffer): Promise<string> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answer = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString('utf8'))));
  ws.send(message);
  const text = await answer;
  ws.close();
  return text;
}

/** The digits of an output's JSON data, read from the answer's text (JSON.parse would round them). */
function dataDigits(text: string, output: string): string {
  const m = text.match(new RegExp(`"name":"${output}"[^}]*?"data":\\[([^\\]]*)\\]`));
  return m ? m[1] : `(no data for ${output} in ${text.slice(0, 200)})`;
}

const INT64S = [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 53n) - 3n];
const UINT64S = [2n ** 64n - 1n, 2n ** 53n + 1n, 0n, 12345678901234567891n];

t.test('INT64 and UINT64 outputs are written to JSON as their exact digits, over HTTP and WebSocket', async (t) => {
  const server = await startFerry(t, [
    { name: 'int64', model: modelPath('identity-int64.onnx') },
    { name: 'uint64', model: modelPath('identity-uint64.onnx') },
  ]);
  for (const [type, values, typed] of [
    ['int64', INT64S, BigInt64Array.from(INT64S)],
    ['uint64', UINT64S, BigUint64Array.from(UINT64S)],
  ] as const) {
    const header = JSON.stringify({ inputs: [{ name: `in_${type}`, shape: [2, 2], datatype: type.toUpperCase(), parameters: { binary_data_size: 32 } }] });
    const res = await fetch(`${server.url}/v2/models/${type}/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([Buffer.from(header), bytesOf(typed)]),
    });
    const text = await res.text();
    t.equal(res.status, 200, text.slice(0, 200));
    t.equal(dataDigits(text, `out_${type}`), values.join(','), `${type}: digits exact over HTTP`);
    const message = `{"inputs":[{"name":"in_${type}","shape":[2,2],"datatype":"${type.toUpperCase()}","data":[${values.join(',')}]}]}`;
    const viaWs = await wsRoundTrip(`${server.url.replace('http', 'ws')}/v2/models/${type}/stream`, message);
    t.equal(dataDigits(viaWs, `out_${type}`), values.join(','), `${type}: digits exact over WebSocket, from JSON digits beyond ±2^53`);
  }
});

t.test('JSON integers beyond ±2^53 are taken exactly, or refused quoting the digits sent', async (t) => {
  const server = await startFerry(t, [
    { name: 'mixed', model: modelPath('mixed-inputs.onnx') },
    { name: 'int64', model: modelPath('identity-int64.onnx') },
    { name: 'uint64', model: modelPath('identity-uint64.onnx') },
    { name: 'int32', model: modelPath('identity-int32.onnx') },
  ]);
  const k = 2n ** 53n + 1n;
  const body = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},{"name":"k","shape":[1,1],"datatype":"INT64","data":[${k}]}]}`;
  const res = await postText(`${server.url}/v2/models/mixed/infer`, body);
  t.equal(res.status, 200, res.text.slice(0, 200));
  const want = await directRun('mixed-inputs.onnx', {
    x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]),
    k: new ort.Tensor('int64', BigInt64Array.of(k), [1, 1]),
  });
  t.equal(dataDigits(res.text, 'next'), String((want.next.data as BigInt64Array)[0]), 'k + 1 computed on the exact k');
  t.equal(dataDigits(res.text, 'next'), '9007199254740994');

  const post = (datatype: string, digits: string) => postText(`${server.url}/v2/models/${datatype.toLowerCase()}/infer`, idBody(datatype, digits));
  const idBody = (datatype: string, digits: string) =>
    `{"inputs":[{"name":"in_${datatype.toLowerCase()}","shape":[1,2],"datatype":"${datatype}","data":[${digits}]}],"outputs":[{"name":"out_${datatype.toLowerCase()}"}]}`;
  const extremes = await post('UINT64', '18446744073709551615,9007199254740993');
  t.equal(dataDigits(extremes.text, 'out_uint64'), '18446744073709551615,9007199254740993', 'UINT64 extremes round-trip');
  const ints = await post('INT64', '-9223372036854775808,9223372036854775807');
  t.equal(dataDigits(ints.text, 'out_int64'), '-9223372036854775808,9223372036854775807', 'INT64 limits round-trip');

  const refusals: [string, string, RegExp][] = [
    ['INT64', '1,9223372036854775808', /inputs\[0\]\.data element 1 is out of range for INT64 \(got 9223372036854775808\)/],
    ['UINT64', '18446744073709551616,1', /element 0 is out of range for UINT64 \(got 18446744073709551616\)/],
    ['UINT64', '1,-1', /element 1 is out of range for UINT64 \(got -1\)/],
    ['INT32', '1,12345678901234567890', /element 1 is out of range for INT32 \(got 12345678901234567890\)/],
    ['INT64', '1e20,1', /element 0 is beyond ±2\^53 and not written as an integer, so its exact value is unknown; write it as a plain integer for INT64 \(got 1e20\)/],
    ['INT64', '9007199254740993.0,1', /element 0 is beyond ±2\^53 and not written as an integer.* \(got 9007199254740993\.0\)/],
  ];
  for (const [datatype, digits, message] of refusals) {
    const r = await post(datatype, digits);
    t.equal(r.status, 400, `${datatype} [${digits}] refused`);
    t.match(JSON.parse(r.text).error, message);
  }
});

t.test('BYTES round-trip byte for byte, and elements onnxruntime would alter are refused', async (t) => {
  const server = await startFerry(t, [{ name: 'id', model: modelPath('identity-string.onnx') }]);
  const url = `${server.url}/v2/models/id/infer`;
  const strings = ['hello', '', 'é😀 ünïcödé', 'tab\tnewline\n', 'x'.repeat(1000), '{"json":true}'];
  const bytes = bytesElements(strings);
  const input = (size: number) => ({
    inputs: [{ name: 'in_string', shape: [3, 2], datatype: 'BYTES', parameters: { binary_data_size: size } }],
    outputs: [{ name: 'out_string', parameters: { binary_data: true } }],
  });
  const res = await postBinary(url, input(bytes.length), [bytes]);
  t.equal(res.status, 200);
  t.ok(res.binary.equals(bytes), 'the binary answer is the request bytes, byte for byte');
  const viaJson = await postText(url, JSON.stringify({ inputs: [{ name: 'in_string', shape: [3, 2], datatype: 'BYTES', data: strings }] }));
  t.same(JSON.parse(viaJson.text).outputs[0].data, strings, 'JSON strings round-trip');

  const element = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return Buffer.concat([len, b]);
  };
  const withNul = Buffer.concat([element(Buffer.from('ok')), element(Buffer.from('he\0llo'))]);
  const nul = await postBinary(url, { inputs: [{ name: 'in_string', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: withNul.length } }] }, [withNul]);
  t.equal(nul.status, 400);
  t.equal(nul.json.code, 'FERRY_ERR_INPUT_DATA');
  t.match(nul.json.error, /inputs\[0\]: BYTES element 1 has a NUL byte at offset 2/);
  const badUtf8 = Buffer.concat([element(Buffer.from([0x61, 0xff, 0xfe])), element(Buffer.from('ok'))]);
  const invalid = await postBinary(url, { inputs: [{ name: 'in_string', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: badUtf8.length } }] }, [badUtf8]);
  t.equal(invalid.status, 400);
  t.match(invalid.json.error, /BYTES element 0 is not valid UTF-8/);
  for (const [what, raw, message] of [
    ['a NUL in a JSON string', '"he\\u0000llo"', /element 1 contains a NUL character at position 2/],
    ['a lone surrogate', '"\\ud800x"', /element 1 contains a lone UTF-16 surrogate/],
  ] as const) {
    const r = await postText(url, `{"inputs":[{"name":"in_string","shape":[1,2],"datatype":"BYTES","data":["ok",${raw}]}]}`);
    t.equal(r.status, 400, what);
    t.match(JSON.parse(r.text).error, message, what);
  }
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'in_string', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: withNul.length } }] }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const wsAnswer = JSON.parse(await wsRoundTrip(`${server.url.replace('http', 'ws')}/v2/models/id/stream`, Buffer.concat([length, header, withNul])));
  t.equal(wsAnswer.code, 'FERRY_ERR_INPUT_DATA', 'WebSocket: refused the same way');
  t.match(wsAnswer.error, /BYTES element 1 has a NUL byte/);
});

t.test('NaN, ±Infinity and -0 outputs are written as Triton writes them, never as null or 0', async (t) => {
  const server = await startFerry(t, [{ name: 'f32', model: modelPath('identity-float32.onnx') }]);
  const values = Float32Array.of(NaN, Infinity, -Infinity, -0, 1.5, -2);
  const header = JSON.stringify({ inputs: [{ name: 'in_float32', shape: [3, 2], datatype: 'FP32', parameters: { binary_data_size: 24 } }] });
  const res = await fetch(`${server.url}/v2/models/f32/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([Buffer.from(header), bytesOf(values)]),
  });
  const text = await res.text();
  t.equal(res.status, 200);
  t.equal(dataDigits(text, 'out_float32'), 'NaN,Infinity,-Infinity,-0,1.5,-2', "rapidjson's kWriteNanAndInfFlag tokens");
  const finite = await postText(`${server.url}/v2/models/f32/infer`, '{"inputs":[{"name":"in_float32","shape":[1,2],"datatype":"FP32","data":[0.5,-1]}]}');
  t.equal(dataDigits(finite.text, 'out_float32'), '0.5,-1', 'finite values are plain JSON numbers');
  const overflow = await postText(`${server.url}/v2/models/f32/infer`, '{"inputs":[{"name":"in_float32","shape":[1,2],"datatype":"FP32","data":[1e39,1]}]}');
  t.equal(overflow.status, 400, 'a JSON value beyond FP32 is refused, not turned into Infinity');
  t.match(JSON.parse(overflow.text).error, /element 0 is beyond the largest finite FP32/);
});

t.test('JSON that is not UTF-8 is refused, since decoding it would alter BYTES elements', async (t) => {
  const server = await startFerry(t, [{ name: 'id', model: modelPath('identity-string.onnx') }]);
  const latin1 = Buffer.concat([Buffer.from('{"inputs":[{"name":"in_string","shape":[1,2],"datatype":"BYTES","data":["caf'), Buffer.from([0xe9]), Buffer.from('","z"]}]}')]);
  const res = await fetch(`${server.url}/v2/models/id/infer`, { method: 'POST', body: latin1 });
  const body = await res.json();
  t.equal(res.status, 400);
  t.equal(body.code, 'FERRY_ERR_BODY_INVALID');
  t.match(body.error, /the JSON body is not valid UTF-8/);
  const inHeader = await fetch(`${server.url}/v2/models/id/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(latin1.length) },
    body: latin1,
  });
  t.equal(inHeader.status, 400, 'the JSON header of a binary request too');
  t.match((await inHeader.json()).error, /the JSON header is not valid UTF-8/);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(latin1.length);
  const viaWs = JSON.parse(await wsRoundTrip(`${server.url.replace('http', 'ws')}/v2/models/id/stream`, Buffer.concat([length, latin1])));
  t.equal(viaWs.code, 'FERRY_ERR_MESSAGE_INVALID');
  t.match(viaWs.error, /message header is not valid UTF-8/);
  const noHeader = JSON.parse(await wsRoundTrip(`${server.url.replace('http', 'ws')}/v2/models/id/stream`, Buffer.alloc(4)));
  t.equal(noHeader.code, 'FERRY_ERR_MESSAGE_INVALID');
  t.match(noHeader.error, /a binary message needs a JSON header \(its length is 0\)/);
});

t.test('nested data must follow the shape; any level may hold the rest flattened', async (t) => {
  const server = await startFerry(t, [{ name: 'f32', model: modelPath('identity-float32.onnx') }]);
  const send = (shape: number[], data: unknown) =>
    postText(`${server.url}/v2/models/f32/infer`, JSON.stringify({ inputs: [{ name: 'in_float32', shape, datatype: 'FP32', data }] }));
  for (const data of [[1, 2, 3, 4, 5, 6], [[1, 2], [3, 4], [5, 6]]]) {
    const ok = await send([3, 2], data);
    t.equal(dataDigits(ok.text, 'out_float32'), '1,2,3,4,5,6', `${JSON.stringify(data)} is read row-major`);
  }
  const refused: [number[], unknown, RegExp][] = [
    [[3, 2], [[1, 2, 3], [4, 5, 6]], /does not follow shape \[3,2\]: an array at depth 0 holds 2 items where dimension 0 is 3/],
    [[3, 2], [[1, 2], [3, 4, 5], [6]], /an array at depth 1 holds 3 items where it should hold 2 values/],
    [[3, 2], [[1, 2], 3, 4, [5, 6]], /does not follow shape|mixes arrays and values/],
    [[3, 2], [[[1, 2], [3, 4], [5, 6]]], /an array at depth 0 holds 1 items where dimension 0 is 3/],
  ];
  for (const [shape, data, message] of refused) {
    const r = await send(shape, data);
    t.equal(r.status, 400, `${JSON.stringify(data)} refused`);
    t.match(JSON.parse(r.text).error, message);
  }
});

t.test('parameters with a meaning must have their type; the classification extension is refused, not ignored', async (t) => {
  const server = await startFerry(t, [{ name: 'f32', model: modelPath('identity-float32.onnx') }]);
  const input = { name: 'in_float32', shape: [1, 2], datatype: 'FP32', data: [1, 2] };
  const cases: [string, unknown, RegExp][] = [
    ['binary_data: "yes"', { inputs: [input], outputs: [{ name: 'out_float32', parameters: { binary_data: 'yes' } }] }, /binary_data/],
    ['binary_data_output: 1', { inputs: [input], parameters: { binary_data_output: 1 } }, /binary_data_output/],
    ['classification', { inputs: [input], outputs: [{ name: 'out_float32', parameters: { classification: 3 } }] }, /does not implement the classification extension/],
  ];
  for (const [what, body, message] of cases) {
    const r = await postText(`${server.url}/v2/models/f32/infer`, JSON.stringify(body));
    t.equal(r.status, 400, what);
    t.match(JSON.parse(r.text).error, message, what);
  }
  const index = await postText(`${server.url}/v2/repository/index`, '{"ready":"yes"}');
  t.equal(index.status, 400);
  t.match(JSON.parse(index.text).error, /ready must be true or false \(got "yes"\)/);
  const big = await postText(
    `${server.url}/v2/models/f32/infer`,
    '{"inputs":[{"name":"in_float32","shape":[1,2],"datatype":"FP32","data":[1e20,2]}]}',
  );
  t.equal(big.status, 200, 'a float input takes 1e20 as a number');
});
