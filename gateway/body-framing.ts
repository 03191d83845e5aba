import { isUtf8 } from 'node:buffer';
import { BodyInvalidError } from '../errors.js';
import { rememberJsonSource } from './json-source.js';
import { sharedBuffers } from './shared-buffers.js';

/** Tensor bytes of parsed binary requests, by their JSON header; kept off the header so schemas and logs never see them. */
const binaryParts = new WeakMap<object, Buffer>();

const pooledBodies = new WeakMap<object, Buffer>();

/** The binary tensor bytes that followed a request's JSON header, or null for a JSON-only request. */
export function binaryPartOf(body: unknown): Buffer | null {
  return (typeof body === 'object' && body !== null && binaryParts.get(body)) || null;
}

/** Returns a request's body buffer for reuse; nothing may read its tensors afterwards. */
export function releaseBody(header: unknown): void {
  if (typeof header !== 'object' || header === null) return;
  const buffer = pooledBodies.get(header);
  if (!buffer) return;
  pooledBodies.delete(header);
  binaryParts.delete(header);
  sharedBuffers.give(buffer.buffer);
}

/**
 * JSON is UTF-8 (RFC 8259). Decoding invalid bytes would put U+FFFD in their
 * place, silently altering a BYTES element, so such a body is refused.
 */
function checkUtf8(bytes: Buffer, what: string): void {
  if (isUtf8(bytes)) return;
  throw new BodyInvalidError(
    `${what} is not valid UTF-8 (JSON must be); a BYTES element that is not UTF-8 cannot be carried by onnxruntime's string tensors either`,
  );
}

/**
 * Splits a body into its JSON header and binary tensors, as the binary
 * tensor data extension frames it: `headerLength` bytes of JSON, then raw tensors.
 */
export function splitBinaryBody(body: Buffer, headerLength: number, what: string): Record<string, unknown> {
  let header: unknown;
  checkUtf8(body.subarray(0, headerLength), `the ${what}`);
  const text = body.toString('utf8', 0, headerLength);
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new BodyInvalidError(`the ${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new BodyInvalidError(`the ${what} must be a JSON object`);
  }
  binaryParts.set(header, body.subarray(headerLength));
  rememberJsonSource(header, text);
  return header as Record<string, unknown>;
}

function headerLengthOf(raw: string | string[] | undefined, bodyLength: number): number {
  const text = typeof raw === 'string' ? raw.trim() : '';
  const length = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(length) || length > bodyLength) {
    throw new BodyInvalidError(`Inference-Header-Content-Length must be an integer from 0 to the body's ${bodyLength} bytes (got ${JSON.stringify(raw)})`);
  }
  return length;
}

/** Raw binary requests (`Inference-Header-Content-Length: 0`): bodies that are one input's tensor bytes, with no JSON header yet. */
const rawBodies = new WeakSet<object>();

/** A Buffer of `bytes` bytes for a request body, from this thread's shared pool when large enough (its tensors then reach a replica thread without a copy); give it back with {@link giveBodyBuffer}. */
export function takeBodyBuffer(bytes: number): Buffer {
  return sharedBuffers.takeBytes(bytes);
}

/** Returns a body buffer that no request holds. */
export function giveBodyBuffer(buffer: Buffer): void {
  sharedBuffers.give(buffer.buffer);
}

/**
 * Frames a whole (decoded) request body by its `Inference-Header-Content-Length`,
 * whatever its Content-Type, as Triton does: absent, the whole body is JSON
 * (empty: no body); `n`, the first `n` bytes are the JSON header and the rest
 * binary tensors; `0`, the whole body is one input's tensor bytes (a raw
 * binary request, given its header by raw-binary-request.ts). A `pooled`
 * buffer is held by the returned header until {@link releaseBody}, or given
 * back at once for a JSON-only body; on a throw it stays the caller's.
 */
export function frameBody(body: Buffer, pooled: boolean, rawHeaderLength: string | string[] | undefined): unknown {
  if (rawHeaderLength === undefined) {
    let value: unknown;
    if (body.length > 0) {
      // A UTF-8 byte order mark is not JSON, but some clients write one.
      const start = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
      checkUtf8(body.subarray(start), 'the JSON body');
      const text = body.toString('utf8', start);
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new BodyInvalidError(`the body is not valid JSON: ${(err as Error).message}`);
      }
      if (typeof value === 'object' && value !== null) rememberJsonSource(value, text);
    }
    if (pooled) giveBodyBuffer(body);
    return value;
  }
  const headerLength = headerLengthOf(rawHeaderLength, body.length);
  let header: Record<string, unknown>;
  if (headerLength === 0) {
    header = {};
    binaryParts.set(header, body);
    rawBodies.add(header);
  } else header = splitBinaryBody(body, headerLength, 'JSON header');
  if (pooled) pooledBodies.set(header, body);
  return header;
}

/** True for the body of a raw binary request that has not been given its header yet. */
export function isRawBinaryBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && rawBodies.has(body);
}

/**
 * Gives a raw binary request its header, in place (the body object keeps its
 * pooled buffer), and the bytes its input reads when they differ from the body.
 */
export function completeRawBody(body: Record<string, unknown>, header: object, binary: Buffer): void {
  Object.assign(body, header);
  rawBodies.delete(body);
  binaryParts.set(body, binary);
}
