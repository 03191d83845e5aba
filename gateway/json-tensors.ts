import { InputDataError } from '../errors.js';
import { allocate, type TensorData, type TensorDtype } from '../replicas/index.js';
import { INT_RANGE, OIP_DATATYPE } from './datatypes.js';
import { toHalf } from './float16.js';
import { SourceNumber } from './json-source.js';

/** Exact bounds of the 64-bit integer datatypes, for integers read with every digit. */
const BIG_RANGE: Readonly<Partial<Record<TensorDtype, readonly [bigint, bigint]>>> = Object.freeze({
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
});

/**
 * An element JSON.parse could not read as written: an integer beyond ±2^53
 * (its digits are lost) or a literal beyond any double (read as Infinity).
 * The request must be read again exactly (see `reparseExact`) before the
 * element is taken (INT64, UINT64) or refused quoting what the client sent.
 */
export class InexactNumberError extends Error {
  override readonly name = 'InexactNumberError';
  constructor(
    readonly at: string,
    readonly element: number,
    /** What is wrong with it, to say when the client's text cannot be recovered. */
    readonly problem: string,
  ) {
    super(`${at}.data element ${element} ${problem}`);
  }
}

/** Text of a JSON value for an error message; bigints as their digits. */
function shown(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  if (v instanceof SourceNumber) return v.source;
  return JSON.stringify(v) ?? String(v);
}

/** Why a BYTES element cannot become an onnxruntime string without being altered, or null when it can. */
export function unsafeBytesElement(s: string): string | null {
  const nul = s.indexOf('\0');
  if (nul >= 0) return `contains a NUL character at position ${nul}`;
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) return 'contains a lone UTF-16 surrogate, which is not valid UTF-8';
  return null;
}

/** What onnxruntime's string tensors can hold, quoted when a BYTES element is refused. */
export const BYTES_LIMITATION = "onnxruntime's string tensors carry UTF-8 text without NUL bytes";

/**
 * Writes JSON `data` (flat or nested, row-major) into a tensor of exactly
 * `count` elements from `take` (a fresh one by default), checking each
 * element's type and range.
 * INT64/UINT64 elements may be bigints (a request read again exactly);
 * a number JSON.parse could not read as written throws {@link InexactNumberError}.
 */
export function jsonToTensorData(
  at: string,
  dtype: TensorDtype,
  data: unknown,
  count: number,
  shape: readonly number[],
  take: (dtype: TensorDtype, count: number) => TensorData = allocate,
): TensorData {
  if (!Array.isArray(data)) throw new InputDataError(`${at}.data must be an array`);
  // Elements under one index at each depth: [2,3,4] → [24, 12, 4, 1].
  const below = shape.map((_, d) => shape.slice(d).reduce((a, b) => a * b, 1));
  const misnested = (depth: number, length: number, want: string): never => {
    throw new InputDataError(`${at}.data does not follow shape [${shape.join(',')}]: an array at depth ${depth} holds ${length} items where ${want}`);
  };
  const out = take(dtype, count);
  // Typed arrays and string arrays are both written by index below.
  const sink = out as unknown as unknown[];
  const range = INT_RANGE[dtype];
  const isBig = dtype === 'int64' || dtype === 'uint64';
  let n = 0;
  const bigRange = BIG_RANGE[dtype];
  // The element's text as the client wrote it, when JSON.parse could not keep it (see SourceNumber).
  let source: string | null = null;
  const bad = (v: unknown, why: string): never => {
    throw new InputDataError(`${at}.data element ${n} ${why} (got ${source ?? shown(v)})`);
  };
  const beyondFinite = `is beyond the largest finite ${OIP_DATATYPE[dtype]}`;
  const storeFloat = (v: number, given: unknown): void => {
    const stored = dtype === 'float16' ? toHalf(v) : v;
    // Rounding to the datatype is expected; overflowing it to Infinity is not a rounding.
    const overflows = dtype === 'float16' ? (stored & 0x7fff) === 0x7c00 : !Number.isFinite(dtype === 'float32' ? Math.fround(v) : v);
    if (overflows) bad(given, beyondFinite);
    sink[n++] = stored;
  };
  /*
   * Nested data must follow the shape, though any level may hold the rest
   * flattened: for [2,3,4], [[...12 values], [...12 values]] is as good as full
   * nesting or 24 flat values, but a ragged or transposed nesting with the
   * right total is refused rather than read in the wrong order.
   */
  const walk = (arr: unknown[], depth: number): void => {
    const arrays = arr.length > 0 && Array.isArray(arr[0]);
    // Values sit at most at the last dimension's depth (depth 0 for a scalar): arrays below it nest deeper than the shape.
    if (arrays && depth + 1 >= Math.max(1, shape.length)) misnested(depth + 1, (arr[0] as unknown[]).length, 'the shape has no more dimensions');
    if (arrays && arr.length !== shape[depth]) misnested(depth, arr.length, `dimension ${depth} is ${shape[depth]}`);
    if (!arrays && depth > 0 && arr.length !== below[depth]) {
      misnested(depth, arr.length, `it should hold ${below[depth]} values, or be nested further`);
    }
    for (let i = 0; i < arr.length; i++) {
      let v = arr[i];
      source = null;
      if (v instanceof SourceNumber) {
        source = v.source;
        if (range) bad(v, `is beyond ±2^53 and not written as an integer, so its exact value is unknown; write it as a plain integer for ${OIP_DATATYPE[dtype]}`);
        v = Number(v.source);
      }
      if (Array.isArray(v) !== arrays) {
        throw new InputDataError(`${at}.data mixes arrays and values in one array at depth ${depth}`);
      }
      if (arrays) {
        walk(v as unknown[], depth + 1);
        continue;
      }
      if (n >= count) throw new InputDataError(`${at}.data has more than the ${count} elements its shape declares`);
      if (dtype === 'bool') {
        if (typeof v !== 'boolean') bad(v, 'must be true or false');
        sink[n++] = v ? 1 : 0;
      } else if (dtype === 'string') {
        if (typeof v !== 'string') bad(v, 'must be a string for BYTES');
        const unsafe = unsafeBytesElement(v as string);
        if (unsafe) bad(v, `${unsafe}; ${BYTES_LIMITATION}, so it would be altered`);
        sink[n++] = v;
      } else if (typeof v === 'bigint') {
        // A bigint is an integer literal beyond ±2^53 (a request read again exactly).
        if (bigRange) {
          if (v < bigRange[0] || v > bigRange[1]) bad(v, `is out of range for ${OIP_DATATYPE[dtype]}`);
          sink[n++] = v;
        } else if (range) bad(v, `is out of range for ${OIP_DATATYPE[dtype]}`);
        else storeFloat(Number(v), v);
      } else if (typeof v !== 'number') {
        bad(v, 'must be a number');
      } else if (range) {
        if (!Number.isFinite(v)) throw new InexactNumberError(at, n, `is beyond any number for ${OIP_DATATYPE[dtype]}`);
        if (!Number.isInteger(v)) bad(v, `must be an integer for ${OIP_DATATYPE[dtype]}`);
        if (!Number.isSafeInteger(v)) {
          throw new InexactNumberError(at, n, `is beyond ±2^53 and cannot be read exactly for ${OIP_DATATYPE[dtype]}; write it as a plain integer literal`);
        }
        if (v < range[0] || v > range[1]) bad(v, `is out of range for ${OIP_DATATYPE[dtype]}`);
        sink[n++] = isBig ? BigInt(v) : v;
      } else {
        // JSON.parse read a literal past the largest double as Infinity: read again exactly, it names the literal.
        if (!Number.isFinite(v) && source === null) throw new InexactNumberError(at, n, beyondFinite);
        storeFloat(v, v);
      }
    }
  };
  walk(data, 0);
  if (n !== count) throw new InputDataError(`${at}.data has ${n} elements but its shape declares ${count}`);
  return out;
}

