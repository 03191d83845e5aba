import type { FastifyInstance } from 'fastify';
import { BodyInvalidError } from '../errors.js';

/** Tensor bytes of parsed binary requests, by their JSON header; kept off the header so schemas and logs never see them. */
const binaryParts = new WeakMap<object, Buffer>();

/** The binary tensor bytes that followed a request's JSON header, or null for a JSON-only request. */
export function binaryPartOf(body: unknown): Buffer | null {
  return (typeof body === 'object' && body !== null && binaryParts.get(body)) || null;
}

/**
 * Splits a body into its JSON header and binary tensors, as the binary
 * tensor data extension frames it: `headerLength` bytes of JSON, then raw tensors.
 */
export function splitBinaryBody(body: Buffer, headerLength: number, what: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, headerLength));
  } catch (err) {
    throw new BodyInvalidError(`the ${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new BodyInvalidError(`the ${what} must be a JSON object`);
  }
  binaryParts.set(header, body.subarray(headerLength));
  return header as Record<string, unknown>;
}

/**
 * Reads `application/octet-stream` bodies per the binary tensor data
 * extension; `Inference-Header-Content-Length` gives the JSON header's size
 * (absent: the whole body is JSON).
 */
export function registerBinaryBodies(app: FastifyInstance): void {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    const raw = req.headers['inference-header-content-length'];
    const length = raw === undefined ? buf.length : Number(raw);
    if (!Number.isInteger(length) || length < 0 || length > buf.length) {
      done(new BodyInvalidError(`Inference-Header-Content-Length must be an integer from 0 to the body's ${buf.length} bytes (got ${JSON.stringify(raw)})`));
      return;
    }
    try {
      done(null, splitBinaryBody(buf, length, 'JSON header'));
    } catch (err) {
      done(err as Error);
    }
  });
}
