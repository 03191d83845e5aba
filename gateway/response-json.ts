import type { WireTensor } from '../replicas/index.js';
import { tensorToJsonData } from './json-tensors.js';

/**
 * A tensor's `data` as JSON text. INT64 and UINT64 elements are written as
 * their exact decimal digits: a JS number would turn 2^53 + 1 into 2^53 and
 * put values near the type's limits outside it.
 */
export function tensorDataJson(t: WireTensor): string {
  if (t.dtype === 'int64' || t.dtype === 'uint64') return `[${(t.data as BigInt64Array | BigUint64Array).join(',')}]`;
  return JSON.stringify(tensorToJsonData(t));
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
