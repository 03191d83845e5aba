import type { TensorDtype } from '../replicas/index.js';

/** Open Inference Protocol datatype names, by onnxruntime dtype. */
export const OIP_DATATYPE: Readonly<Record<TensorDtype, string>> = Object.freeze({
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
});

/** onnxruntime dtypes, by Open Inference Protocol datatype name. */
export const DTYPE_OF: ReadonlyMap<string, TensorDtype> = new Map(
  Object.entries(OIP_DATATYPE).map(([dtype, oip]) => [oip, dtype as TensorDtype]),
);

/** Inclusive integer ranges of the integer dtypes that fit in a JS number. */
export const INT_RANGE: Readonly<Partial<Record<TensorDtype, readonly [number, number]>>> = Object.freeze({
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
});
