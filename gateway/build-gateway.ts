import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { handleError, handleNotFound } from './http-errors.js';
import type { InferenceTarget } from './inference-target.js';
import { registerModelRoutes } from './model-routes.js';

/** Options for {@link buildGateway}. */
export interface GatewayOptions {
  /** The deployments to serve, by name. */
  targets: ReadonlyMap<string, InferenceTarget>;
  /** Largest request body in bytes. @default 1 MiB */
  bodyLimitBytes?: number;
  /** Fastify's logger option (pino). @default false */
  logger?: FastifyServerOptions['logger'];
  /** Server name and version for `/v2`. */
  server?: { name: string; version: string };
}

/**
 * Builds the Fastify app: health, Open Inference Protocol model routes and
 * route prefixes. It runs no model; every inference goes to a target.
 */
export function buildGateway(opts: GatewayOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimitBytes ?? 1024 * 1024,
    // One log line per request would cost more than the inference; errors are logged by handleError.
    logController: new LogController({ disableRequestLogging: true }),
    // Request bodies are read field by field and never merged into other
    // objects, so a "__proto__" key is inert here; skipping the scan saves ~5%
    // of the gateway's CPU on 784-float bodies.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  // Once closing, answer in-flight requests with Connection: close, or their
  // keep-alive sockets would hold shutdown open until the keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  const allReady = () => [...opts.targets.values()].every((t) => t.ready);
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => {
    const ready = allReady();
    if (!ready) reply.code(503);
    return { ready };
  });
  app.get('/v2', async () => ({
    name: opts.server?.name ?? 'ferry',
    version: opts.server?.version ?? '0.0.0',
    extensions: [],
  }));
  registerModelRoutes(app, opts.targets);
  return app;
}
