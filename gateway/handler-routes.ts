import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { BodyInvalidError, BodyTooLargeError, ClientClosedError, MessageInvalidError, ShuttingDownError } from '../errors.js';
import type { CallControl, RouteCall } from '../replicas/index.js';
import type { GatewayMetrics } from './build-gateway.js';
import { armRequestTimeout } from './call-timeout.js';
import { toRegistryError } from './http-errors.js';
import { connectionSessionOf, sessionIdOf } from './session-header.js';
import { contentEncodingOf } from './request-body.js';
import type { InferenceTarget } from './inference-target.js';
import type { ShutdownState } from './shutdown-state.js';
import { checkSessionHeader, refuseModelId, trackCalls, type StreamSession } from './stream-routes.js';
import { traceCall } from './request-following.js';
import { ROUTE_DOCS } from './route-docs.js';

/** Calls a handler method through the deployment's router, given up after its requestTimeoutMs (408) or by `control`. */
async function callWithTimeout(target: InferenceTarget, route: RouteCall, control: CallControl): Promise<unknown> {
  const timer = armRequestTimeout(control, target.name, target.requestTimeoutMs);
  try {
    return await target.callRoute(route, control);
  } finally {
    clearTimeout(timer);
  }
}

function parseJson(bytes: Uint8Array, what: string, Err: new (message: string) => Error): unknown {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Err(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A body in the encoding it came in, decoded: at most `limit` bytes, else 413. */
function decoded(body: Buffer, encoding: ReturnType<typeof contentEncodingOf>, limit: number): Buffer {
  if (encoding === 'identity' || body.length === 0) return body;
  try {
    if (encoding === 'gzip') return gunzipSync(body, { maxOutputLength: limit });
    // HTTP's deflate is zlib-wrapped; some clients send it raw (see request-body.ts).
    const zlibWrapped = body.length >= 2 && (body[0] & 0x0f) === 8 && ((body[0] << 8) | body[1]) % 31 === 0;
    return zlibWrapped ? inflateSync(body, { maxOutputLength: limit }) : inflateRawSync(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLargeError(limit);
    throw new BodyInvalidError(`the ${encoding} body does not decode: ${(err as Error).message}`);
  }
}

/** The first value of each query parameter. */
function firstValues(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, string | string[]>)) out[k] = Array.isArray(v) ? v[0] : v;
  return out;
}

/** Bytes in a buffer of their own: a view of a larger one would carry all of it to the replica. */
const ownBytes = (b: Uint8Array): Uint8Array => Uint8Array.prototype.slice.call(b);

/**
 * A code deployment's own HTTP routes, under its routePrefix: each calls the
 * handler method the config names with `{ body, params, query }` (body:
 * parsed JSON, or the raw bytes), through the deployment's router, queue and
 * timeout, and answers with what it returns (JSON, or bytes with the
 * route's Content-Type). Errors keep Ferry's `{error, code}` form. Bodies
 * are read whole, up to the gateway's body limit, whatever their type.
 */
export function registerHandlerRoutes(scope: FastifyInstance, targets: ReadonlyMap<string, InferenceTarget>, bodyLimit: number, metrics?: GatewayMetrics): void {
  // These routes read their bodies as the config says, not as inference requests; gzip and
  // deflate are decoded as for inference (the limit holds for the decoded size), others are a 415.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (req, body, done) => {
    try {
      done(null, decoded(body as Buffer, contentEncodingOf(req.headers['content-encoding']), bodyLimit));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  for (const target of targets.values()) {
    for (const r of target.routes) {
      scope.route({
        method: r.method,
        url: `${target.routePrefix}${r.path}`,
        schema: ROUTE_DOCS.handlerRoute(target.name, r.call),
        ...(metrics ? { onResponse: async (_req: FastifyRequest, reply: FastifyReply) => metrics.observeRequest(target.name, reply.statusCode, reply.elapsedTime / 1000) } : {}),
        handler: async (req, reply) => {
          const raw = req.body as Buffer | undefined;
          const body = r.body === 'bytes' ? ownBytes(raw ?? new Uint8Array(0)) : raw && raw.length > 0 ? parseJson(raw, 'the body', BodyInvalidError) : undefined;
          const control: CallControl = {};
          refuseModelId(req);
          const sessionId = sessionIdOf(req.raw);
          if (sessionId !== undefined) control.sessionId = sessionId;
          traceCall(req, target.name, control);
          reply.raw.once('close', () => {
            if (!reply.raw.writableFinished) control.cancel?.(new ClientClosedError());
          });
          const route: RouteCall = { method: r.call, body, params: req.params as Record<string, string>, query: firstValues(req.query), response: r.response };
          const result = await callWithTimeout(target, route, control);
          reply.type(r.contentType);
          if (r.response === 'json') return reply.send(result as string);
          const bytes = result as Uint8Array;
          return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        },
      });
    }
  }
}

function serveMessages(
  socket: WebSocket,
  target: InferenceTarget,
  ws: InferenceTarget['websockets'][number],
  sessions: Set<StreamSession>,
  shutdown: ShutdownState,
  metrics: GatewayMetrics | undefined,
  sessionId: string,
): void {
  const pending = trackCalls(socket, sessions);
  const send = (data: string | Buffer) => {
    if (socket.readyState === socket.OPEN) socket.send(data);
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    const started = performance.now();
    const fail = (err: unknown) => {
      const coded = toRegistryError(err);
      metrics?.observeRequest(target.name, coded.statusCode, (performance.now() - started) / 1000);
      send(JSON.stringify({ error: coded.message, code: coded.code, status: coded.statusCode }));
    };
    let body: unknown;
    try {
      if (shutdown.active) throw new ShuttingDownError();
      if (ws.messages === 'json') {
        if (isBinary) throw new MessageInvalidError('this WebSocket takes JSON text messages');
        body = parseJson(data, 'the message', MessageInvalidError);
      } else body = ownBytes(data);
    } catch (err) {
      fail(err);
      return;
    }
    const control: CallControl = { sessionId };
    pending.add(control);
    const route: RouteCall = { method: ws.call, body, params: {}, query: {}, response: ws.messages };
    callWithTimeout(target, route, control).then(
      (result) => {
        pending.delete(control);
        metrics?.observeRequest(target.name, 200, (performance.now() - started) / 1000);
        if (typeof result === 'string') send(result);
        else send(Buffer.from((result as Uint8Array).buffer, (result as Uint8Array).byteOffset, (result as Uint8Array).byteLength));
      },
      (err) => {
        pending.delete(control);
        fail(err);
      },
    );
  });
}

/**
 * A code deployment's WebSocket message handlers, under its routePrefix:
 * each message (JSON text, or a binary frame) calls the handler method with
 * it as the body; what the method returns is sent back as one message, in
 * completion order. An error is sent as `{error, code, status}` and the
 * socket stays open. Calls in flight are given up when the socket closes.
 */
export function registerHandlerWebSockets(
  scope: FastifyInstance,
  targets: ReadonlyMap<string, InferenceTarget>,
  sessions: Set<StreamSession>,
  shutdown: ShutdownState,
  metrics?: GatewayMetrics,
): void {
  for (const target of targets.values()) {
    for (const ws of target.websockets) {
      scope.get(`${target.routePrefix}${ws.path}`, { websocket: true, schema: ROUTE_DOCS.handlerSocket(target.name), onRequest: checkSessionHeader }, (socket, req) =>
        serveMessages(socket, target, ws, sessions, shutdown, metrics, connectionSessionOf(req.raw)),
      );
    }
  }
}
