import type { FastifyInstance } from 'fastify';
import { BodyInvalidError, BodyTooLargeError } from '../errors.js';
import { BufferPool } from '../replicas/index.js';

/** Tensor bytes of parsed binary requests, by their JSON header; kept off the header so schemas and logs never see them. */
const binaryParts = new WeakMap<object, Buffer>();

/**
 * Binary request bodies are read into reused buffers: at 200 KB a request,
 * fresh ones keep the garbage collector busy. A body goes back to the pool
 * once its call is settled ({@link releaseBody}).
 */
const bodies = new BufferPool();
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
  bodies.give(buffer.buffer as ArrayBuffer);
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

function headerLengthOf(raw: string | string[] | undefined, bodyLength: number): number {
  const length = raw === undefined ? bodyLength : Number(raw);
  if (!Number.isInteger(length) || length < 0 || length > bodyLength) {
    throw new BodyInvalidError(`Inference-Header-Content-Length must be an integer from 0 to the body's ${bodyLength} bytes (got ${JSON.stringify(raw)})`);
  }
  return length;
}

/**
 * Reads `application/octet-stream` bodies per the binary tensor data
 * extension; `Inference-Header-Content-Length` gives the JSON header's size
 * (absent: the whole body is JSON). The body limit holds as for JSON bodies.
 */
export function registerBinaryBodies(app: FastifyInstance, bodyLimit: number): void {
  app.addContentTypeParser('application/octet-stream', (req, payload, done) => {
    const declared = Number(req.headers['content-length']);
    if (declared > bodyLimit) {
      done(new BodyTooLargeError(bodyLimit));
      return;
    }
    const pooled = Number.isInteger(declared) && declared > 0 ? bodies.takeBytes(declared) : null;
    const chunks: Buffer[] = [];
    let received = 0;
    const fail = (err: Error) => {
      payload.removeAllListeners('data');
      payload.removeAllListeners('end');
      if (pooled) bodies.give(pooled.buffer as ArrayBuffer);
      done(err);
    };
    payload.on('data', (chunk: Buffer) => {
      if (received + chunk.length > bodyLimit) return fail(new BodyTooLargeError(bodyLimit));
      if (pooled) {
        if (received + chunk.length > pooled.length) return fail(new BodyInvalidError('the body is longer than its Content-Length'));
        chunk.copy(pooled, received);
      } else chunks.push(chunk);
      received += chunk.length;
    });
    payload.on('error', (err) => fail(Object.assign(err, { statusCode: 400 })));
    payload.on('end', () => {
      if (pooled && received !== pooled.length) return fail(new BodyInvalidError('the body is shorter than its Content-Length'));
      const body = pooled ?? Buffer.concat(chunks, received);
      try {
        const header = splitBinaryBody(body, headerLengthOf(req.headers['inference-header-content-length'], body.length), 'JSON header');
        if (pooled) pooledBodies.set(header, pooled);
        done(null, header);
      } catch (err) {
        if (pooled) bodies.give(pooled.buffer as ArrayBuffer);
        done(err as Error);
      }
    });
  });
}
