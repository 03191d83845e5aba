/** Element types a replica exchanges, named as onnxruntime names them. */
export type TensorDtype =
  | 'float32' | 'float64' | 'float16'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool'
  | 'string';

/** Any typed array a tensor's data can live in. */
export type TypedArray =
  | Float32Array | Float64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** A tensor's flat data: a typed array, or strings for `string` tensors. */
export type TensorData = TypedArray | string[];

type TypedArrayConstructor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

/** The typed array that holds each numeric dtype (bool as one byte, float16 as its raw bits). */
export const TYPED_ARRAYS: Readonly<Record<Exclude<TensorDtype, 'string'>, TypedArrayConstructor>> = Object.freeze({
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as Record<Exclude<TensorDtype, 'string'>, TypedArrayConstructor>);

/** A tensor as it crosses between gateway and replica: dtype, dims, and flat row-major data. */
export interface WireTensor {
  dtype: TensorDtype;
  dims: number[];
  data: TensorData;
}

/** Inputs or outputs of one call, by tensor name. */
export type TensorMap = Record<string, WireTensor>;

/** One input or output as the model declares it. */
export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  /** Dimensions as the model declares them; -1 marks a dynamic one. Rank 0 (`[]`) is a scalar. */
  shape: number[];
  /** Each dimension's symbolic name (ONNX `dim_param`, e.g. 'batch'), or null for fixed and unnamed dimensions. */
  dimParams: (string | null)[];
}

/** What a replica reads from its loaded session. */
export interface ModelMetadata {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Allocates zeroed data for `length` elements of `dtype` (empty strings for `string`). */
export function allocate(dtype: TensorDtype, length: number): TensorData {
  if (dtype === 'string') return new Array<string>(length).fill('');
  return new TYPED_ARRAYS[dtype](length);
}

/** Bytes one element of a numeric dtype takes; 0 for strings, whose size varies. */
export function bytesPerElement(dtype: TensorDtype): number {
  return dtype === 'string' ? 0 : TYPED_ARRAYS[dtype].BYTES_PER_ELEMENT;
}

/**
 * The buffers to hand over (transfer) with tensors posted to another thread,
 * each once; shared memory is never among them, it is shared already. With
 * `wholeOnly`, only buffers a tensor's view covers whole: where views of one
 * buffer go to several receivers, handing it over with the first would
 * detach it under the others (those are copied by the structured clone).
 */
export function transferablesOf(maps: readonly TensorMap[], wholeOnly = false): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const m of maps) {
    for (const t of Object.values(m)) {
      if (Array.isArray(t.data) || !(t.data.buffer instanceof ArrayBuffer)) continue;
      if (wholeOnly && (t.data.byteOffset !== 0 || t.data.byteLength !== t.data.buffer.byteLength)) continue;
      out.add(t.data.buffer);
    }
  }
  return [...out];
}
