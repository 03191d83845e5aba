import type { FastifyInstance } from 'fastify';
import { BodyInvalidError } from '../errors.js';
import type { InferenceTarget } from './inference-target.js';

/**
 * The Open Inference Protocol's repository extension, as Triton serves it:
 * `POST /v2/repository/index` lists every model (a multiplexed deployment's
 * by their `deployment/model` names) with its state and why, `{"ready":
 * true}` only the ready ones.
 */
export function registerRepositoryRoutes(app: FastifyInstance, targets: ReadonlyMap<string, InferenceTarget>, freshen: () => Promise<void>): void {
  app.post<{ Body: { ready?: unknown } | undefined }>('/v2/repository/index', async (req) => {
    const ready = req.body?.ready;
    if (ready !== undefined && typeof ready !== 'boolean') throw new BodyInvalidError(`ready must be true or false (got ${JSON.stringify(ready)})`);
    const onlyReady = ready === true;
    await freshen();
    return [...targets.values()]
      .filter((t) => !onlyReady || t.ready)
      .flatMap((t) => [t.name, ...[...(t.modelIds ?? [])].map((id) => `${t.name}/${id}`)].map((name) => ({ name, version: t.version ?? '', state: t.state, reason: t.reason })));
  });
}
