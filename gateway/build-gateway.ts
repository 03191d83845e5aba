import compress from '@fastify/compress';
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { DEFAULT_MAX_TENSOR_ELEMENTS } from './input-checks.js';
import { ShuttingDownError } from '../errors.js';
import { handleClientError, handleError, handleFrameworkError, handleNotFound } from './http-errors.js';
import type { InferenceTarget } from './inference-target.js';
import { registerJobRoutes, type GatewayJobs } from './job-routes.js';
import { registerModelRoutes } from './model-routes.js';
import { registerRawBinaryRequests } from './raw-binary-request.js';
import { registerRequestBodies } from './request-body.js';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.js';
import { registerRequestFollowing } from './request-following.js';
import { RequestTracer } from './tracing.js';
import { registerRepositoryRoutes } from './repository-routes.js';
import { registerControlRoutes, type GatewayControl } from './control-routes.js';
import { registerAuth, routeNeeds } from './auth.js';
import type { ResolvedAuth, ResolvedTracing } from '../deployments/index.js';
import { registerHandlerRoutes, registerHandlerWebSockets } from './handler-routes.js';
import type { InferenceLimits } from './run-inference.js';
import type { ShutdownState } from './shutdown-state.js';
import { registerStreamRoutes, type StreamSession } from './stream-routes.js';
import { registerDashboardRoutes } from '../dashboard/index.js';
import { registerOpenApi } from './openapi.js';
import { ROUTE_DOCS } from './route-docs.js';

/** Options for {@link buildGateway}. */
export interface GatewayOptions {
  /** The deployments to serve, by name. */
  targets: ReadonlyMap<string, InferenceTarget>;
  /** Largest request body and WebSocket message in bytes. @default 1 MiB */
  bodyLimitBytes?: number;
  /** Most elements one input tensor may declare. @default 16777216 */
  maxTensorElements?: number;
  /** How long a client may take to send a whole request; slower ones get 408 and their socket is closed. @default 30000 */
  receiveTimeoutMs?: number;
  /** Fastify's logger option (pino). @default false */
  logger?: FastifyServerOptions['logger'];
  /** Server name and version for `/v2`. */
  server?: { name: string; version: string };
  /** Where request figures go, and what `/metrics` serves. @default no metrics */
  metrics?: GatewayMetrics;
  /** What `GET /-/status` serves: deployments, replicas, queues, decisions. @default no status route */
  status?: () => unknown;
  /** What the status page (`/-/dashboard`) polls: the samples after `since` and the state now. @default no status page */
  dashboard?: (since: number) => unknown;
  /** Set by the owner when shutdown begins. @default never shutting down */
  shutdown?: ShutdownState;
  /**
   * Brings every target's readiness up to date before a readiness answer
   * (health, model ready, repository index): an ingress thread asks the
   * control plane, so a probe never reads a stale state. @default nothing to do
   */
  freshenReadiness?: () => Promise<void>;
  /** Asynchronous inference (`Prefer: respond-async`, `/v2/jobs`). @default none: requests are answered synchronously */
  jobs?: GatewayJobs;
  /** A log line per request (see registerRequestLog). @default false */
  requestLog?: boolean;
  /** API keys every route but the public ones needs (see registerAuth). @default none: every route open */
  auth?: ResolvedAuth | null;
  /** Gateways sharing the port (ingress threads): each holds its share of a key's rate limit. @default 1 */
  gateways?: number;
  /** Where request spans go (OpenTelemetry). @default none */
  tracing?: ResolvedTracing | null;
  /** False when `/-/*`, `/metrics` and the repository are served on the admin listener instead. @default true */
  adminRoutes?: boolean;
  /** Config updates and repository load/unload (admin routes). @default not served */
  control?: GatewayControl;
}

/** What the gateway needs of a metrics registry. */
export interface GatewayMetrics {
  /** Records one answered inference request (HTTP or WebSocket message). */
  observeRequest(deployment: string, code: number, seconds: number): void;
  /** The Prometheus exposition text. */
  expose(): Promise<{ contentType: string; text: string }>;
}

/**
 * Builds the Fastify app: health, Open Inference Protocol model routes and
 * route prefixes. It runs no model; every inference goes to a target.
 */
export function buildGateway(opts: GatewayOptions): FastifyInstance {
  const bodyLimit = opts.bodyLimitBytes ?? 1024 * 1024;
  const limits = { maxTensorElements: opts.maxTensorElements ?? DEFAULT_MAX_TENSOR_ELEMENTS };
  const receiveTimeout = opts.receiveTimeoutMs ?? 30_000;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit,
    // One log line per request would cost more than the inference; errors are logged by handleError.
    logController: new LogController({ disableRequestLogging: true }),
    // Request bodies are read field by field and never merged into other
    // objects, so a "__proto__" key is inert here; skipping the scan saves ~5%
    // of the gateway's CPU on 784-float bodies.
    genReqId: requestIdOf,
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Deployment names reach 128 characters and versions 64: the path segments must fit.
    routerOptions: { maxParamLength: 256 },
    // Slow senders (headers, then a byte a second) are cut off: Node answers the clientError with 408.
    requestTimeout: receiveTimeout,
    http: { headersTimeout: Math.min(60_000, receiveTimeout), connectionsCheckingInterval: Math.min(1000, receiveTimeout / 2) },
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: handleClientError,
    // Shutdown is Ferry's: its own 503 body, and idle sockets closed after a linger (below).
    return503OnClosing: false,
    forceCloseConnections: false,
  });
  const shutdown = opts.shutdown ?? { active: false, lingerMs: 500 };
  if (opts.auth) {
    const prefixes = new Map([...opts.targets.values()].flatMap((t) => (t.routePrefix ? [[t.routePrefix, t.name] as const] : [])));
    registerAuth(app, opts.auth, routeNeeds(opts.auth, prefixes), opts.gateways ?? 1);
  }
  // While shutting down, what arrives (on a keep-alive connection, or in the
  // linger below) is refused in Ferry's own form, and every answer closes its
  // connection so no client reuses a socket that is about to go.
  app.addHook('onRequest', (req, reply, done) => {
    // Health answers as it is (live, not ready) for the probes that watch the shutdown.
    if (!shutdown.active || req.url.startsWith('/v2/health/')) return done();
    reply.header('connection', 'close');
    done(new ShuttingDownError());
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    if (shutdown.active) reply.header('connection', 'close');
    done(null, payload);
  });
  // A WebSocket upgrade answered over HTTP instead (404, 503 while shutting
  // down) leaves a socket the HTTP server no longer tracks: nothing would
  // close it, and it would hold the shutdown open. An upgrade that succeeds
  // never gets here (its reply is taken over by the WebSocket).
  app.addHook('onResponse', (req, _reply, done) => {
    if (req.raw.headers.upgrade) req.raw.socket.destroy();
    done();
  });
  // Idle keep-alive sockets are kept a moment (a request may be on the wire:
  // closing now would reset it), then closed, so they cannot hold shutdown open.
  app.addHook('preClose', async () => {
    await new Promise((resolve) => setTimeout(resolve, shutdown.lingerMs));
    app.server.keepAliveTimeout = 1;
    app.server.closeIdleConnections();
  });
  const tracer = opts.tracing ? new RequestTracer(opts.tracing) : null;
  if (opts.requestLog === true || tracer) registerRequestFollowing(app, { log: opts.requestLog === true, tracer });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  registerOpenApi(app, opts.targets, opts.server ?? { name: 'ferry', version: '0.0.0' }, opts.auth ?? null);
  registerRequestBodies(app);
  registerRawBinaryRequests(app, opts.targets);
  // Answers are gzip- or deflate-compressed when the client asks, as Triton's
  // are; a binary answer's Inference-Header-Content-Length stays the size of
  // its uncompressed JSON header. Request bodies are decoded by request-body.ts,
  // which caps the decoded size. The plugin hooks each route as it is declared,
  // so routes are declared in a plugin registered after it. Registration
  // errors surface from ready() and listen(), which callers await.
  void app.register(compress, { encodings: ['gzip', 'deflate'], globalDecompression: false });
  void app.register(async (scope) => registerRoutes(scope, opts, limits));
  void app.register(async (scope) => registerHandlerRoutes(scope, opts.targets, bodyLimit, opts.metrics));
  const streams = new Set<StreamSession>();
  // At close, calls in flight on WebSocket streams are answered first (the
  // pools answer or refuse every call by the end of their grace), then each
  // socket is closed with 1001 (going away).
  const closeStreams = async () => {
    while ([...streams].some((s) => s.pending.size > 0)) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const s of streams) s.socket.close(1001, 'Ferry is shutting down');
  };
  void app.register(websocket, {
    options: { maxPayload: bodyLimit },
    preClose: (done) => void closeStreams().then(() => done(), done),
  });
  // Routes with `websocket: true` must be declared once the plugin has loaded.
  void app.register(async (scope) => {
    registerStreamRoutes(scope, opts.targets, limits, opts.metrics, streams, shutdown);
    registerHandlerWebSockets(scope, opts.targets, streams, shutdown, opts.metrics);
  });
  return app;
}

/** What {@link registerAdminRoutes} serves from. */
export interface AdminRoutesOptions {
  targets: ReadonlyMap<string, InferenceTarget>;
  freshen: () => Promise<void>;
  metrics?: GatewayMetrics;
  status?: () => unknown;
  /** What the status page polls; absent: no `/-/dashboard`. */
  dashboard?: (since: number) => unknown;
  /** Config updates and repository load/unload; absent: neither is served. */
  control?: GatewayControl;
}

/** The routes an operator uses: `/-/status`, `/-/dashboard`, `/-/config`, `/metrics` and the model repository (on their own listener with `admin`). */
export function registerAdminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  const { targets, freshen, metrics, status, dashboard, control } = opts;
  if (metrics) {
    app.get('/metrics', { schema: ROUTE_DOCS.metrics }, async (_req, reply) => {
      const { contentType, text } = await metrics.expose();
      return reply.type(contentType).send(text);
    });
  }
  if (status) app.get('/-/status', { schema: ROUTE_DOCS.status }, async () => status());
  if (dashboard) registerDashboardRoutes(app, dashboard);
  registerRepositoryRoutes(app, targets, freshen, control);
  if (control) registerControlRoutes(app, control);
}

/** Health, server metadata, the admin routes (unless they have their own listener) and model routes. */
function registerRoutes(app: FastifyInstance, opts: GatewayOptions, limits: InferenceLimits): void {
  const freshen = opts.freshenReadiness ?? (async () => {});
  const allReady = () => [...opts.targets.values()].every((t) => t.ready);
  app.get('/v2/health/live', { schema: ROUTE_DOCS.live }, async () => ({ live: true }));
  app.get('/v2/health/ready', { schema: ROUTE_DOCS.ready }, async (_req, reply) => {
    await freshen();
    const ready = allReady();
    if (!ready) reply.code(503);
    return { ready };
  });
  app.get('/v2', { schema: ROUTE_DOCS.server }, async () => ({
    name: opts.server?.name ?? 'ferry',
    version: opts.server?.version ?? '0.0.0',
    // The repository extension where this listener serves its load and unload.
    extensions: ['binary_tensor_data', ...(opts.control && opts.adminRoutes !== false ? ['model_repository'] : [])],
  }));
  if (opts.adminRoutes !== false) registerAdminRoutes(app, { targets: opts.targets, freshen, metrics: opts.metrics, status: opts.status, dashboard: opts.dashboard, control: opts.control });
  registerModelRoutes(app, opts.targets, limits, opts.metrics, freshen, opts.jobs);
  if (opts.jobs) registerJobRoutes(app, opts.jobs);
}
