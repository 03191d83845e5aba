import { parse } from 'lossless-json';
import type { InferHeader } from './infer-codec.js';

/**
 * The JSON text each parsed request header came from, kept so a request
 * whose integers JSON.parse could not hold exactly (beyond ±2^53) can be
 * read again with every digit. A symbol-keyed property, not a WeakMap: it is
 * set on every request, and goes with its header; schemas and logs never see it.
 */
const SOURCE = Symbol('ferry.jsonSource');

/** Records the text `header` was parsed from (a string, or a Buffer that stays unchanged while the header lives). */
export function rememberJsonSource(header: object, source: Buffer | string): void {
  (header as { [SOURCE]?: Buffer | string })[SOURCE] = source;
}

/** The JSON text `header` was parsed from, or null when unknown. */
export function jsonSourceOf(header: object): string | null {
  const source = (header as { [SOURCE]?: Buffer | string })[SOURCE];
  return source === undefined ? null : typeof source === 'string' ? source : source.toString('utf8');
}

const INTEGER = /^-?\d+$/;

/**
 * A number beyond ±2^53 not written as an integer literal (`1e20`,
 * `9007199254740993.0`), or beyond any double (`1e400`): kept as the client
 * wrote it, so an input can refuse it quoting those characters; a float input
 * reads a finite one as a number.
 */
export class SourceNumber {
  constructor(readonly source: string) {}
}

/** Integer literals beyond ±2^53 become bigints with every digit; other numbers are read as JSON.parse reads them. */
function exactNumber(text: string): number | bigint | SourceNumber {
  const n = Number(text);
  if (!Number.isFinite(n)) return new SourceNumber(text);
  if (Number.isSafeInteger(n) || !Number.isInteger(n)) return n;
  return INTEGER.test(text) ? BigInt(text) : new SourceNumber(text);
}

/** `header` parsed again from its source with exact integers, or null when its source is unknown. */
export function reparseExact(header: object): InferHeader | null {
  const source = (header as { [SOURCE]?: Buffer | string })[SOURCE];
  if (source === undefined) return null;
  return parse(typeof source === 'string' ? source : source.toString('utf8'), null, exactNumber) as InferHeader;
}
