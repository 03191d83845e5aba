import type { BufferPool } from './buffer-pool.js';
import { allocate, type TensorData, type TensorMap, type TypedArray } from './tensor.js';

/** The key under which calls may share a batch: every input's dtype and trailing dims. */
export function batchKeyOf(inputs: TensorMap): string {
  let key = '';
  for (const [name, t] of Object.entries(inputs)) key += `${name}:${t.dtype}:${t.dims.slice(1).join('x')};`;
  return key;
}

/**
 * Concatenates the calls' inputs along dimension 0 into one buffer per input
 * (the callers keep their own data, so a call can be retried), and lists the
 * buffers to transfer. A single call keeps its exact dims, whatever its rank
 * (a model that cannot batch runs each call this way). Numeric parts are copied as bytes, so a part may be a
 * raw little-endian byte view (an unaligned binary request) as well as a
 * typed array of its dtype. Buffers come from `pool` when one is given.
 */
export function concatInputs(
  calls: readonly { inputs: TensorMap; rows: number }[],
  pool?: BufferPool,
): { inputs: TensorMap; transfer: ArrayBuffer[] } {
  const first = calls[0].inputs;
  const totalRows = calls.reduce((n, c) => n + c.rows, 0);
  const inputs: TensorMap = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, t] of Object.entries(first)) {
    const dims = calls.length === 1 ? [...t.dims] : [totalRows, ...t.dims.slice(1)];
    if (t.dtype === 'string') {
      const data: string[] = [];
      for (const c of calls) for (const s of c.inputs[name].data as string[]) data.push(s);
      inputs[name] = { dtype: t.dtype, dims, data };
      continue;
    }
    const elements = dims.reduce((a, b) => a * b, 1);
    const data = pool ? pool.take(t.dtype, elements) : (allocate(t.dtype, elements) as TypedArray);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    for (const c of calls) {
      const part = c.inputs[name].data as TypedArray;
      bytes.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), offset);
      offset += part.byteLength;
    }
    inputs[name] = { dtype: t.dtype, dims, data };
    transfer.push(data.buffer as ArrayBuffer);
  }
  return { inputs, transfer };
}

/**
 * Splits batch outputs back per call, by rows, as views on the batch's
 * buffers (no copy). Throws when an output is not batch-major.
 */
export function splitOutputs(outputs: TensorMap, rowsPerCall: readonly number[]): TensorMap[] {
  const totalRows = rowsPerCall.reduce((a, b) => a + b, 0);
  const perCall: TensorMap[] = rowsPerCall.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== totalRows) {
      throw new Error(`output ${name} has dims [${t.dims}], whose first dimension is not the batch's ${totalRows} rows`);
    }
    const rowElems = t.dims.slice(1).reduce((a, b) => a * b, 1);
    let offset = 0;
    rowsPerCall.forEach((rows, i) => {
      const end = offset + rows * rowElems;
      const data: TensorData = Array.isArray(t.data) ? t.data.slice(offset, end) : (t.data.subarray(offset, end) as TypedArray);
      perCall[i][name] = { dtype: t.dtype, dims: [rows, ...t.dims.slice(1)], data };
      offset += rows * rowElems;
    });
  }
  return perCall;
}
