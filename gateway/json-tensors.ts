import { InputDataError } from '../errors.js';
import { allocate, type TensorData, type TensorDtype, type WireTensor } from '../replicas/index.js';
import { INT_RANGE, OIP_DATATYPE } from './datatypes.js';
import { fromHalf, toHalf } from './float16.js';

/**
 * Writes JSON `data` (flat or nested, row-major) into a fresh tensor of
 * exactly `count` elements, checking each element's type and range.
 */
export function jsonToTensorData(at: string, dtype: TensorDtype, data: unknown, count: number): TensorData {
  if (!Array.isArray(data)) throw new InputDataError(`${at}.data must be an array`);
  const out = allocate(dtype, count);
  // Typed arrays and string arrays are both written by index below.
  const sink = out as unknown as unknown[];
  const range = INT_RANGE[dtype];
  const isBig = dtype === 'int64' || dtype === 'uint64';
  let n = 0;
  const bad = (v: unknown, why: string): never => {
    throw new InputDataError(`${at}.data element ${n} ${why} (got ${JSON.stringify(v) ?? String(v)})`);
  };
  const walk = (arr: unknown[], depth: number): void => {
    if (depth > 32) throw new InputDataError(`${at}.data is nested more than 32 levels deep`);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (Array.isArray(v)) {
        walk(v, depth + 1);
        continue;
      }
      if (n >= count) throw new InputDataError(`${at}.data has more than the ${count} elements its shape declares`);
      if (dtype === 'bool') {
        if (typeof v !== 'boolean') bad(v, 'must be true or false');
        sink[n++] = v ? 1 : 0;
      } else if (dtype === 'string') {
        if (typeof v !== 'string') bad(v, 'must be a string for BYTES');
        sink[n++] = v;
      } else if (typeof v !== 'number') {
        bad(v, 'must be a number');
      } else if (range) {
        if (!Number.isInteger(v)) bad(v, `must be an integer for ${OIP_DATATYPE[dtype]}`);
        if (v < range[0] || v > range[1]) bad(v, `is out of range for ${OIP_DATATYPE[dtype]}`);
        sink[n++] = isBig ? BigInt(v) : v;
      } else {
        sink[n++] = dtype === 'float16' ? toHalf(v) : v;
      }
    }
  };
  walk(data, 0);
  if (n !== count) throw new InputDataError(`${at}.data has ${n} elements but its shape declares ${count}`);
  return out;
}

/** A tensor's data as JSON values: numbers, booleans for BOOL, strings for BYTES. */
export function tensorToJsonData(t: WireTensor): (number | boolean | string)[] {
  switch (t.dtype) {
    case 'bool':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'int64':
    case 'uint64':
      return Array.from(t.data as BigInt64Array, Number);
    case 'float16':
      return Array.from(t.data as Uint16Array, fromHalf);
    case 'string':
      return t.data as string[];
    default:
      return Array.from(t.data as Float32Array);
  }
}
