import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientClosedError, ModelNotFoundError, ModelVersionNotFoundError } from '../errors.js';
import type { CallControl, ModelMetadata } from '../replicas/index.js';
import { binaryPartOf } from './body-framing.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { InferHeader } from './infer-codec.js';
import type { InferenceTarget } from './inference-target.js';
import { acceptJob, prefersAsync, type GatewayJobs } from './job-routes.js';
import { modelIdFor, modelIdHeader } from './model-id.js';
import { sessionIdOf } from './session-header.js';
import { inferRequestSchema, inferRequestValidator } from './infer-schema.js';
import type { GatewayMetrics } from './build-gateway.js';
import { traceCall } from './request-following.js';
import { runInference, type InferenceLimits } from './run-inference.js';
import { ROUTE_DOCS } from './route-docs.js';

/** Model metadata in the Open Inference Protocol's form; a multiplexed model's name is `{deployment}/{modelId}`. */
export function metadataBody(target: InferenceTarget, modelId?: string): Record<string, unknown> {
  const meta: ModelMetadata = target.metadata;
  const describe = (s: ModelMetadata['inputs'][number]) => ({ name: s.name, datatype: OIP_DATATYPE[s.dtype], shape: s.shape });
  return {
    name: modelId === undefined ? target.name : `${target.name}/${modelId}`,
    versions: target.version === null ? [] : [target.version],
    platform: 'onnxruntime_onnx',
    inputs: meta.inputs.map(describe),
    outputs: meta.outputs.map(describe),
  };
}

async function readyBody(target: InferenceTarget, reply: FastifyReply, freshen: () => Promise<void>, modelId?: string): Promise<{ name: string; ready: boolean }> {
  await freshen();
  if (!target.ready) reply.code(503);
  return { name: modelId === undefined ? target.name : `${target.name}/${modelId}`, ready: target.ready };
}

/** A call control that gives up on the call when the client goes away before its answer is written, with the request's session. */
function cancelledOnClose(req: FastifyRequest, reply: FastifyReply, gone?: () => void): CallControl {
  const control: CallControl = {};
  const sessionId = sessionIdOf(req.raw);
  if (sessionId !== undefined) control.sessionId = sessionId;
  reply.raw.once('close', () => {
    if (reply.raw.writableFinished) return;
    control.cancel?.(new ClientClosedError());
    gone?.();
  });
  return control;
}

async function infer(target: InferenceTarget, req: FastifyRequest, reply: FastifyReply, limits: InferenceLimits, metrics?: GatewayMetrics) {
  const header = req.body as InferHeader;
  const modelId = modelIdFor(target, (req.params as { modelId?: string }).modelId, modelIdHeader(req.raw));
  // No answer is written to a client that left, so onResponse never counts it: counted here, as 499.
  const gone = metrics && (() => metrics.observeRequest(target.name, 499, reply.elapsedTime / 1000));
  const control = cancelledOnClose(req, reply, gone);
  if (modelId !== undefined) control.modelId = modelId;
  traceCall(req, target.name, control);
  const res = await runInference(target, header, binaryPartOf(header), limits, control);
  if (!('binary' in res)) return reply.type('application/json; charset=utf-8').send(res.text);
  reply.header('inference-header-content-length', String(res.header.length)).type('application/octet-stream');
  return Buffer.concat([res.header, ...res.binary]);
}

type ModelParams = { Params: { name: string; version?: string; modelId?: string } };

/**
 * Open Inference Protocol model routes: `/v2/models/{name}[/versions/{version}]`
 * for metadata, readiness and inference (JSON or binary tensors), the
 * repository index, and the same model endpoints under each route prefix.
 */
export function registerModelRoutes(
  app: FastifyInstance,
  targets: ReadonlyMap<string, InferenceTarget>,
  limits: InferenceLimits,
  metrics?: GatewayMetrics,
  /** Brings the targets' readiness up to date before a readiness answer (see GatewayOptions.freshenReadiness). */
  freshen: () => Promise<void> = async () => {},
  /** Where requests with `Prefer: respond-async` become jobs; without it they are answered synchronously. */
  jobs?: GatewayJobs,
): void {
  const run = (target: InferenceTarget, req: FastifyRequest, reply: FastifyReply) =>
    jobs && prefersAsync(req) ? acceptJob(jobs, target, req, reply, limits.maxTensorElements) : infer(target, req, reply, limits, metrics);
  const find = (params: ModelParams['Params']): InferenceTarget => {
    // `tenants%2Fbeta`, the OIP name with its slash encoded (as some clients send it), is `tenants/beta`.
    const slash = params.name.indexOf('/');
    if (slash > 0 && params.modelId === undefined && !targets.has(params.name)) {
      params.modelId = params.name.slice(slash + 1);
      params.name = params.name.slice(0, slash);
    }
    const target = targets.get(params.name);
    if (!target) throw new ModelNotFoundError(params.modelId === undefined ? params.name : `${params.name}/${params.modelId}`);
    if (params.version !== undefined && params.version !== target.version) throw new ModelVersionNotFoundError(params.name, params.version);
    // A multiplexed model named in the path must be one of the deployment's.
    if (params.modelId !== undefined) modelIdFor(target, params.modelId, undefined);
    return target;
  };
  // An unknown model, version or multiplexed model is a 404 (a model not named, a 400) before the body is even read.
  const known = async (req: FastifyRequest) => {
    const params = req.params as ModelParams['Params'];
    modelIdFor(find(params), params.modelId, modelIdHeader(req.raw));
  };
  // Counted per known deployment only: an unknown name must not become a label.
  const count = (name: string | undefined) => async (req: FastifyRequest, reply: FastifyReply) => {
    const deployment = name ?? (req.params as { name?: string }).name;
    if (metrics && deployment !== undefined && targets.has(deployment)) metrics.observeRequest(deployment, reply.statusCode, reply.elapsedTime / 1000);
  };
  const inferOptions = { validatorCompiler: inferRequestValidator, onRequest: known, ...(metrics ? { onResponse: count(undefined) } : {}) };

  // `/v2/models/{deployment}/{modelId}`: one model of a multiplexed deployment, by its OIP name.
  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version', '/v2/models/:name/:modelId']) {
    const of = base.endsWith(':modelId') ? ROUTE_DOCS.ofMultiplexed : <T>(d: T) => d;
    app.get<ModelParams>(base, { schema: of(ROUTE_DOCS.metadata) }, async (req) => metadataBody(find(req.params), req.params.modelId));
    app.get<ModelParams>(`${base}/ready`, { schema: of(ROUTE_DOCS.modelReady) }, async (req, reply) => readyBody(find(req.params), reply, freshen, req.params.modelId));
    app.post<ModelParams>(`${base}/infer`, { ...inferOptions, schema: { ...of(ROUTE_DOCS.infer), body: inferRequestSchema } }, async (req, reply) => run(find(req.params), req, reply));
  }

  for (const target of targets.values()) {
    const prefix = target.routePrefix;
    if (!prefix) continue;
    app.get(prefix, { schema: ROUTE_DOCS.prefixMetadata(target.name) }, async () => metadataBody(target));
    app.get(`${prefix}/ready`, { schema: ROUTE_DOCS.prefixReady(target.name) }, async (_req, reply) => readyBody(target, reply, freshen));
    for (const url of [prefix, `${prefix}/infer`]) {
      const onRequest = async (req: FastifyRequest) => void modelIdFor(target, undefined, modelIdHeader(req.raw));
      app.post(url, { schema: { ...ROUTE_DOCS.prefixInfer(target.name), body: inferRequestSchema }, validatorCompiler: inferRequestValidator, onRequest, ...(metrics ? { onResponse: count(target.name) } : {}) }, async (req, reply) =>
        run(target, req, reply),
      );
    }
  }
}
