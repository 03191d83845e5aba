import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { ResolvedAuth } from '../deployments/index.js';
import { registerAuth, routeNeeds } from './auth.js';
import { registerAdminRoutes, type GatewayMetrics } from './build-gateway.js';
import { handleError, handleFrameworkError, handleNotFound } from './http-errors.js';
import type { GatewayControl } from './control-routes.js';
import type { InferenceTarget } from './inference-target.js';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.js';
import { registerOpenApi } from './openapi.js';
import { ROUTE_DOCS } from './route-docs.js';
import { VERSION } from '../version.js';

/** Options for {@link buildAdminGateway}. */
export interface AdminGatewayOptions {
  targets: ReadonlyMap<string, InferenceTarget>;
  metrics: GatewayMetrics;
  status: () => unknown;
  /** What the status page polls. @default no status page */
  dashboard?: (since: number) => unknown;
  /** With keys, every admin route but those left public needs an admin key. */
  auth: ResolvedAuth | null;
  logger?: FastifyServerOptions['logger'];
  /** Config updates and repository load/unload. @default not served */
  control?: GatewayControl;
}

/**
 * The admin listener (`admin: { host, port }`): `/-/status`, `/metrics` and
 * the model repository on an address of their own (a private network, a
 * port the load balancer does not expose), off the inference listener,
 * plus `/v2/health/live` for its own probe and `/docs` describing them. With API keys, its routes need
 * an admin key (`/metrics` and health may be left public).
 */
export function buildAdminGateway(opts: AdminGatewayOptions): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, genReqId: requestIdOf, frameworkErrors: handleFrameworkError });
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    done(null, payload);
  });
  if (opts.auth) {
    // What the config leaves open stays open; everything else here is admin.
    const needs = routeNeeds(opts.auth, new Map());
    registerAuth(app, opts.auth, (req) => (needs(req).kind === 'open' ? { kind: 'open' } : { kind: 'admin' }));
  }
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  // Its own API docs (/docs): the routes are declared in a plugin, after the one that describes them.
  registerOpenApi(app, opts.targets, { name: 'ferry', version: VERSION }, opts.auth);
  void app.register(async (scope) => {
    scope.get('/v2/health/live', { schema: ROUTE_DOCS.live }, async () => ({ live: true }));
    registerAdminRoutes(scope, { targets: opts.targets, freshen: async () => {}, metrics: opts.metrics, status: opts.status, dashboard: opts.dashboard, control: opts.control });
  });
  return app;
}
