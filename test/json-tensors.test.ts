import t from 'tap';
import { decodeInferRequest, encodeInferResponse, type InferenceTarget } from '../gateway/index.js';
import type { ModelMetadata, TensorDtype } from '../replicas/index.js';

const meta = (dtype: TensorDtype): ModelMetadata => ({
  inputs: [{ name: 'v', dtype, shape: [-1, 3], dimParams: ['batch', null] }],
  outputs: [{ name: 'v', dtype, shape: [-1, 3], dimParams: ['batch', null] }],
});
// The codec reads only a target's name, version and metadata.
const target = (dtype: TensorDtype) => ({ name: 'm', version: null, metadata: meta(dtype), batching: true }) as unknown as InferenceTarget;
const parse = (datatype: string, dtype: TensorDtype, data: unknown) =>
  decodeInferRequest({ inputs: [{ name: 'v', shape: [1, 3], datatype, data }] }, null, target(dtype), 1e6);

t.test('each numeric datatype lands in its typed array and round-trips to JSON', async (t) => {
  const cases: [string, TensorDtype, unknown[], string][] = [
    ['FP32', 'float32', [0.5, -1, 3], 'Float32Array'],
    ['FP64', 'float64', [0.1, -1e300, 3], 'Float64Array'],
    ['INT32', 'int32', [-2147483648, 0, 2147483647], 'Int32Array'],
    ['INT64', 'int64', [-(2 ** 53) + 1, 0, 2 ** 53 - 1], 'BigInt64Array'],
    ['INT8', 'int8', [-128, 0, 127], 'Int8Array'],
    ['INT16', 'int16', [-32768, 1, 32767], 'Int16Array'],
    ['UINT8', 'uint8', [0, 1, 255], 'Uint8Array'],
    ['UINT16', 'uint16', [0, 1, 65535], 'Uint16Array'],
    ['UINT32', 'uint32', [0, 1, 4294967295], 'Uint32Array'],
    ['UINT64', 'uint64', [0, 1, 2 ** 53 - 1], 'BigUint64Array'],
    ['BOOL', 'bool', [true, false, true], 'Uint8Array'],
    ['FP16', 'float16', [0.5, -2, 65504], 'Uint16Array'],
    ['BYTES', 'string', ['a', 'é', ''], 'Array'],
  ];
  for (const [datatype, dtype, data, arrayType] of cases) {
    const { tensors, rows } = parse(datatype, dtype, data);
    t.equal(rows, 1);
    t.equal(tensors.v.data.constructor.name, arrayType, `${datatype} in ${arrayType}`);
    const encoded = encodeInferResponse(target(dtype), undefined, tensors, [{ name: 'v', binary: false }]);
    t.same(JSON.parse(encoded.text).outputs[0], { name: 'v', datatype, shape: [1, 3], data }, `${datatype} round-trips`);
  }
});

t.test('integer datatypes refuse fractions and out-of-range values', async (t) => {
  t.throws(() => parse('INT32', 'int32', [2147483648, 0, 0]), { code: 'FERRY_ERR_INPUT_DATA', message: /out of range for INT32/ });
  t.throws(() => parse('UINT8', 'uint8', [-1, 0, 0]), { message: /out of range for UINT8/ });
  // Parsed without its source text, 2^60's digits cannot be recovered: refused rather than rounded.
  t.throws(() => parse('INT64', 'int64', [2 ** 60, 0, 0]), { message: /element 0 is beyond ±2\^53 and cannot be read exactly for INT64/ });
  t.throws(() => parse('INT32', 'int32', [0.5, 0, 0]), { message: /must be an integer for INT32/ });
  t.throws(() => parse('BOOL', 'bool', [1, 0, 0]), { message: /must be true or false/ });
  t.throws(() => parse('FP32', 'float32', [null, 0, 0]), { message: /element 0 must be a number \(got null\)/ });
});

t.test('FP16 rounds to the nearest half-precision value', async (t) => {
  const { tensors } = parse('FP16', 'float16', [0.1, 1e-8, 65504]);
  const encoded = encodeInferResponse(target('float16'), undefined, tensors, [{ name: 'v', binary: false }]);
  const data = (JSON.parse(encoded.text).outputs as { data: number[] }[])[0].data;
  t.ok(Math.abs(data[0] - 0.1) < 1e-4, `0.1 → ${data[0]}`);
  t.equal(data[1], 0, 'below the smallest subnormal → 0');
  t.equal(data[2], 65504, 'the largest half-precision value is kept');
  // Just above the midpoint of 1 and 1 + 2^-10: rounding through float32 first would land on the midpoint and round down to 1.
  const above = parse('FP16', 'float16', [1 + 2 ** -11 + 2 ** -40, 0, 0]).tensors.v.data as Uint16Array;
  t.equal(above[0], 0x3c01, 'a double rounds straight to half precision (no double rounding)');
  t.throws(() => parse('FP16', 'float16', [0, 1e6, 0]), { message: /element 1 is beyond the largest finite FP16 \(got 1000000\)/ }, 'overflow is refused, not turned into Infinity');
  t.throws(() => parse('FP32', 'float32', [0, 0, 1e39]), { message: /element 2 is beyond the largest finite FP32 \(got 1e\+39\)/ });
  t.throws(() => parse('FP64', 'float64', [Infinity, 0, 0]), { message: /element 0 is beyond the largest finite FP64/ });
});
