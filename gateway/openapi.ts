import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { TensorSpec } from '../replicas/index.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { InferenceTarget } from './inference-target.js';
import { metadataBody } from './model-routes.js';

/** An OpenAPI document as @fastify/swagger builds it, read and added to here. */
type OpenApiDocument = Record<string, any>;

/**
 * The OpenAPI 3 description of every route (@fastify/swagger, from the
 * routes' schemas: ROUTE_DOCS and the inference request's JSON Schema),
 * served as JSON at `/docs/json` and with Swagger UI at `/docs`. Each
 * deployment serving when the document is asked for is an example of the
 * inference and metadata routes: its inputs and outputs (names, Open
 * Inference Protocol datatypes, shapes with each dynamic dimension at 1),
 * a request that runs as is. Registered before any route, so it sees them all.
 */
export function registerOpenApi(app: FastifyInstance, targets: ReadonlyMap<string, InferenceTarget>, server: { name: string; version: string }, keys: boolean): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Ferry',
        version: server.version,
        description: 'Model serving over the Open Inference Protocol (KServe v2, as Triton serves it), with Ferry\'s own administration routes.',
      },
      ...(keys
        ? {
            components: {
              securitySchemes: {
                apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from the config (`auth.apiKeys`).' },
                browser: { type: 'http', scheme: 'basic', description: 'Any user name, the API key as password.' },
              },
            },
            security: [{ apiKey: [] }, { browser: [] }],
          }
        : {}),
    },
  });
  void app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformSpecificationClone: true,
    transformSpecification: (spec) => withDeploymentExamples(spec as OpenApiDocument, [...targets.values()]),
  });
}

/** A tensor's shape with each dynamic dimension at 1: what the examples send. */
const concrete = (s: TensorSpec) => s.shape.map((d) => (d < 0 ? 1 : d));

/** A tensor of zeros (empty strings, false) in the Open Inference Protocol's JSON form. */
function zeros(s: TensorSpec): { name: string; datatype: string; shape: number[]; data: unknown[] } {
  const shape = concrete(s);
  const size = shape.reduce((a, b) => a * b, 1);
  const zero = s.dtype === 'string' ? '' : s.dtype === 'bool' ? false : 0;
  return { name: s.name, datatype: OIP_DATATYPE[s.dtype], shape, data: new Array<unknown>(size).fill(zero) };
}

/** Adds each deployment's request, answer and metadata as named examples to the model routes. */
export function withDeploymentExamples(spec: OpenApiDocument, targets: readonly InferenceTarget[]): OpenApiDocument {
  const paths = (spec.paths ?? {}) as Record<string, Record<string, any>>;
  for (const t of targets) {
    const { inputs, outputs } = t.metadata;
    if (inputs.length === 0) continue;
    const modelId = t.modelIds ? [...t.modelIds][0] : undefined;
    const base = modelId === undefined ? '/v2/models/{name}' : '/v2/models/{name}/{modelId}';
    const params = { name: t.name, ...(modelId === undefined ? {} : { modelId }) };
    const summary = `${t.name}: ${inputs.map((s) => `${s.name} ${OIP_DATATYPE[s.dtype]}[${s.shape.join(',')}]`).join(', ')} → ${outputs.map((s) => `${s.name} ${OIP_DATATYPE[s.dtype]}[${s.shape.join(',')}]`).join(', ')}`;
    const infer = paths[`${base}/infer`]?.post;
    if (infer) {
      exampleParams(infer, t.name, params);
      const body = (infer.requestBody ??= { content: { 'application/json': {} } });
      const json = (body.content['application/json'] ??= {});
      (json.examples ??= {})[t.name] = { summary, value: { inputs: inputs.map(zeros) } };
      const ok = (infer.responses['200'] ??= { description: 'The outputs' });
      ok.description = 'The outputs, in the request\'s order of `outputs` (or the model\'s)';
      ok.content ??= { 'application/json': { schema: { type: 'object' } } };
      (ok.content['application/json'].examples ??= {})[t.name] = {
        summary,
        value: { model_name: t.name, ...(t.version ? { model_version: t.version } : {}), outputs: outputs.map(zeros) },
      };
    }
    const metadata = paths[base]?.get;
    if (metadata) {
      exampleParams(metadata, t.name, params);
      const ok = (metadata.responses['200'] ??= { description: 'The model\'s metadata' });
      ok.description = "The model's inputs and outputs";
      ok.content ??= { 'application/json': { schema: { type: 'object' } } };
      (ok.content['application/json'].examples ??= {})[t.name] = { summary, value: metadataBody(t, modelId) };
    }
  }
  return spec;
}

/** Names the deployment's example in each path parameter, so Swagger UI fills the path and body from one choice. */
function exampleParams(operation: Record<string, any>, example: string, values: Record<string, string>): void {
  for (const p of (operation.parameters ?? []) as Record<string, any>[]) {
    if (p.in !== 'path' || values[p.name] === undefined) continue;
    (p.examples ??= {})[example] = { value: values[p.name] };
  }
}
