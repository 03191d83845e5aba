import { TYPED_ARRAYS, type TensorDtype, type TensorMap, type TypedArray, type WireTensor } from './tensor.js';

/**
 * A call's inputs as user code may keep them. An ingress reads request
 * tensors into its pool of shared memory and reuses it once the call is
 * answered, so a tensor user code kept (state across calls) would change
 * under it: those are copied. Other inputs were handed over and are its own.
 */
export function ownInputs(inputs: TensorMap): TensorMap {
  let copy: TensorMap | null = null;
  for (const [name, t] of Object.entries(inputs)) {
    if (Array.isArray(t.data) || !(t.data.buffer instanceof SharedArrayBuffer)) continue;
    copy ??= { ...inputs };
    copy[name] = { dtype: t.dtype, dims: t.dims, data: t.data.slice() as TypedArray };
  }
  return copy ?? inputs;
}

function elements(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** The typed array that holds `dtype` (float16 as its bits, bool as bytes). */
function arrayFor(dtype: Exclude<TensorDtype, 'string'>) {
  return TYPED_ARRAYS[dtype];
}

/**
 * Checks what user code returned as outputs (an object of tensors, each a
 * known dtype, whole non-negative dims, data of the dtype's typed array (or
 * strings) with as many elements as the dims say) and returns them in
 * buffers of their own, so handing them to the ingress never detaches
 * memory user code still holds. Throws an Error naming the output at fault.
 * With `kind` 'input', the same checks for the tensors of a handle call.
 */
export function checkOutputs(outputs: unknown, method: string, kind: 'output' | 'input' = 'output'): TensorMap {
  if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) {
    throw new Error(`${method} must ${kind === 'output' ? 'return' : 'pass'} an object of ${kind} tensors by name (got ${Array.isArray(outputs) ? 'an array' : typeof outputs})`);
  }
  const checked: TensorMap = {};
  for (const [name, value] of Object.entries(outputs)) {
    const t = value as Partial<WireTensor> | null;
    const at = `${method} ${kind} '${name}'`;
    if (typeof t !== 'object' || t === null) throw new Error(`${at} must be { dtype, dims, data } (got ${t === null ? 'null' : typeof t})`);
    const dtype = t.dtype;
    if (dtype !== 'string' && !(typeof dtype === 'string' && Object.hasOwn(TYPED_ARRAYS, dtype))) {
      throw new Error(`${at}: dtype ${JSON.stringify(dtype)} is not one of ${[...Object.keys(TYPED_ARRAYS), 'string'].join(', ')}`);
    }
    const dims = t.dims;
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${at}: dims must be an array of non-negative integers (got ${JSON.stringify(dims)})`);
    }
    const count = elements(dims);
    const data = t.data;
    if (dtype === 'string') {
      if (!Array.isArray(data) || !data.every((s) => typeof s === 'string')) throw new Error(`${at}: a string tensor's data must be an array of strings`);
      if (data.length !== count) throw new Error(`${at}: dims [${dims}] hold ${count} elements but data has ${data.length}`);
      checked[name] = { dtype, dims: [...dims], data: [...data] };
      continue;
    }
    const Array_ = arrayFor(dtype);
    if (!(data instanceof Array_)) {
      throw new Error(`${at}: ${dtype} data must be a ${Array_.name} (got ${data === null ? 'null' : (data as object)?.constructor?.name ?? typeof data})`);
    }
    if (data.length !== count) throw new Error(`${at}: dims [${dims}] hold ${count} elements but data has ${data.length}`);
    checked[name] = { dtype, dims: [...dims], data: data.slice() as TypedArray };
  }
  return checked;
}
