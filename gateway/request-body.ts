import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, createInflateRaw, type Gunzip, type Inflate, type InflateRaw } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BodyInvalidError, BodyTooLargeError, ContentEncodingError } from '../errors.js';
import { frameBody, giveBodyBuffer, takeBodyBuffer } from './body-framing.js';

/** The request Content-Encodings Ferry decodes, as its 415 names them. */
const DECODED_ENCODINGS = 'gzip, deflate or identity';

type Encoding = 'identity' | 'gzip' | 'deflate';
type Done = (err: Error | null, body?: unknown) => void;

/** Reads a Content-Encoding header: identity (or none), gzip (x-gzip) or deflate; anything else is a 415. */
export function contentEncodingOf(raw: string | undefined): Encoding {
  if (raw === undefined) return 'identity';
  const codings = raw
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return 'identity';
  const only = codings.length === 1 ? (codings[0] === 'x-gzip' ? 'gzip' : codings[0]) : null;
  if (only === 'gzip' || only === 'deflate') return only;
  if (codings.length > 1) throw new ContentEncodingError(`${JSON.stringify(raw)} (stacked encodings)`, `one of ${DECODED_ENCODINGS}`);
  throw new ContentEncodingError(JSON.stringify(raw), DECODED_ENCODINGS);
}

/**
 * HTTP's deflate is zlib-wrapped (RFC 1950, what Python's zlib.compress and
 * tritonclient send); some clients send raw deflate (RFC 1951). A zlib stream
 * starts with a method byte of 8 and a 16-bit header that is a multiple of 31.
 */
function decoderFor(encoding: 'gzip' | 'deflate', head: Buffer): Gunzip | Inflate | InflateRaw {
  if (encoding === 'gzip') return createGunzip();
  const zlibWrapped = head.length >= 2 && (head[0] & 0x0f) === 8 && ((head[0] << 8) | head[1]) % 31 === 0;
  return zlibWrapped ? createInflate() : createInflateRaw();
}

/**
 * Reads a whole request body, decoding gzip or deflate on the way, and frames
 * it ({@link frameBody}). The limit holds for the bytes received and for the
 * decoded bytes alike: a body that decodes past it is refused (413) at that
 * chunk, and nothing more is inflated. An identity body of known length is
 * read into a pooled buffer.
 */
function readBody(req: FastifyRequest, payload: IncomingMessage, limit: number, done: Done): void {
  let encoding: Encoding;
  try {
    encoding = contentEncodingOf(req.headers['content-encoding']);
  } catch (err) {
    payload.resume();
    done(err as Error);
    return;
  }
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    payload.resume();
    done(new BodyTooLargeError(limit));
    return;
  }
  const pooled = encoding === 'identity' && Number.isInteger(declared) && declared > 0 ? takeBodyBuffer(declared) : null;
  const chunks: Buffer[] = [];
  let received = 0;
  let decoded = 0;
  let decoder: Gunzip | Inflate | InflateRaw | null = null;
  let head: Buffer | null = null;
  let settled = false;

  const finish = (err: Error | null, body?: unknown) => {
    if (settled) return;
    settled = true;
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    if (err) {
      decoder?.destroy();
      if (pooled) giveBodyBuffer(pooled);
      // What the client still sends is read and dropped, not inflated; the answer closes the connection.
      payload.resume();
    }
    done(err, body);
  };
  const keep = (chunk: Buffer) => {
    if (settled) return;
    if (decoded + chunk.length > limit) return finish(new BodyTooLargeError(limit));
    if (pooled) {
      if (decoded + chunk.length > pooled.length) return finish(new BodyInvalidError('the body is longer than its Content-Length'));
      chunk.copy(pooled, decoded);
    } else chunks.push(chunk);
    decoded += chunk.length;
  };
  const complete = () => {
    if (settled) return;
    if (pooled && decoded !== pooled.length) return finish(new BodyInvalidError('the body is shorter than its Content-Length'));
    let body: unknown;
    try {
      body = frameBody(pooled ?? Buffer.concat(chunks, decoded), pooled !== null, req.headers['inference-header-content-length']);
    } catch (err) {
      return finish(err as Error);
    }
    finish(null, body);
  };
  const startDecoder = (first: Buffer, coding: 'gzip' | 'deflate') => {
    const d = decoderFor(coding, first);
    d.on('data', keep);
    d.on('end', complete);
    d.on('error', (err) => finish(new BodyInvalidError(`the ${coding} body cannot be decoded: ${err.message}`)));
    decoder = d;
    return d;
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) return finish(new BodyTooLargeError(limit));
    if (encoding === 'identity') return keep(chunk);
    if (decoder) {
      decoder.write(chunk);
      return;
    }
    // The first two bytes tell zlib-wrapped deflate from raw deflate.
    head = head ? Buffer.concat([head, chunk]) : chunk;
    if (head.length >= 2) {
      startDecoder(head, encoding).write(head);
      head = null;
    }
  };
  const onEnd = () => {
    if (encoding === 'identity') return complete();
    if (decoder) decoder.end();
    else if (head) startDecoder(head, encoding).end(head);
    else complete(); // an empty body stays empty
  };
  const onError = (err: Error) => finish(Object.assign(err, { statusCode: 400 }));
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
}

/**
 * One body parser for every Content-Type, including none (Python's
 * tritonclient sends none, `curl -d` sends a form type): Triton frames a body
 * by `Inference-Header-Content-Length` alone, and so does Ferry. Bodyless
 * methods (GET) never reach it; a body sent to an unknown route is dropped.
 * Bodies are limited by the route's `bodyLimit`, else the server's.
 */
export function registerRequestBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const parse = (req: FastifyRequest, payload: IncomingMessage, done: Done) => {
    if (req.is404) {
      payload.resume();
      done(null, undefined);
      return;
    }
    // The route's own bodyLimit, else the server's: Fastify fills in the latter.
    readBody(req, payload, req.routeOptions.bodyLimit, done);
  };
  // The same parser by name for the common types: Fastify caches a named
  // type's parser, but parses the header anew for each catch-all request.
  app.addContentTypeParser(['application/json', 'application/octet-stream'], parse);
  app.addContentTypeParser('*', parse);
}
