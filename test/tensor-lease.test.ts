import t from 'tap';
import { decodeInferRequest, type InferenceTarget } from '../gateway/index.js';
import { runInference } from '../gateway/run-inference.js';
import { TensorLease } from '../gateway/tensor-lease.js';
import type { CallControl, ModelMetadata, TypedArray } from '../replicas/index.js';

const meta: ModelMetadata = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 512], dimParams: ['batch', null] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 512], dimParams: ['batch', null] }],
};
// The codec reads only a target's name, version and metadata.
const target = { name: 'm', version: null, metadata: meta, batching: true } as unknown as InferenceTarget;
const row = Array.from({ length: 512 }, (_, i) => i / 8);
const data = (d: { tensors: Record<string, { data: unknown }> }) => d.tensors.x.data as TypedArray;

t.test('with a lease, JSON data is written into shared memory, given back to be reused', async (t) => {
  const lease = new TensorLease();
  const first = data(decodeInferRequest({ inputs: [{ name: 'x', shape: [1, 512], datatype: 'FP32', data: row }] }, null, target, 1e6, lease));
  t.ok(first.buffer instanceof SharedArrayBuffer, 'a view of a SharedArrayBuffer: a replica thread reads it in place');
  t.same([...first], row, 'every element as sent');
  lease.giveBack();
  const again = new TensorLease();
  const second = data(decodeInferRequest({ inputs: [{ name: 'x', shape: [1, 512], datatype: 'FP32', data: row.map((v) => -v) }] }, null, target, 1e6, again));
  t.equal(second.buffer, first.buffer, 'the buffer given back is taken again');
  t.same([...second], row.map((v) => -v), 'and fully overwritten');
  const fresh = data(decodeInferRequest({ inputs: [{ name: 'x', shape: [1, 512], datatype: 'FP32', data: row }] }, null, target, 1e6));
  t.notOk(fresh.buffer instanceof SharedArrayBuffer, 'without a lease, a fresh tensor');
});

t.test('binary tensors from a buffer not shared (a WebSocket frame) are copied into shared memory; shared or small ones stay views', async (t) => {
  const header = (rows: number) => ({ inputs: [{ name: 'x', shape: [rows, 512], datatype: 'FP32', parameters: { binary_data_size: rows * 2048 } }] });
  const frame = Buffer.from(Float32Array.from(row).buffer);
  const lease = new TensorLease();
  const copied = data(decodeInferRequest(header(1), frame, target, 1e6, lease));
  t.ok(copied.buffer instanceof SharedArrayBuffer, 'copied into shared memory');
  t.same([...copied], row, 'byte for byte');
  frame.fill(0);
  t.equal(copied[1], row[1], 'a copy: the frame can go');
  const shared = Buffer.from(new SharedArrayBuffer(2048));
  Buffer.from(Float32Array.from(row).buffer).copy(shared);
  t.equal(data(decodeInferRequest(header(1), shared, target, 1e6, lease)).buffer, shared.buffer, 'a pooled body is shared already: read in place');
  const small = Buffer.from(Float32Array.from(row.slice(0, 128)).buffer);
  const tiny = { inputs: [{ name: 'x', shape: [1, 128], datatype: 'FP32', parameters: { binary_data_size: 512 } }] };
  const smallTarget = { ...target, metadata: { ...meta, inputs: [{ ...meta.inputs[0], shape: [-1, 128] }] } } as unknown as InferenceTarget;
  t.equal(data(decodeInferRequest(tiny, small, smallTarget, 1e6, lease)).buffer, small.buffer, 'under 1 KiB a view is cheaper than sharing');
  lease.giveBack();
});

t.test("runInference hands the request's shared memory to the router, or gives it back itself when no call was made", async (t) => {
  const json = (data: unknown[]) => ({ inputs: [{ name: 'x', shape: [1, 512], datatype: 'FP32', data }] });
  const limits = { maxTensorElements: 1e6 };
  // The pool hands out the buffer given back last: B is what the next request's tensor is written into.
  const probe = new TensorLease();
  const b = (probe.take('float32', 512) as TypedArray).buffer;
  probe.giveBack();

  let takenRelease: (() => void) | undefined;
  let seen: TypedArray | null = null;
  const router = {
    ...target,
    requestTimeoutMs: 1000,
    infer: async (inputs: Record<string, { data: unknown }>, _rows: number, control: CallControl) => {
      seen = inputs.x.data as TypedArray;
      takenRelease = control.release;
      control.release = undefined;
      return { y: { dtype: 'float32', dims: [1, 512], data: new Float32Array(512) } };
    },
  } as unknown as InferenceTarget;
  await runInference(router, json(row), null, limits);
  t.equal(seen!.buffer, b, 'the tensor was written into shared memory');
  t.not((new TensorLease().take('float32', 512) as TypedArray).buffer, b, 'answered, but not given back: the router holds it until no replica reads it');
  takenRelease!();
  const reused = new TensorLease();
  t.equal((reused.take('float32', 512) as TypedArray).buffer, b, "given back when the router calls the release it took");
  reused.giveBack();

  await t.rejects(runInference(router, json([...row.slice(1), 'x']), null, limits), /element 511 must be a number/);
  t.equal((new TensorLease().take('float32', 512) as TypedArray).buffer, b, 'a request refused before any call gives its memory back at once');
});
