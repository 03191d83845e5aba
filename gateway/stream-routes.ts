import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { BadRequestError, ClientClosedError, MessageInvalidError, ModelNotFoundError, ModelVersionNotFoundError, ShuttingDownError } from '../errors.js';
import type { ShutdownState } from './shutdown-state.js';
import type { CallControl } from '../replicas/index.js';
import { splitBinaryBody } from './body-framing.js';
import { rememberJsonSource } from './json-source.js';
import { toRegistryError } from './http-errors.js';
import type { InferHeader } from './infer-codec.js';
import type { GatewayMetrics } from './build-gateway.js';
import type { InferenceTarget } from './inference-target.js';
import { inferRequestProblem } from './infer-schema.js';
import { MODEL_ID_HEADER, modelIdFor, modelIdHeader } from './model-id.js';
import { connectionSessionOf, sessionIdOf } from './session-header.js';
import { runInference, type InferenceLimits } from './run-inference.js';
import { ROUTE_DOCS } from './route-docs.js';

/**
 * Reads one message: text is a JSON inference request; a binary message is
 * a 4-byte little-endian JSON header length, the JSON header, then tensors.
 */
function readMessage(data: Buffer, isBinary: boolean): { header: InferHeader; binary: Buffer | null } {
  let header: unknown;
  let binary: Buffer | null = null;
  if (isBinary) {
    if (data.length < 4) throw new MessageInvalidError('a binary message starts with a 4-byte header length');
    const length = data.readUInt32LE(0);
    if (4 + length > data.length) throw new MessageInvalidError(`the header length ${length} runs past the message's ${data.length - 4} bytes`);
    if (length === 0) throw new MessageInvalidError('a binary message needs a JSON header (its length is 0); raw binary requests are HTTP only');
    try {
      header = splitBinaryBody(data.subarray(4), length, 'message header');
    } catch (err) {
      throw new MessageInvalidError((err as Error).message);
    }
    binary = data.subarray(4 + length);
  } else {
    const text = data.toString('utf8');
    try {
      header = JSON.parse(text);
    } catch (err) {
      throw new MessageInvalidError(`the message is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof header === 'object' && header !== null) rememberJsonSource(header, text);
  }
  const problem = inferRequestProblem(header);
  if (problem) throw new MessageInvalidError(problem);
  return { header: header as InferHeader, binary };
}

function idOf(data: Buffer, isBinary: boolean): string | undefined {
  try {
    const text = isBinary ? data.toString('utf8', 4, 4 + data.readUInt32LE(0)) : data.toString('utf8');
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** One open stream and the calls in flight on it, as the gateway's shutdown waits for them. */
export interface StreamSession {
  socket: WebSocket;
  pending: Set<CallControl>;
}

/**
 * Counts an open socket among the gateway's streams (its shutdown waits for
 * their calls) and gives up on its calls in flight when it closes. Returns
 * the set the caller keeps those calls in.
 */
export function trackCalls(socket: WebSocket, sessions: Set<StreamSession>): Set<CallControl> {
  const pending = new Set<CallControl>();
  const session = { socket, pending };
  sessions.add(session);
  socket.on('close', () => {
    sessions.delete(session);
    for (const control of pending) control.cancel?.(new ClientClosedError());
  });
  return pending;
}

/** Refuses an upgrade to a handler's WebSocket route whose `ferry-session-id` is malformed, or that names a model (400), before the socket opens. */
export async function checkSessionHeader(req: FastifyRequest): Promise<void> {
  sessionIdOf(req.raw);
  refuseModelId(req);
}

/** A handler's own routes serve no multiplexed models: a `ferry-model-id` sent to one is refused (400), not ignored. */
export function refuseModelId(req: FastifyRequest): void {
  if (modelIdHeader(req.raw) !== undefined) {
    throw new BadRequestError(`${MODEL_ID_HEADER} names a model of a multiplexed deployment; ${req.url.split('?')[0]} is a handler's own route, which serves none`);
  }
}

function serve(
  socket: WebSocket,
  target: InferenceTarget,
  limits: InferenceLimits,
  metrics: GatewayMetrics | undefined,
  sessions: Set<StreamSession>,
  shutdown: ShutdownState,
  /** The connection's session key: its calls go to one replica where the deployment routes by session affinity. */
  sessionId: string,
  /** The multiplexed model every message of the connection is for (see modelIdFor). */
  modelId: string | undefined,
): void {
  const pending = trackCalls(socket, sessions);
  const sendError = (err: unknown, id: string | undefined, started = performance.now()) => {
    const coded = toRegistryError(err);
    metrics?.observeRequest(target.name, coded.statusCode, (performance.now() - started) / 1000);
    if (socket.readyState === socket.OPEN) {
      socket.send(JSON.stringify({ ...(id === undefined ? {} : { id }), error: coded.message, code: coded.code, status: coded.statusCode }));
    }
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    let message: ReturnType<typeof readMessage>;
    try {
      if (shutdown.active) throw new ShuttingDownError();
      message = readMessage(data, isBinary);
    } catch (err) {
      sendError(err, idOf(data, isBinary));
      return;
    }
    const control: CallControl = { sessionId };
    if (modelId !== undefined) control.modelId = modelId;
    const started = performance.now();
    pending.add(control);
    runInference(target, message.header, message.binary, limits, control).then(
      (res) => {
        pending.delete(control);
        metrics?.observeRequest(target.name, 200, (performance.now() - started) / 1000);
        if (socket.readyState !== socket.OPEN) return;
        if (!('binary' in res)) {
          socket.send(res.text);
          return;
        }
        const length = Buffer.allocUnsafe(4);
        length.writeUInt32LE(res.header.length);
        socket.send(Buffer.concat([length, res.header, ...res.binary]));
      },
      (err) => {
        pending.delete(control);
        sendError(err, message.header.id, started);
      },
    );
  });
}

/**
 * WebSocket streaming at `/v2/models/{name}[/versions/{version}]/stream` (and `{routePrefix}/stream`):
 * each message is one inference request, answered by one message carrying
 * the same `id`, in completion order. Bad messages get an error message; the
 * socket stays open.
 */
export function registerStreamRoutes(
  app: FastifyInstance,
  targets: ReadonlyMap<string, InferenceTarget>,
  limits: InferenceLimits,
  metrics: GatewayMetrics | undefined,
  sessions: Set<StreamSession>,
  shutdown: ShutdownState,
): void {
  type StreamParams = { name: string; version?: string; modelId?: string };
  const find = (params: StreamParams) => targets.get(params.name)!;
  for (const url of ['/v2/models/:name/stream', '/v2/models/:name/versions/:version/stream', '/v2/models/:name/:modelId/stream']) {
    app.get<{ Params: StreamParams }>(
      url,
      {
        websocket: true,
        schema: url.endsWith(':modelId/stream') ? ROUTE_DOCS.ofMultiplexed(ROUTE_DOCS.stream) : ROUTE_DOCS.stream,
        onRequest: async (req) => {
          const target = targets.get(req.params.name);
          if (!target) throw new ModelNotFoundError(req.params.modelId === undefined ? req.params.name : `${req.params.name}/${req.params.modelId}`);
          if (req.params.version !== undefined && req.params.version !== target.version) {
            throw new ModelVersionNotFoundError(req.params.name, req.params.version);
          }
          sessionIdOf(req.raw);
          modelIdFor(target, req.params.modelId, modelIdHeader(req.raw));
        },
      },
      (socket, req) => {
        const target = find(req.params);
        const modelId = modelIdFor(target, req.params.modelId, modelIdHeader(req.raw));
        serve(socket, target, limits, metrics, sessions, shutdown, connectionSessionOf(req.raw), modelId);
      },
    );
  }
  for (const target of targets.values()) {
    if (!target.routePrefix) continue;
    const onRequest = async (req: FastifyRequest) => {
      sessionIdOf(req.raw);
      modelIdFor(target, undefined, modelIdHeader(req.raw));
    };
    app.get(`${target.routePrefix}/stream`, { websocket: true, schema: ROUTE_DOCS.prefixStream(target.name), onRequest }, (socket, req) =>
      serve(socket, target, limits, metrics, sessions, shutdown, connectionSessionOf(req.raw), modelIdFor(target, undefined, modelIdHeader(req.raw))),
    );
  }
}
