import type { WireTensor } from '../replicas/index.js';
import { fromHalf } from './float16.js';

/**
 * A tensor's `data` as JSON text. INT64 and UINT64 elements are written as
 * their exact decimal digits: a JS number would turn 2^53 + 1 into 2^53 and
 * put values near the type's limits outside it.
 */
export function tensorDataJson(t: WireTensor): string {
  if (t.dtype === 'int64' || t.dtype === 'uint64') return `[${(t.data as BigInt64Array | BigUint64Array).join(',')}]`;
  const values = jsonValues(t);
  if (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16') {
    for (const v of values as number[]) if (!Number.isFinite(v) || Object.is(v, -0)) return floatsJson(values as number[]);
  }
  return JSON.stringify(values);
}

/**
 * Floats with NaN, ±Infinity or -0, written as Triton writes them (rapidjson's
 * kWriteNanAndInfFlag: `NaN`, `Infinity`, `-Infinity`, which Python's json
 * reads) instead of JSON.stringify's `null` and `0`, which would alter them.
 * Strict JSON parsers refuse these tokens: such clients should ask for binary outputs.
 */
function floatsJson(values: readonly number[]): string {
  const parts = values.map((v) => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : String(v)));
  return `[${parts.join(',')}]`;
}

/** Data of any datatype but INT64/UINT64 as JSON values: numbers, booleans for BOOL, strings for BYTES. */
function jsonValues(t: WireTensor): (number | boolean | string)[] {
  switch (t.dtype) {
    case 'bool':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'float16':
      return Array.from(t.data as Uint16Array, fromHalf);
    case 'string':
      return t.data as string[];
    default:
      return Array.from(t.data as Float32Array);
  }
}

/** One output of a response: its JSON fields, and its data as JSON text when it is sent as JSON. */
export interface OutputJson {
  fields: Record<string, unknown>;
  data?: string;
}

/**
 * Writes a response's JSON: `head` (model_name, id, ...) with an `outputs`
 * array whose data text is spliced in as is, so no element passes through
 * a JS number on its way out.
 */
export function responseJson(head: Record<string, unknown>, outputs: readonly OutputJson[]): string {
  const parts = outputs.map((o) => {
    const fields = JSON.stringify(o.fields);
    return o.data === undefined ? fields : `${fields.slice(0, -1)},"data":${o.data}}`;
  });
  const open = JSON.stringify(head).slice(0, -1);
  return `${open}${open.length > 1 ? ',' : ''}"outputs":[${parts.join(',')}]}`;
}
