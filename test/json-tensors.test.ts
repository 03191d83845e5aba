import t from 'tap';
import { decodeInferRequest, encodeInferResponse, type InferenceTarget } from '../gateway/index.js';
import type { ModelMetadata, TensorData, TensorDtype } from '../replicas/index.js';
import { InputDataError } from '../errors.js';
import { BYTES_LIMITATION, InexactNumberError, jsonToTensorData, unsafeBytesElement } from '../gateway/json-tensors.js';
import { SourceNumber, rememberJsonSource, reparseExact } from '../gateway/json-source.js';

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

/*
 * jsonToTensorData on its own. Every refusal is compared in full: a test that
 * only sees that something throws lets a changed message or datatype name through.
 */

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const write = (dtype: TensorDtype, data: unknown, shape: readonly number[], at = 'inputs[0]'): TensorData =>
  jsonToTensorData(at, dtype, data, elements(shape), shape);
// strictSame, not same: tap's same holds 1 and 1n equal, and the int64 arrays must hold bigints.
const stored = (data: TensorData): unknown[] => Array.from(data as ArrayLike<unknown>);

/** What `fn` throws, as a string a test can compare whole: an InputDataError's message, or an InexactNumberError's name and message. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputDataError) return (err as Error).message;
    if (err instanceof InexactNumberError) return `${err.name}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}
const refused = (dtype: TensorDtype, data: unknown, shape: readonly number[], at?: string) => refusal(() => write(dtype, data, shape, at));

/** The elements of `data` in `{"inputs":[{"data": data}]}` as the exact re-read gives them: bigints beyond ±2^53, SourceNumbers where digits are lost. */
function exactData(data: string): unknown[] {
  const header = {};
  rememberJsonSource(header, `{"inputs":[{"data":${data}}]}`);
  return (reparseExact(header)!.inputs[0] as { data: unknown[] }).data;
}

t.test('InexactNumberError names the input, the element and the problem', async (t) => {
  const err = new InexactNumberError('inputs[2]', 7, 'is too odd');
  t.ok(err instanceof Error);
  t.equal(err.name, 'InexactNumberError');
  t.equal(err.message, 'inputs[2].data element 7 is too odd');
  t.equal(err.at, 'inputs[2]');
  t.equal(err.element, 7);
  t.equal(err.problem, 'is too odd');
});

t.test('refusals are InputDataErrors with their code and a 400', async (t) => {
  let err: unknown;
  try {
    write('float32', 'x', [1]);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof InputDataError);
  t.match(err, { code: 'FERRY_ERR_INPUT_DATA', statusCode: 400 });
});

t.test('unsafeBytesElement: NUL characters and lone surrogates', async (t) => {
  t.equal(unsafeBytesElement(''), null);
  t.equal(unsafeBytesElement('plain text'), null);
  t.equal(unsafeBytesElement('é\u00ff\uffff'), null);
  // A surrogate pair is one code point (😀), valid UTF-8: each half must see the other.
  t.equal(unsafeBytesElement('\uD83D\uDE00'), null);
  t.equal(unsafeBytesElement('a\uD83D\uDE00b\uDBFF\uDFFF'), null);

  t.equal(unsafeBytesElement('\0'), 'contains a NUL character at position 0');
  t.equal(unsafeBytesElement('\0abc'), 'contains a NUL character at position 0');
  t.equal(unsafeBytesElement('ab\0'), 'contains a NUL character at position 2');
  t.equal(unsafeBytesElement('a\0b\0'), 'contains a NUL character at position 1', 'the first NUL is named');
  t.equal(unsafeBytesElement('\uD800\0'), 'contains a NUL character at position 1', 'a NUL is named before a lone surrogate');

  const lone = 'contains a lone UTF-16 surrogate, which is not valid UTF-8';
  t.equal(unsafeBytesElement('\uD83D'), lone, 'high surrogate at the end');
  t.equal(unsafeBytesElement('\uD800x'), lone, 'high surrogate before a letter');
  t.equal(unsafeBytesElement('\uDBFF\uD800'), lone, 'high surrogate before another high surrogate');
  t.equal(unsafeBytesElement('\uDE00'), lone, 'low surrogate at the start');
  t.equal(unsafeBytesElement('x\uDC00'), lone, 'low surrogate after a letter');
  t.equal(unsafeBytesElement('\uDE00\uD83D'), lone, 'a pair in the wrong order');
  t.equal(unsafeBytesElement('\uD83D\uD83D\uDE00'), lone, 'a high surrogate before a valid pair');
  t.equal(unsafeBytesElement('\uD83D\uDE00\uDE00'), lone, 'a low surrogate after a valid pair');
  t.equal(BYTES_LIMITATION, "onnxruntime's string tensors carry UTF-8 text without NUL bytes");
});

t.test('data must be an array', async (t) => {
  for (const data of [5, 'abc', null, true, { length: 3, 0: 1, 1: 2, 2: 3 }]) {
    t.equal(refused('float32', data, [3], 'inputs[4]'), 'inputs[4].data must be an array', JSON.stringify(data));
  }
  t.equal(refused('string', 'abc', [3]), 'inputs[0].data must be an array', 'a string is not read as its characters');
});

t.test('flat data, scalars and empty tensors', async (t) => {
  const flat = write('float32', [0.5, -1, 0.1], [3]);
  t.equal(flat.constructor, Float32Array);
  t.strictSame(stored(flat), [0.5, -1, 0.10000000149011612]);
  t.strictSame(stored(write('float64', [7], [])), [7], 'shape [] holds one value');
  t.strictSame(stored(write('float64', [2, 3, 4, 5, 6, 7], [2, 3])), [2, 3, 4, 5, 6, 7], 'flat data for a nested shape');
  t.strictSame(stored(write('float64', [], [0])), []);
  t.strictSame(stored(write('float64', [], [2, 0])), []);
  t.strictSame(stored(write('float64', [[], []], [2, 0])), [], 'nested empty rows of a zero-width shape');
  t.strictSame(stored(write('bool', [true, false, true], [3])), [1, 0, 1]);
  const bytes = write('string', ['a', 'é', '', '\uD83D\uDE00'], [4]);
  t.ok(Array.isArray(bytes));
  t.strictSame(bytes, ['a', 'é', '', '\uD83D\uDE00']);
});

t.test('nested data follows the shape, flattened at any level', async (t) => {
  const values = Array.from({ length: 24 }, (_, i) => i);
  const rows = <T,>(n: number, from: T[]): T[][] => Array.from({ length: from.length / n }, (_, i) => from.slice(i * n, i * n + n));
  // [2,3,4] four ways: fully nested, each half flat, flat, and halves nested differently.
  const full = rows(3, rows(4, values));
  t.equal(JSON.stringify(full[1][2]), '[20,21,22,23]');
  t.strictSame(stored(write('float64', full, [2, 3, 4])), values, 'fully nested');
  t.strictSame(stored(write('float64', rows(12, values), [2, 3, 4])), values, 'two arrays of 12');
  t.strictSame(stored(write('float64', values, [2, 3, 4])), values, '24 flat values');
  t.strictSame(stored(write('float64', [full[0], values.slice(12)], [2, 3, 4])), values, 'one half nested, the other flat');
  t.strictSame(stored(write('float64', [[1, 2, 3], [4, 5, 6]], [2, 3])), [1, 2, 3, 4, 5, 6]);
  t.strictSame(stored(write('float64', [[[1, 2]]], [1, 1, 2])), [1, 2]);
  t.strictSame(stored(write('float64', [[5], [6]], [2, 1])), [5, 6]);
});

t.test('nesting that does not follow the shape is refused', async (t) => {
  t.equal(refused('float32', [[1, 2, 3]], [2, 3]), 'inputs[0].data does not follow shape [2,3]: an array at depth 0 holds 1 items where dimension 0 is 2');
  t.equal(
    refused('float32', [[1, 2, 3], [4, 5, 6], [7, 8, 9]], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 0 holds 3 items where dimension 0 is 2',
  );
  // Transposed: the right total, read in the wrong order if it were taken.
  t.equal(
    refused('float32', [[1, 2], [3, 4], [5, 6]], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 0 holds 3 items where dimension 0 is 2',
  );
  t.equal(
    refused('float32', [[1, 2], [3, 4, 5, 6]], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 1 holds 2 items where it should hold 3 values, or be nested further',
  );
  t.equal(
    refused('float32', [[1, 2, 3, 4], [5, 6]], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 1 holds 4 items where it should hold 3 values, or be nested further',
  );
  t.equal(
    refused('float32', [[], [1, 2, 3]], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 1 holds 0 items where it should hold 3 values, or be nested further',
  );
  t.equal(
    refused('float32', [[1, 2, 3], []], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 1 holds 0 items where it should hold 3 values, or be nested further',
  );
  const four = [1, 2, 3, 4];
  t.equal(
    refused('float32', [[four, four], [four, four]], [2, 3, 4]),
    'inputs[0].data does not follow shape [2,3,4]: an array at depth 1 holds 2 items where dimension 1 is 3',
  );
  t.equal(
    refused('float32', [[four, four, four], [four, four, [1, 2, 3]]], [2, 3, 4]),
    'inputs[0].data does not follow shape [2,3,4]: an array at depth 2 holds 3 items where it should hold 4 values, or be nested further',
  );
  t.equal(
    refused('float32', [[four, four, four], four], [2, 3, 4]),
    'inputs[0].data does not follow shape [2,3,4]: an array at depth 1 holds 4 items where it should hold 12 values, or be nested further',
  );
  // Deeper than the shape.
  t.equal(refused('float32', [[[1]], [[2]]], [2]), 'inputs[0].data does not follow shape [2]: an array at depth 1 holds 1 items where the shape has no more dimensions');
  t.equal(refused('float32', [[5]], []), 'inputs[0].data does not follow shape []: an array at depth 1 holds 1 items where the shape has no more dimensions');
  t.equal(
    refused('float32', [[[[1, 2]]]], [1, 1, 2]),
    'inputs[0].data does not follow shape [1,1,2]: an array at depth 3 holds 2 items where the shape has no more dimensions',
  );
  // One level of single-value arrays below the last dimension is as much deeper than the shape as any other.
  t.equal(refused('float32', [[1], [2], [3]], [3]), 'inputs[0].data does not follow shape [3]: an array at depth 1 holds 1 items where the shape has no more dimensions');
  t.equal(
    refused('float32', [[[1], [2], [3]], [[4], [5], [6]]], [2, 3]),
    'inputs[0].data does not follow shape [2,3]: an array at depth 2 holds 1 items where the shape has no more dimensions',
  );
  t.equal(refused('float32', [[1, 2, 3]], [2, 3], 'inputs[5]'), 'inputs[5].data does not follow shape [2,3]: an array at depth 0 holds 1 items where dimension 0 is 2');
});

t.test('arrays and values mixed in one array are refused', async (t) => {
  t.equal(refused('float32', [[1, 2, 3], 4], [2, 3]), 'inputs[0].data mixes arrays and values in one array at depth 0');
  t.equal(refused('float32', [1, 2, 3, 4, 5, [6]], [2, 3]), 'inputs[0].data mixes arrays and values in one array at depth 0');
  t.equal(refused('float32', [[1, 2, [3]], [4, 5, 6]], [2, 3]), 'inputs[0].data mixes arrays and values in one array at depth 1');
  t.equal(refused('float32', [[[1, [2]]]], [1, 1, 2]), 'inputs[0].data mixes arrays and values in one array at depth 2');
  t.equal(
    refused('float32', [[1], new SourceNumber('1e20')], [2, 1]),
    'inputs[0].data mixes arrays and values in one array at depth 0',
    'a SourceNumber is a value',
  );
});

t.test('the element count must match the shape', async (t) => {
  t.equal(refused('float32', [1, 2, 3, 4], [3]), 'inputs[0].data has more than the 3 elements its shape declares');
  // Counted before the extra element is looked at.
  t.equal(refused('float32', [1, 2, 3, 'x'], [3]), 'inputs[0].data has more than the 3 elements its shape declares');
  t.equal(refused('string', ['a', 'b', 'c', 'd'], [3]), 'inputs[0].data has more than the 3 elements its shape declares');
  t.equal(refused('bool', [true], []), 'accepted');
  t.equal(refused('bool', [true, false], []), 'inputs[0].data has more than the 1 elements its shape declares');
  t.equal(refused('float32', [1, 2], [3]), 'inputs[0].data has 2 elements but its shape declares 3');
  t.equal(refused('float32', [], [3]), 'inputs[0].data has 0 elements but its shape declares 3');
  t.equal(refused('float32', [], [2, 3]), 'inputs[0].data has 0 elements but its shape declares 6');
  t.equal(refused('string', ['a'], [2], 'inputs[1]'), 'inputs[1].data has 1 elements but its shape declares 2');
  t.equal(refused('float32', [1, 2, 3, 4, 5], [2, 3]), 'inputs[0].data has 5 elements but its shape declares 6');
  t.equal(refused('float32', [1, 2, 3, 4, 5, 6, 7], [2, 3]), 'inputs[0].data has more than the 6 elements its shape declares');
});

t.test('an error quotes the element as the client wrote it', async (t) => {
  t.equal(refused('float32', ['x'], [1]), 'inputs[0].data element 0 must be a number (got "x")');
  t.equal(refused('float32', [1, { a: 1 }], [2]), 'inputs[0].data element 1 must be a number (got {"a":1})');
  t.equal(refused('float32', [null], [1]), 'inputs[0].data element 0 must be a number (got null)');
  t.equal(refused('float32', [true], [1]), 'inputs[0].data element 0 must be a number (got true)');
  t.equal(refused('float32', [undefined], [1]), 'inputs[0].data element 0 must be a number (got undefined)');
  t.equal(refused('float32', [Symbol('s')], [1]), 'inputs[0].data element 0 must be a number (got Symbol(s))', 'what JSON.stringify cannot write is shown by String');
  t.equal(refused('bool', [1], [1]), 'inputs[0].data element 0 must be true or false (got 1)');
  t.equal(refused('bool', [true, 0.5], [2]), 'inputs[0].data element 1 must be true or false (got 0.5)');
  // JSON.stringify would show these as null.
  t.equal(refused('bool', [Infinity], [1]), 'inputs[0].data element 0 must be true or false (got Infinity)');
  t.equal(refused('bool', [-Infinity], [1]), 'inputs[0].data element 0 must be true or false (got -Infinity)');
  t.equal(refused('bool', [NaN], [1]), 'inputs[0].data element 0 must be true or false (got NaN)');
  // JSON.stringify cannot write a bigint at all.
  t.equal(refused('bool', [2n ** 64n], [1]), 'inputs[0].data element 0 must be true or false (got 18446744073709551616)');
  t.equal(refused('bool', ['true'], [1]), 'inputs[0].data element 0 must be true or false (got "true")');
  t.equal(refused('bool', [new SourceNumber('1e20')], [1]), 'inputs[0].data element 0 must be true or false (got 1e20)', 'a SourceNumber as written');
  // The element index counts values in row-major order across the nesting.
  t.equal(refused('float32', [[1, 2, 3], [4, 'x', 6]], [2, 3], 'inputs[3]'), 'inputs[3].data element 4 must be a number (got "x")');
  // A SourceNumber's text belongs to its own element only.
  t.equal(refused('float32', [new SourceNumber('1e20'), 'x'], [2]), 'inputs[0].data element 1 must be a number (got "x")');
});

t.test('BYTES elements must be strings onnxruntime keeps unchanged', async (t) => {
  t.equal(refused('string', [1], [1]), 'inputs[0].data element 0 must be a string for BYTES (got 1)');
  t.equal(refused('string', ['a', null], [2]), 'inputs[0].data element 1 must be a string for BYTES (got null)');
  t.equal(refused('string', [Infinity], [1]), 'inputs[0].data element 0 must be a string for BYTES (got Infinity)');
  t.equal(refused('string', [new SourceNumber('1e400')], [1]), 'inputs[0].data element 0 must be a string for BYTES (got 1e400)');
  t.equal(
    refused('string', ['a', '\0b', 'c'], [3]),
    `inputs[0].data element 1 contains a NUL character at position 0; onnxruntime's string tensors carry UTF-8 text without NUL bytes, so it would be altered (got "\\u0000b")`,
  );
  t.equal(
    refused('string', ['ab\0'], [1]),
    `inputs[0].data element 0 contains a NUL character at position 2; onnxruntime's string tensors carry UTF-8 text without NUL bytes, so it would be altered (got "ab\\u0000")`,
  );
  t.equal(
    refused('string', [['ok'], ['a\uD83D']], [2, 1]),
    `inputs[0].data element 1 contains a lone UTF-16 surrogate, which is not valid UTF-8; onnxruntime's string tensors carry UTF-8 text without NUL bytes, so it would be altered (got "a\\ud83d")`,
  );
  t.equal(
    refused('string', ['\uDE00'], [1]),
    `inputs[0].data element 0 contains a lone UTF-16 surrogate, which is not valid UTF-8; onnxruntime's string tensors carry UTF-8 text without NUL bytes, so it would be altered (got "\\ude00")`,
  );
  t.strictSame(write('string', ['\uD83D\uDE00x', 'é'], [2]), ['\uD83D\uDE00x', 'é']);
});

t.test('integer datatypes: type, finiteness, exactness and range, in that order', async (t) => {
  const inexact = (dtype: TensorDtype, data: unknown[]) => {
    try {
      write(dtype, data, [data.length], 'inputs[1]');
    } catch (err) {
      if (err instanceof InexactNumberError) return [err.at, err.element, err.problem];
      throw err;
    }
    return 'accepted';
  };
  t.strictSame(inexact('int32', [0, Infinity]), ['inputs[1]', 1, 'is beyond any number for INT32']);
  t.equal(refused('int32', [-Infinity], [1]), 'InexactNumberError: inputs[0].data element 0 is beyond any number for INT32');
  t.equal(refused('uint8', [NaN], [1]), 'InexactNumberError: inputs[0].data element 0 is beyond any number for UINT8');
  t.equal(refused('int64', [Infinity], [1]), 'InexactNumberError: inputs[0].data element 0 is beyond any number for INT64');
  t.equal(refused('int32', [1, 0.5], [2]), 'inputs[0].data element 1 must be an integer for INT32 (got 0.5)');
  t.equal(refused('uint64', [-0.5], [1]), 'inputs[0].data element 0 must be an integer for UINT64 (got -0.5)');
  t.equal(refused('int32', ['1'], [1]), 'inputs[0].data element 0 must be a number (got "1")');
  // Integers JSON.parse rounded: refused until the request is read again with every digit.
  t.strictSame(inexact('int64', [2 ** 53]), ['inputs[1]', 0, 'is beyond ±2^53 and cannot be read exactly for INT64; write it as a plain integer literal']);
  t.equal(
    refused('int64', [-(2 ** 53)], [1]),
    'InexactNumberError: inputs[0].data element 0 is beyond ±2^53 and cannot be read exactly for INT64; write it as a plain integer literal',
  );
  t.equal(
    refused('uint8', [1e300], [1]),
    'InexactNumberError: inputs[0].data element 0 is beyond ±2^53 and cannot be read exactly for UINT8; write it as a plain integer literal',
    'inexactness is reported before the range',
  );
  t.strictSame(stored(write('int64', [-(2 ** 53) + 1, 2 ** 53 - 1, 5], [3])), [-9007199254740991n, 9007199254740991n, 5n]);
  t.strictSame(stored(write('uint64', [0, 2 ** 53 - 1], [2])), [0n, 9007199254740991n]);
  t.equal(refused('uint64', [-1], [1]), 'inputs[0].data element 0 is out of range for UINT64 (got -1)');
  t.strictSame(stored(write('int32', [-2147483648, 2147483647], [2])), [-2147483648, 2147483647]);
  t.equal(refused('int32', [2147483648], [1]), 'inputs[0].data element 0 is out of range for INT32 (got 2147483648)');
  t.equal(refused('int32', [0, -2147483649], [2]), 'inputs[0].data element 1 is out of range for INT32 (got -2147483649)');
  t.strictSame(stored(write('uint8', [0, 255], [2])), [0, 255]);
  t.equal(refused('uint8', [256], [1]), 'inputs[0].data element 0 is out of range for UINT8 (got 256)');
});

t.test('INT64 and UINT64 take bigints up to their exact bounds', async (t) => {
  const int64 = write('int64', [-(2n ** 63n), 0n, 2n ** 63n - 1n, 7], [4]);
  t.equal(int64.constructor, BigInt64Array);
  t.strictSame(stored(int64), [-9223372036854775808n, 0n, 9223372036854775807n, 7n]);
  t.equal(refused('int64', [-(2n ** 63n) - 1n], [1]), 'inputs[0].data element 0 is out of range for INT64 (got -9223372036854775809)');
  t.equal(refused('int64', [0n, 2n ** 63n], [2]), 'inputs[0].data element 1 is out of range for INT64 (got 9223372036854775808)');
  const uint64 = write('uint64', [0n, 2n ** 64n - 1n, 2n ** 63n], [3]);
  t.equal(uint64.constructor, BigUint64Array);
  t.strictSame(stored(uint64), [0n, 18446744073709551615n, 9223372036854775808n]);
  t.equal(refused('uint64', [-1n], [1]), 'inputs[0].data element 0 is out of range for UINT64 (got -1)');
  t.equal(refused('uint64', [2n ** 64n], [1]), 'inputs[0].data element 0 is out of range for UINT64 (got 18446744073709551616)');
  // Other integer datatypes only see a bigint beyond ±2^53, always out of their range.
  t.equal(refused('int32', [2n ** 53n + 1n], [1]), 'inputs[0].data element 0 is out of range for INT32 (got 9007199254740993)');
  t.equal(refused('uint32', [-(2n ** 53n) - 1n], [1]), 'inputs[0].data element 0 is out of range for UINT32 (got -9007199254740993)');
});

t.test('INT64 and UINT64 bounds as the exact re-read of a request gives them', async (t) => {
  const int64 = exactData('[-9223372036854775808, 9223372036854775807, -9223372036854775809, 9223372036854775808, 0]');
  t.strictSame(int64, [-9223372036854775808n, 9223372036854775807n, -9223372036854775809n, 9223372036854775808n, 0]);
  t.strictSame(stored(write('int64', [int64[0], int64[1], int64[4]], [3])), [-9223372036854775808n, 9223372036854775807n, 0n]);
  t.equal(refused('int64', [int64[2]], [1]), 'inputs[0].data element 0 is out of range for INT64 (got -9223372036854775809)');
  t.equal(refused('int64', [int64[3]], [1]), 'inputs[0].data element 0 is out of range for INT64 (got 9223372036854775808)');

  const uint64 = exactData('[0, 18446744073709551615, 18446744073709551616, -1, -9007199254740993]');
  t.strictSame(stored(write('uint64', uint64.slice(0, 2), [2])), [0n, 18446744073709551615n]);
  t.equal(refused('uint64', [uint64[2]], [1]), 'inputs[0].data element 0 is out of range for UINT64 (got 18446744073709551616)');
  t.equal(refused('uint64', [uint64[3]], [1]), 'inputs[0].data element 0 is out of range for UINT64 (got -1)');
  t.equal(refused('uint64', [uint64[4]], [1]), 'inputs[0].data element 0 is out of range for UINT64 (got -9007199254740993)');

  // Not written as integers, the same bounds have no exact value: refused whatever they round to.
  const written = exactData('[9223372036854775807.0, 1.8446744073709551615e19, 1e20, 1e400, 9007199254740993.0]');
  t.ok(written.every((v) => v instanceof SourceNumber), 'each is a SourceNumber');
  const unknown = (what: string, dtype: string) =>
    `inputs[0].data element 0 is beyond ±2^53 and not written as an integer, so its exact value is unknown; write it as a plain integer for ${dtype} (got ${what})`;
  t.equal(refused('int64', [written[0]], [1]), unknown('9223372036854775807.0', 'INT64'));
  t.equal(refused('uint64', [written[1]], [1]), unknown('1.8446744073709551615e19', 'UINT64'));
  t.equal(refused('int64', [written[2]], [1]), unknown('1e20', 'INT64'));
  t.equal(refused('uint8', [written[3]], [1]), unknown('1e400', 'UINT8'));
  t.equal(refused('int32', [written[4]], [1]), unknown('9007199254740993.0', 'INT32'));
});

t.test('float datatypes take SourceNumbers and bigints as numbers', async (t) => {
  t.strictSame(stored(write('float64', [new SourceNumber('1e20'), new SourceNumber('-2.5e300')], [2])), [1e20, -2.5e300]);
  t.strictSame(stored(write('float32', [new SourceNumber('9007199254740993.0')], [1])), [9007199254740992]);
  t.strictSame(stored(write('float64', [2n ** 60n, 3], [2])), [1152921504606846976, 3]);
  t.strictSame(stored(write('float32', [-(2n ** 60n)], [1])), [-1152921504606846976]);
  t.strictSame(stored(write('float16', [1024n, 1], [2])), [0x6400, 0x3c00], 'a bigint is rounded to half precision too');
});

t.test('float datatypes refuse what overflows them', async (t) => {
  // Non-finite without the client's text: read again before refusing, to quote it.
  t.equal(refused('float64', [Infinity], [1]), 'InexactNumberError: inputs[0].data element 0 is beyond the largest finite FP64');
  t.equal(refused('float32', [0, -Infinity], [2]), 'InexactNumberError: inputs[0].data element 1 is beyond the largest finite FP32');
  t.equal(refused('float16', [NaN], [1]), 'InexactNumberError: inputs[0].data element 0 is beyond the largest finite FP16');
  t.equal(refused('float64', [new SourceNumber('1e400')], [1]), 'inputs[0].data element 0 is beyond the largest finite FP64 (got 1e400)');
  t.equal(refused('float64', [new SourceNumber('-1e400')], [1]), 'inputs[0].data element 0 is beyond the largest finite FP64 (got -1e400)');
  t.equal(refused('float32', [new SourceNumber('1e39')], [1]), 'inputs[0].data element 0 is beyond the largest finite FP32 (got 1e39)');
  t.equal(refused('float16', [new SourceNumber('7e4')], [1]), 'inputs[0].data element 0 is beyond the largest finite FP16 (got 7e4)');

  // An integer literal read again exactly arrives as a bigint: it overflows a float datatype as a number would.
  const big39 = exactData('[1000000000000000000000000000000000000000]');
  t.equal(typeof big39[0], 'bigint');
  t.equal(refused('float32', big39, [1]), 'inputs[0].data element 0 is beyond the largest finite FP32 (got 1000000000000000000000000000000000000000)');
  t.equal(refused('float16', exactData('[-100000000000000000000]'), [1]), 'inputs[0].data element 0 is beyond the largest finite FP16 (got -100000000000000000000)');
  t.equal(refused('float64', exactData(`[1${'0'.repeat(400)}]`), [1]), `inputs[0].data element 0 is beyond the largest finite FP64 (got 1${'0'.repeat(400)})`);
  t.strictSame(stored(write('float64', big39, [1])), [1e39], 'and fits a wider one');
  t.strictSame(stored(write('float64', [1.7976931348623157e308, -1.7976931348623157e308], [2])), [1.7976931348623157e308, -1.7976931348623157e308]);
  // The largest float32 is kept; the next double that rounds past it is not.
  t.strictSame(stored(write('float32', [3.4028234663852886e38, -3.4028234663852886e38], [2])), [3.4028234663852886e38, -3.4028234663852886e38]);
  t.equal(refused('float32', [3.4028235677973366e38], [1]), 'inputs[0].data element 0 is beyond the largest finite FP32 (got 3.4028235677973366e+38)');
  t.equal(refused('float32', [-3.5e38], [1]), 'inputs[0].data element 0 is beyond the largest finite FP32 (got -3.5e+38)');
  // 65520 is the midpoint of 65504 and the next step, 65536: ties go to even, which is Infinity.
  t.strictSame(stored(write('float16', [65519, -65519], [2])), [0x7bff, 0xfbff]);
  t.equal(refused('float16', [65520], [1]), 'inputs[0].data element 0 is beyond the largest finite FP16 (got 65520)');
  t.equal(refused('float16', [0, -65520], [2]), 'inputs[0].data element 1 is beyond the largest finite FP16 (got -65520)');
});

t.test('FP16 stores the nearest half-precision bits, ties to even', async (t) => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [2 ** -24, 0x0001], // the smallest subnormal
    [2 ** -25, 0x0000], // halfway to it: ties to even, 0
    [2 ** -25 * 1.5, 0x0001],
    [1 + 2 ** -11, 0x3c00], // halfway between 0x3c00 and 0x3c01: even
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: even
  ];
  const half = write('float16', cases.map(([v]) => v), [cases.length]);
  t.equal(half.constructor, Uint16Array);
  t.strictSame(stored(half), cases.map(([, bits]) => bits));
});
