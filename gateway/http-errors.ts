import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RETRY_AFTER_SECONDS } from '../constants.js';
import { dottedPath } from '../json-path.js';
import {
  BadRequestError,
  BodyInvalidError,
  BodyTooLargeError,
  ContentTypeError,
  HandlerFailedError,
  InferenceFailedError,
  InternalError,
  QueueFullError,
  ReplicaLostError,
  ReplicaStartError,
  RouteNotFoundError,
  ShuttingDownError,
} from '../errors.js';
import {
  BackPressureError,
  InferenceError,
  PoolClosedError,
  ReplicaCrashedError,
  ReplicaStartFailedError,
} from '../replicas/index.js';

type Coded = Error & { code: string; statusCode: number };

const HANDLER_FAILED = 'FERRY_ERR_HANDLER_FAILED';

/** Statuses of refusals that are Ferry working as meant, not faults: logged at debug, without a stack. */
const EXPECTED_REFUSALS: ReadonlySet<number> = new Set([408, 499, 503]);

/** What a 415 for a malformed Content-Type says Ferry reads. */
const READABLE_TYPES = 'Ferry reads a body of any well-formed media type (type/subtype, e.g. application/json or application/octet-stream) or none, framed by Inference-Header-Content-Length';

/** Maps any error to a registry error: control-flow classes, Fastify's own, and unknown ones. */
export function toRegistryError(err: unknown, bodyLimit?: number, contentType?: string): Coded {
  if (err instanceof BackPressureError) return new QueueFullError(err.deployment, err.queued, err.maxQueued) as Coded;
  if (err instanceof PoolClosedError) return new ShuttingDownError() as Coded;
  if (err instanceof ReplicaCrashedError) return new ReplicaLostError(err.deployment, err.reason) as Coded;
  if (err instanceof InferenceError) {
    if (err.code === undefined) return new InferenceFailedError(err.deployment, err.reason) as Coded;
    if (err.code === HANDLER_FAILED && !err.passed) return new HandlerFailedError(err.deployment, err.reason) as Coded;
    // A handle call's error the handler let through: the same code and status, so backpressure stays a 503.
    return Object.assign(new Error(err.reason), { code: err.code, statusCode: err.statusCode ?? 500 });
  }
  if (err instanceof ReplicaStartFailedError) return new ReplicaStartError(err.deployment, err.reason) as Coded;
  const e = err as FastifyError & { validation?: { instancePath: string; message?: string }[]; validationContext?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('FERRY_ERR_')) return e as Coded;
  if (e?.validation) {
    const v = e.validation[0];
    // The part of the request that failed: the body's field, or the query string's, path's or headers'.
    const part = e.validationContext && e.validationContext !== 'body' ? e.validationContext : '';
    const field = dottedPath(v.instancePath);
    const where = part ? (field ? `${part}.${field}` : part) : field || 'body';
    return new BodyInvalidError(`${where} ${v.message ?? 'is invalid'}`) as Coded;
  }
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new BodyTooLargeError(bodyLimit ?? 'the limit') as Coded;
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ContentTypeError(JSON.stringify(contentType ?? ''), READABLE_TYPES) as Coded;
  if (e?.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    const coded = new BodyInvalidError(`invalid request body: ${e.message}`) as Coded;
    coded.statusCode = e.statusCode;
    return coded;
  }
  return new InternalError((err as Error)?.message ?? String(err)) as Coded;
}

/**
 * Fastify error handler: every error becomes `{"error": message, "code": FERRY_ERR_*}`
 * with its status; 503s carry Retry-After.
 */
export function handleError(this: unknown, err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  // The client left while its answer was being written (a compressed answer's
  // stream ends early): there is no one to answer, and nothing went wrong here.
  if ((err as NodeJS.ErrnoException)?.code === 'ERR_STREAM_PREMATURE_CLOSE' && reply.raw.destroyed) {
    req.log.debug({ code: 'FERRY_ERR_CLIENT_CLOSED' }, 'the client left before its answer was written');
    return;
  }
  const coded = toRegistryError(err, req.routeOptions?.bodyLimit, req.headers['content-type']);
  // A refusal Ferry chose (overload, shutdown, timeout, client gone) is expected under load: a stack
  // per 503 would make an overload grow the log faster than stdout takes it.
  if (EXPECTED_REFUSALS.has(coded.statusCode)) req.log.debug({ code: coded.code }, coded.message);
  else if (coded.statusCode >= 500) req.log.error({ err }, coded.message);
  if (coded.statusCode === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  void reply.code(coded.statusCode).send({ error: coded.message, code: coded.code });
}

/**
 * Fastify's own errors before routing (a URL that does not decode, a path
 * segment over `maxParamLength`) in Ferry's form.
 */
export function handleFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const coded = new BadRequestError(err.message) as Coded;
  void reply.code(err.statusCode ?? 400).send({ error: coded.message, code: coded.code });
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request did not arrive in time'],
  HPE_HEADER_OVERFLOW: [431, 'the request headers are too large'],
};

/**
 * Node's `clientError`: a request the HTTP parser cannot read gets Ferry's
 * error body, as every other refusal does, and the connection is closed.
 */
export function handleClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, why] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'the HTTP request cannot be parsed'];
  const coded = new BadRequestError(why);
  const body = JSON.stringify({ error: coded.message, code: coded.code });
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  if (socket.writable) socket.write(head + body);
  socket.destroy(err);
}

/** 404 for routes that do not exist. */
export function handleNotFound(req: FastifyRequest, reply: FastifyReply): void {
  const err = new RouteNotFoundError(req.method, req.url);
  void reply.code(404).send({ error: err.message, code: err.code });
}
