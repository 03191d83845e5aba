import t from 'tap';
import { bytesElements, bytesOf, postBinary } from './helpers/binary.js';
import { postJson, randomRow, startFerry } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

/** Two rows of two values for every datatype the identity model passes through (FP16 values are exact in half precision). */
const VALUES: Record<string, { datatype: string; data: unknown[]; bytes: Buffer }> = {
  bool: { datatype: 'BOOL', data: [true, false, false, true], bytes: bytesOf(Uint8Array.from([1, 0, 0, 1])) },
  uint8: { datatype: 'UINT8', data: [0, 1, 200, 255], bytes: bytesOf(Uint8Array.from([0, 1, 200, 255])) },
  uint16: { datatype: 'UINT16', data: [0, 1, 60000, 65535], bytes: bytesOf(Uint16Array.from([0, 1, 60000, 65535])) },
  uint32: { datatype: 'UINT32', data: [0, 1, 4e9, 4294967295], bytes: bytesOf(Uint32Array.from([0, 1, 4e9, 4294967295])) },
  uint64: { datatype: 'UINT64', data: [0, 1, 2 ** 40, 2 ** 53 - 1], bytes: bytesOf(BigUint64Array.from([0n, 1n, 2n ** 40n, 2n ** 53n - 1n])) },
  int8: { datatype: 'INT8', data: [-128, -1, 0, 127], bytes: bytesOf(Int8Array.from([-128, -1, 0, 127])) },
  int16: { datatype: 'INT16', data: [-32768, -1, 0, 32767], bytes: bytesOf(Int16Array.from([-32768, -1, 0, 32767])) },
  int32: { datatype: 'INT32', data: [-2147483648, -1, 0, 2147483647], bytes: bytesOf(Int32Array.from([-2147483648, -1, 0, 2147483647])) },
  int64: { datatype: 'INT64', data: [-(2 ** 53) + 1, -1, 0, 2 ** 53 - 1], bytes: bytesOf(BigInt64Array.from([-(2n ** 53n) + 1n, -1n, 0n, 2n ** 53n - 1n])) },
  float16: { datatype: 'FP16', data: [0.5, -2, 1024, 0.25], bytes: bytesOf(Uint16Array.from([0x3800, 0xc000, 0x6400, 0x3400])) },
  float32: { datatype: 'FP32', data: [0.5, -1.25, 3e38, 1e-30], bytes: bytesOf(Float32Array.from([0.5, -1.25, 3e38, 1e-30])) },
  float64: { datatype: 'FP64', data: [0.1, -1e300, 5e-324, 2], bytes: bytesOf(Float64Array.from([0.1, -1e300, 5e-324, 2])) },
  string: { datatype: 'BYTES', data: ['a', 'héllo', '', 'z'], bytes: bytesElements(['a', 'héllo', '', 'z']) },
};
const TYPES = Object.keys(VALUES);
const json = (v: (typeof VALUES)[string]) => (v.datatype === 'FP32' ? v.data.map((x) => Math.fround(x as number)) : v.data);

t.test('the REST surface of the Open Inference Protocol, every datatype, JSON and binary', async (t) => {
  const server = await startFerry(t, [
    { name: 'identity', model: modelPath('identity-all.onnx'), version: '2', routePrefix: '/id' },
    { name: 'mlp', model: modelPath('mlp.onnx') },
  ]);
  const base = server.url;

  const meta = await (await fetch(`${base}/v2`)).json();
  t.equal(meta.name, 'ferry');
  t.match(meta.version, /^\d+\.\d+\.\d+/);
  t.ok(meta.extensions.includes('binary_tensor_data'), 'binary extension advertised');
  t.equal((await fetch(`${base}/v2/health/live`)).status, 200);
  t.equal((await fetch(`${base}/v2/health/ready`)).status, 200);

  const model = await (await fetch(`${base}/v2/models/identity`)).json();
  t.same(model.versions, ['2']);
  t.equal(model.inputs.length, TYPES.length);
  t.same(model.inputs.find((i: { name: string }) => i.name === 'in_float16'), { name: 'in_float16', datatype: 'FP16', shape: [-1, 2] });
  t.same(await (await fetch(`${base}/v2/models/identity/versions/2`)).json(), model, 'metadata under its version');
  t.same(await (await fetch(`${base}/id`)).json(), model, 'metadata under the route prefix');
  const wrongVersion = await fetch(`${base}/v2/models/identity/versions/3`);
  t.equal(wrongVersion.status, 404);
  t.equal((await wrongVersion.json()).code, 'FERRY_ERR_MODEL_VERSION_NOT_FOUND');
  t.equal((await fetch(`${base}/v2/models/identity/versions/2/ready`)).status, 200);
  t.equal((await fetch(`${base}/v2/models/identity/versions/3/ready`)).status, 404);
  t.equal((await fetch(`${base}/v2/models/mlp/versions/1`)).status, 404, 'an unversioned model has no versions');

  const index = await postJson(`${base}/v2/repository/index`, {});
  t.same(index.body, [
    { name: 'identity', version: '2', state: 'READY', reason: '' },
    { name: 'mlp', version: '', state: 'READY', reason: '' },
  ]);

  // JSON: every datatype in one request, echoed back with model_version and id.
  const jsonInputs = TYPES.map((k) => ({ name: `in_${k}`, shape: [2, 2], datatype: VALUES[k].datatype, data: VALUES[k].data }));
  const viaJson = await postJson(`${base}/v2/models/identity/versions/2/infer`, { id: 'j1', parameters: { anything: 1 }, inputs: jsonInputs });
  t.equal(viaJson.status, 200, JSON.stringify(viaJson.body).slice(0, 200));
  t.equal(viaJson.body.model_version, '2');
  t.equal(viaJson.body.id, 'j1');
  for (const k of TYPES) {
    const out = viaJson.body.outputs.find((o: { name: string }) => o.name === `out_${k}`);
    t.same(out, { name: `out_${k}`, datatype: VALUES[k].datatype, shape: [2, 2], data: json(VALUES[k]) }, `${VALUES[k].datatype} through JSON`);
  }

  // Binary: every input binary, every output binary; the bytes come back unchanged.
  const binInputs = TYPES.map((k) => ({ name: `in_${k}`, shape: [2, 2], datatype: VALUES[k].datatype, parameters: { binary_data_size: VALUES[k].bytes.length } }));
  const viaBinary = await postBinary(`${base}/id/infer`, { id: 'b1', inputs: binInputs, parameters: { binary_data_output: true } }, TYPES.map((k) => VALUES[k].bytes));
  t.equal(viaBinary.status, 200);
  t.equal(viaBinary.headers.get('content-type'), 'application/octet-stream');
  let offset = 0;
  for (const out of viaBinary.json.outputs as { name: string; parameters: { binary_data_size: number } }[]) {
    const k = out.name.slice(4);
    const size = out.parameters.binary_data_size;
    t.ok(viaBinary.binary.subarray(offset, offset + size).equals(VALUES[k].bytes), `${VALUES[k].datatype} bytes round-trip`);
    offset += size;
  }
  t.equal(offset, viaBinary.binary.length, 'the binary part holds exactly the outputs');

  // Mixed: some inputs binary, some JSON; some outputs binary, some JSON; only the outputs asked for.
  const mixed = await postBinary(
    `${base}/v2/models/identity/infer`,
    {
      inputs: TYPES.map((k, i) => (i % 2 === 0 ? binInputs[i] : jsonInputs[i])),
      outputs: [{ name: 'out_int32', parameters: { binary_data: true } }, { name: 'out_string' }],
    },
    TYPES.filter((_, i) => i % 2 === 0).map((k) => VALUES[k].bytes),
  );
  t.equal(mixed.status, 200);
  t.same(mixed.json.outputs.map((o: { name: string }) => o.name), ['out_int32', 'out_string'], 'only the requested outputs');
  t.ok(mixed.binary.equals(VALUES.int32.bytes), 'the binary output');
  t.same(mixed.json.outputs[1].data, VALUES.string.data, 'the JSON output');

  // The MLP gives identical logits whichever way its input travels.
  const row = Float32Array.from(randomRow(9, 784));
  const a = await postJson(`${base}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: Array.from(row) }] });
  const b = await postBinary(
    `${base}/v2/models/mlp/infer`,
    { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 784 * 4 } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] },
    [bytesOf(row)],
  );
  const logits = new Float32Array(b.binary.buffer.slice(b.binary.byteOffset, b.binary.byteOffset + b.binary.length));
  t.same(Array.from(logits), a.body.outputs[0].data, 'binary and JSON paths agree exactly');
});

t.test('invalid requests of the extended surface are 400s naming the problem', async (t) => {
  const server = await startFerry(t, [
    { name: 'identity', model: modelPath('identity-all.onnx') },
    { name: 'mlp', model: modelPath('mlp.onnx') },
  ]);
  const url = `${server.url}/v2/models/mlp/infer`;
  const f32 = (n: number) => bytesOf(new Float32Array(n));
  const input = (size: number) => ({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: size } }] });
  const cases: [string, Promise<{ status: number; json: any }>, string, RegExp][] = [
    ['BYTES to an FP32 input', postBinary(url, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'BYTES', data: ['x'] }] }, []), 'FERRY_ERR_INPUT_DATATYPE', /is BYTES but input 'input' takes FP32/],
    ['size that does not fit the shape', postBinary(url, input(100), [f32(25)]), 'FERRY_ERR_INPUT_DATA', /binary_data_size is 100 bytes but shape and datatype need 3136/],
    ['size past the end', postBinary(url, input(3136), [f32(10)]), 'FERRY_ERR_INPUT_DATA', /runs past the end of the body/],
    ['bytes left over', postBinary(url, input(3136), [f32(785)]), 'FERRY_ERR_INPUT_DATA', /4 bytes of binary data beyond/],
    ['header length past the body', postBinary(url, input(3136), [f32(784)], 1e7), 'FERRY_ERR_BODY_INVALID', /Inference-Header-Content-Length must be an integer/],
    ['header length cuts the JSON', postBinary(url, input(3136), [f32(784)], 20), 'FERRY_ERR_BODY_INVALID', /JSON header is not valid JSON/],
    ['binary size without binary data', postJson(url, input(3136)).then((r) => ({ status: r.status, json: r.body })), 'FERRY_ERR_INPUT_DATA', /carries no binary data/],
    ['neither data nor size', postJson(url, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32' }] }).then((r) => ({ status: r.status, json: r.body })), 'FERRY_ERR_INPUT_DATA', /neither data nor parameters\.binary_data_size/],
    ['truncated BYTES element', postBinary(`${server.url}/v2/models/identity/infer`, { inputs: [{ name: 'in_string', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: 6 } }] }, [Buffer.from([5, 0, 0, 0, 65, 66])]), 'FERRY_ERR_INPUT_DATA', /runs past its binary_data_size/],
  ];
  for (const [what, pending, code, message] of cases) {
    const res = await pending;
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.json.code, code, `${what}: ${code}`);
    t.match(res.json.error, message, `${what}: ${res.json.error}`);
  }
});
