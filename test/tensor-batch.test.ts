import t from 'tap';
import { BufferPool } from '../replicas/buffer-pool.js';
import { batchKeyOf, concatInputs, splitOutputs } from '../replicas/tensor-batch.js';
import { transferablesOf, type TensorMap, type WireTensor } from '../replicas/tensor.js';

const f32 = (dims: number[], start = 0): WireTensor => {
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, (_, i) => start + i) };
};

t.test('batch keys: calls share a batch only with the same names, dtypes and trailing dims', async (t) => {
  const key = batchKeyOf({ x: f32([2, 3, 4]), k: { dtype: 'int64', dims: [2, 1], data: new BigInt64Array(2) } });
  t.equal(key, 'x:float32:3x4;k:int64:1;', 'dim 0 (the rows) is left out');
  t.equal(batchKeyOf({ x: f32([7, 3, 4]), k: { dtype: 'int64', dims: [7, 1], data: new BigInt64Array(7) } }), key, 'rows do not matter');
  t.not(batchKeyOf({ x: f32([2, 4, 3]) }), batchKeyOf({ x: f32([2, 3, 4]) }), 'trailing dims do');
  t.not(batchKeyOf({ x: { dtype: 'float64', dims: [1, 3], data: new Float64Array(3) } }), batchKeyOf({ x: f32([1, 3]) }), 'dtypes do');
  t.not(batchKeyOf({ y: f32([1, 3]) }), batchKeyOf({ x: f32([1, 3]) }), 'names do');
  t.equal(batchKeyOf({ s: { dtype: 'float32', dims: [], data: new Float32Array(1) } }), 's:float32:;', 'a scalar has no trailing dims');
});

t.test('concatenating calls: rows in call order, one buffer per input, the callers keep their data', async (t) => {
  const a = { inputs: { x: f32([2, 3], 0), s: { dtype: 'string' as const, dims: [2, 1], data: ['a', 'b'] } }, rows: 2 };
  const b = { inputs: { x: f32([1, 3], 100), s: { dtype: 'string' as const, dims: [1, 1], data: ['c'] } }, rows: 1 };
  const { inputs, transfer } = concatInputs([a, b]);
  t.same(inputs.x.dims, [3, 3]);
  t.same([...(inputs.x.data as Float32Array)], [0, 1, 2, 3, 4, 5, 100, 101, 102]);
  t.same(inputs.s, { dtype: 'string', dims: [3, 1], data: ['a', 'b', 'c'] }, 'strings are concatenated, not copied as bytes');
  t.equal(transfer.length, 1, 'only the numeric input has a buffer to transfer');
  t.equal(transfer[0], (inputs.x.data as Float32Array).buffer);
  t.not((inputs.x.data as Float32Array).buffer, (a.inputs.x.data as Float32Array).buffer, 'a new buffer: a retried call still has its own');
  (inputs.x.data as Float32Array).fill(-1);
  t.same([...(a.inputs.x.data as Float32Array)], [0, 1, 2, 3, 4, 5], "the first caller's data is untouched");
  t.same([...(b.inputs.x.data as Float32Array)], [100, 101, 102], "and the second's");
});

t.test('a single call keeps its exact dims, whatever its rank', async (t) => {
  for (const dims of [[], [5], [1, 25, 96], [2, 3]]) {
    const call = { inputs: { x: f32(dims, 7) }, rows: dims[0] ?? 1 };
    const { inputs } = concatInputs([call]);
    t.same(inputs.x.dims, dims, `dims [${dims}]`);
    t.same([...(inputs.x.data as Float32Array)], [...(call.inputs.x.data as Float32Array)]);
  }
  const empty = concatInputs([{ inputs: { x: f32([0, 4]) }, rows: 0 }]);
  t.same(empty.inputs.x.dims, [0, 4], 'zero rows stay zero rows');
  t.equal((empty.inputs.x.data as Float32Array).length, 0);
});

t.test('parts are copied as bytes: an unaligned byte view of a binary request batches like a typed array', async (t) => {
  const floats = Float32Array.from([1.5, -2, 3.25, 4]);
  const raw = new Uint8Array(17);
  raw.set(new Uint8Array(floats.buffer), 1); // at an odd offset, as inside a binary request body
  const view = { dtype: 'float32' as const, dims: [1, 4], data: raw.subarray(1, 17) };
  const { inputs } = concatInputs([
    { inputs: { x: f32([1, 4], 10) }, rows: 1 },
    { inputs: { x: view as unknown as WireTensor }, rows: 1 },
  ]);
  t.type(inputs.x.data, Float32Array);
  t.same([...(inputs.x.data as Float32Array)], [10, 11, 12, 13, 1.5, -2, 3.25, 4]);
});

t.test('numeric dtypes of every width and int64 keep their exact bits', async (t) => {
  const big = { dtype: 'int64' as const, dims: [1, 2], data: BigInt64Array.from([2n ** 62n + 1n, -3n]) };
  const small = { dtype: 'int64' as const, dims: [2, 2], data: BigInt64Array.from([1n, 2n, 3n, -(2n ** 63n)]) };
  const { inputs } = concatInputs([
    { inputs: { k: big }, rows: 1 },
    { inputs: { k: small }, rows: 2 },
  ]);
  t.same([...(inputs.k.data as BigInt64Array)], [2n ** 62n + 1n, -3n, 1n, 2n, 3n, -(2n ** 63n)]);
  const bytes = concatInputs([
    { inputs: { b: { dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) } }, rows: 2 },
    { inputs: { b: { dtype: 'bool', dims: [1], data: Uint8Array.from([1]) } }, rows: 1 },
  ]);
  t.same([...(bytes.inputs.b.data as Uint8Array)], [1, 0, 1]);
  t.same(bytes.inputs.b.dims, [3]);
});

t.test('with a buffer pool, large batches are written into reused buffers', async (t) => {
  const pool = new BufferPool();
  const rows = (start: number) => ({ inputs: { x: f32([64, 784], start) }, rows: 64 });
  const first = concatInputs([rows(0), rows(1)], pool);
  const buffer = first.transfer[0];
  t.ok(buffer.byteLength >= 2 * 64 * 784 * 4, 'a buffer of at least the batch');
  pool.give(buffer);
  const second = concatInputs([rows(5), rows(6)], pool);
  t.equal(second.transfer[0], buffer, 'the returned buffer is taken again');
  t.equal((second.inputs.x.data as Float32Array).length, 2 * 64 * 784, 'a view on its start, of the batch length');
  t.equal((second.inputs.x.data as Float32Array)[0], 5);
  t.equal((second.inputs.x.data as Float32Array)[64 * 784], 6, "the second call's rows follow the first's");
});

t.test('splitting outputs: per call by rows, as views on the batch buffer', async (t) => {
  const outputs: TensorMap = {
    y: f32([3, 2], 0),
    label: { dtype: 'string', dims: [3], data: ['p', 'q', 'r'] },
  };
  const [a, b] = splitOutputs(outputs, [2, 1]);
  t.same(a.y.dims, [2, 2]);
  t.same([...(a.y.data as Float32Array)], [0, 1, 2, 3]);
  t.same(b.y.dims, [1, 2]);
  t.same([...(b.y.data as Float32Array)], [4, 5]);
  t.equal((a.y.data as Float32Array).buffer, (outputs.y.data as Float32Array).buffer, 'no copy');
  t.same(a.label, { dtype: 'string', dims: [2], data: ['p', 'q'] });
  t.same(b.label, { dtype: 'string', dims: [1], data: ['r'] });
  const [none, all] = splitOutputs({ y: f32([2, 2], 9) }, [0, 2]);
  t.same(none.y.dims, [0, 2], 'a call of zero rows gets an empty output of the right shape');
  t.equal((none.y.data as Float32Array).length, 0);
  t.same([...(all.y.data as Float32Array)], [9, 10, 11, 12]);
  const [empty] = splitOutputs({ y: f32([0, 3]) }, [0]);
  t.same(empty.y.dims, [0, 3], 'a batch of zero rows splits without dividing by zero');
});

t.test('an output that is not batch-major cannot be split', async (t) => {
  t.throws(() => splitOutputs({ y: f32([1, 3]) }, [2, 1]), {
    message: "output y has dims [1,3], whose first dimension is not the batch's 3 rows",
  });
  t.throws(() => splitOutputs({ total: { dtype: 'float32', dims: [], data: new Float32Array(1) } }, [1, 1]), /output total has dims \[\], whose first dimension is not the batch's 2 rows/);
});

t.test('the buffers handed over with posted tensors: each once, never shared memory, and with wholeOnly only those a view covers whole', async (t) => {
  const batch = new Float32Array(12);
  const own = new Int32Array(4);
  const shared = new Float32Array(new SharedArrayBuffer(16));
  const maps: TensorMap[] = [
    { y: { dtype: 'float32', dims: [1, 6], data: batch.subarray(0, 6) }, n: { dtype: 'int32', dims: [4], data: own } },
    { y: { dtype: 'float32', dims: [1, 6], data: batch.subarray(6) }, s: { dtype: 'string', dims: [1], data: ['a'] } },
    { x: { dtype: 'float32', dims: [4], data: shared } },
  ];
  t.same(transferablesOf(maps), [batch.buffer, own.buffer], "one batch's views go to one receiver: its buffer is handed over once");
  t.same(transferablesOf(maps, true), [own.buffer], 'answered apart, only a buffer a view owns whole');
});
