import type { FastifyInstance } from 'fastify';
import { BodyInvalidError } from '../errors.js';
import type { GatewayControl, RepositoryEntry } from './control-routes.js';
import type { InferenceTarget } from './inference-target.js';
import { ROUTE_DOCS } from './route-docs.js';

/**
 * The Open Inference Protocol's repository extension, as Triton serves it:
 * `POST /v2/repository/index` lists every model (a multiplexed deployment's
 * by their `deployment/model` names) with its state and why, `{"ready":
 * true}` only the ready ones. With a control plane to ask, the index is
 * its own: models unloaded, loading or draining are listed too.
 */
export function registerRepositoryRoutes(
  app: FastifyInstance,
  targets: ReadonlyMap<string, InferenceTarget>,
  freshen: () => Promise<void>,
  control?: GatewayControl,
): void {
  app.post<{ Body: { ready?: unknown } | undefined }>('/v2/repository/index', { schema: ROUTE_DOCS.repositoryIndex }, async (req) => {
    const ready = req.body?.ready;
    if (ready !== undefined && typeof ready !== 'boolean') throw new BodyInvalidError(`ready must be true or false (got ${JSON.stringify(ready)})`);
    const onlyReady = ready === true;
    if (control) return (await control.index()).filter((e) => !onlyReady || e.state === 'READY');
    await freshen();
    return targetIndex(targets).filter((e) => !onlyReady || e.state === 'READY');
  });
}

/** The index rows of the targets served: each deployment, and a multiplexed one's models by their `deployment/model` names. */
export function targetIndex(targets: ReadonlyMap<string, InferenceTarget>): RepositoryEntry[] {
  return [...targets.values()].flatMap((t) =>
    [t.name, ...[...(t.modelIds ?? [])].map((id) => `${t.name}/${id}`)].map((name) => ({ name, version: t.version ?? '', state: t.state, reason: t.reason })),
  );
}
