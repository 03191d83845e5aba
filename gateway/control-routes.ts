import type { FastifyInstance } from 'fastify';
import { BodyInvalidError } from '../errors.js';
import { ROUTE_DOCS } from './route-docs.js';

/** One row of the repository index (the OIP repository extension). */
export interface RepositoryEntry {
  name: string;
  version: string;
  /** READY, UNAVAILABLE (not ready, or unloaded), LOADING or UNLOADING. */
  state: string;
  reason: string;
}

/**
 * What the admin routes ask of the control plane, wherever the gateway runs
 * (an ingress thread asks over its port). Each rejects with Ferry's
 * registered errors: an invalid config (400), one refused (409), an
 * unknown model (404).
 */
export interface GatewayControl {
  /** Applies a new config given as its JSON; resolves with the update's record (see FerryServer.update). */
  applyConfig(raw: unknown): Promise<unknown>;
  /** The config serving now, as JSON. */
  config(): Promise<unknown>;
  /** Every model, loaded or not, with its state and why. */
  index(): Promise<RepositoryEntry[]>;
  /** Loads (or reloads) a model by name; `config`, when given, is a deployment's config as JSON text (Triton's `parameters.config`). */
  load(name: string, config: string | null): Promise<unknown>;
  /** Drains a model's replicas and stops them; it stays in the index, UNAVAILABLE. */
  unload(name: string): Promise<unknown>;
}

type LoadBody = { parameters?: { config?: unknown } & Record<string, unknown> } | undefined;

/**
 * Config updates and the repository's load and unload, as the admin routes
 * (`/-/*` and `/v2/repository/*` need an admin key when keys are set):
 * `GET /-/config` answers the config serving now; `PUT /-/config` applies a
 * new one (JSON), answering once traffic has moved and old replicas have
 * drained; `POST /v2/repository/models/{name}/load` and `/unload` as
 * Triton serves them (an empty JSON object when done).
 */
export function registerControlRoutes(app: FastifyInstance, control: GatewayControl): void {
  app.get('/-/config', { schema: ROUTE_DOCS.config }, async () => control.config());
  app.put('/-/config', { schema: ROUTE_DOCS.applyConfig }, async (req) => {
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw new BodyInvalidError('PUT /-/config takes a Ferry config as a JSON object, e.g. {"deployments": [...]}');
    }
    return control.applyConfig(req.body);
  });
  app.post<{ Params: { name: string }; Body: LoadBody }>('/v2/repository/models/:name/load', { schema: ROUTE_DOCS.load }, async (req) => {
    const config = req.body?.parameters?.config;
    if (config !== undefined && typeof config !== 'string') {
      throw new BodyInvalidError(`parameters.config must be a deployment's config as JSON text (got ${typeof config})`);
    }
    await control.load(req.params.name, config ?? null);
    return {};
  });
  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/unload', { schema: ROUTE_DOCS.unload }, async (req) => {
    await control.unload(req.params.name);
    return {};
  });
}
