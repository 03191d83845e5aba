import type { FastifyInstance, FastifyReply } from 'fastify';
import { InputNameError, ModelNotFoundError } from '../errors.js';
import type { ModelMetadata } from '../replicas/index.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { InferenceTarget } from './inference-target.js';
import { inferRequestSchema } from './infer-schema.js';
import { parseJsonInputs, toJsonOutputs, type JsonInput } from './json-tensors.js';

interface InferBody {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: JsonInput[];
  outputs?: { name: string }[];
}

/** Model metadata in the Open Inference Protocol's form. */
export function metadataBody(target: InferenceTarget): Record<string, unknown> {
  const meta: ModelMetadata = target.metadata;
  const describe = (s: ModelMetadata['inputs'][number]) => ({ name: s.name, datatype: OIP_DATATYPE[s.dtype], shape: s.shape });
  return {
    name: target.name,
    versions: [],
    platform: 'onnxruntime_onnx',
    inputs: meta.inputs.map(describe),
    outputs: meta.outputs.map(describe),
  };
}

function selectedOutputs(body: InferBody, target: InferenceTarget): string[] | null {
  if (!body.outputs) return null;
  const known = new Set(target.metadata.outputs.map((o) => o.name));
  return body.outputs.map((o, i) => {
    if (!known.has(o.name)) {
      throw new InputNameError(`outputs[${i}].name: model '${target.name}' has no output '${o.name}' (its outputs: ${[...known].join(', ')})`);
    }
    return o.name;
  });
}

async function infer(target: InferenceTarget, body: InferBody): Promise<Record<string, unknown>> {
  const only = selectedOutputs(body, target);
  const { tensors, rows } = parseJsonInputs(body.inputs, target.metadata, target.name);
  const outputs = await target.infer(tensors, rows);
  const response: Record<string, unknown> = { model_name: target.name };
  if (body.id !== undefined) response.id = body.id;
  response.outputs = toJsonOutputs(outputs, target.metadata.outputs, only);
  return response;
}

function readyReply(target: InferenceTarget, reply: FastifyReply): { name: string; ready: boolean } {
  if (!target.ready) reply.code(503);
  return { name: target.name, ready: target.ready };
}

/**
 * Open Inference Protocol model routes under `/v2/models/{name}`, and the
 * same endpoints under each deployment's route prefix.
 */
export function registerModelRoutes(app: FastifyInstance, targets: ReadonlyMap<string, InferenceTarget>): void {
  const find = (name: string): InferenceTarget => {
    const target = targets.get(name);
    if (!target) throw new ModelNotFoundError(name);
    return target;
  };
  type Named = { Params: { name: string } };

  app.get<Named>('/v2/models/:name', async (req) => metadataBody(find(req.params.name)));
  app.get<Named>('/v2/models/:name/ready', async (req, reply) => readyReply(find(req.params.name), reply));
  // Unknown model is a 404 before the body is even read.
  const knownModel = async (req: { params: unknown }) => void find((req.params as { name: string }).name);
  app.post<Named & { Body: InferBody }>(
    '/v2/models/:name/infer',
    { schema: { body: inferRequestSchema }, onRequest: knownModel },
    async (req) => infer(find(req.params.name), req.body),
  );

  for (const target of targets.values()) {
    const prefix = target.routePrefix;
    if (!prefix) continue;
    app.get(prefix, async () => metadataBody(target));
    app.get(`${prefix}/ready`, async (_req, reply) => readyReply(target, reply));
    for (const url of [prefix, `${prefix}/infer`]) {
      app.post<{ Body: InferBody }>(url, { schema: { body: inferRequestSchema } }, async (req) => infer(target, req.body));
    }
  }
}
