import { parse } from 'lossless-json';
import type { InferHeader } from './infer-codec.js';

/**
 * The JSON text each parsed request header came from, kept so a request
 * whose integers JSON.parse could not hold exactly (beyond ±2^53) can be
 * read again with every digit. Entries go with their header.
 */
const sources = new WeakMap<object, Buffer | string>();

/** Records the text `header` was parsed from (a Buffer view of the body, or a string). */
export function rememberJsonSource(header: object, source: Buffer | string): void {
  sources.set(header, source);
}

const INTEGER = /^-?\d+$/;

/** Integer literals beyond ±2^53 become bigints with every digit; other numbers are read as JSON.parse reads them. */
function exactNumber(text: string): number | bigint {
  const n = Number(text);
  return INTEGER.test(text) && !Number.isSafeInteger(n) ? BigInt(text) : n;
}

/** `header` parsed again from its source with exact integers, or null when its source is unknown. */
export function reparseExact(header: object): InferHeader | null {
  const source = sources.get(header);
  if (source === undefined) return null;
  return parse(typeof source === 'string' ? source : source.toString('utf8'), null, exactNumber) as InferHeader;
}
