import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { TensorSpec } from '../replicas/index.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { ResolvedAuth } from '../deployments/index.js';
import type { InferenceTarget } from './inference-target.js';
import { metadataBody } from './model-routes.js';

/** An OpenAPI document as @fastify/swagger builds it, read and added to here. */
type OpenApiDocument = Record<string, any>;

/**
 * The OpenAPI 3 description of every route (@fastify/swagger, from the
 * routes' schemas: ROUTE_DOCS and the inference request's JSON Schema;
 * WebSocket routes too, as a GET answered 101),
 * served as JSON at `/docs/json` and with Swagger UI at `/docs`. Each
 * deployment serving when the document is asked for is an example of the
 * inference and metadata routes: its inputs and outputs (names, Open
 * Inference Protocol datatypes, shapes with each dynamic dimension at 1),
 * a request that runs as is. Registered before any route, so it sees them all.
 */
export function registerOpenApi(app: FastifyInstance, targets: ReadonlyMap<string, InferenceTarget>, server: { name: string; version: string }, auth: ResolvedAuth | null): void {
  const keys = auth !== null;
  const open = new Set<string>(auth?.public ?? []);
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
            security: [{ apiKey: [] }],
          }
        : {}),
    },
    // @fastify/websocket hides its routes from the document; Ferry's streams are routes like any other, answered 101.
    transform: ({ schema, url, route }) => {
      // A browser signs in to the status page with Basic; every other route takes the key as a Bearer token only.
      const left = (url.startsWith('/v2/health/') && open.has('health')) || (url === '/metrics' && open.has('metrics'));
      const security: { security?: Record<string, string[]>[] } = !keys ? {} : left ? { security: [] } : url.startsWith('/-/dashboard') ? { security: [{ apiKey: [] }, { browser: [] }] } : {};
      // PUT /-/config reads its body itself (its errors name the config's fields): the document alone says what it takes.
      const body = url === '/-/config' && route.method === 'PUT' ? { body: CONFIG_BODY } : {};
      if (!(route as { websocket?: boolean }).websocket) return { schema: { ...schema, ...security, ...body }, url };
      const { hide: _hidden, ...shown } = schema as Record<string, unknown>;
      return { schema: { ...shown, response: { 101: { description: 'Switching Protocols: the connection is a WebSocket from here on' } } }, url };
    },
  });
  void app.register(swaggerUi, {
    routePrefix: '/docs',
    // Swagger UI's own policy, less what would reach off the server: no upgrade to https (Ferry serves plain HTTP), no outside hosts.
    staticCSP: true,
    transformStaticCSP: (policy) => policy.replace(/\s*upgrade-insecure-requests;/, '').replaceAll(' https:', '').replace(' validator.swagger.io', ''),
    // The spec validator badge would send the document to validator.swagger.io.
    uiConfig: { validatorUrl: null },
    transformSpecificationClone: true,
    transformSpecification: (spec) => withDeploymentExamples(spec as OpenApiDocument, [...targets.values()]),
  });
}

/** What `PUT /-/config` takes, for the document: a config as the config file's default export, in JSON. */
const CONFIG_BODY = {
  type: 'object',
  description: 'A Ferry config in JSON, as a config file exports it: `deployments` and the server-wide settings (`http`, `autoscaling` per deployment, ...). What is fixed at start (`http`, `auth`, ...) must stay as it is.',
  required: ['deployments'],
  properties: { deployments: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, model: { type: 'string' } } } } },
  example: { deployments: [{ name: 'mlp', model: 'mlp.onnx', numReplicas: 2 }] },
};

/** A tensor's shape with each dynamic dimension at 1: what the examples send. */
const concrete = (s: TensorSpec) => s.shape.map((d) => (d < 0 ? 1 : d));

/** A tensor of zeros (empty strings, false) in the Open Inference Protocol's JSON form. */
function zeros(s: TensorSpec): { name: string; datatype: string; shape: number[]; data: unknown[] } {
  const shape = concrete(s);
  const size = shape.reduce((a, b) => a * b, 1);
  const zero = s.dtype === 'string' ? '' : s.dtype === 'bool' ? false : 0;
  return { name: s.name, datatype: OIP_DATATYPE[s.dtype], shape, data: new Array<unknown>(size).fill(zero) };
}

/** Where a deployment's model routes are, with the path parameters that name it there. */
function placesOf(t: InferenceTarget): { base: string; params: Record<string, string> }[] {
  const modelId = t.modelIds ? [...t.modelIds][0] : undefined;
  if (modelId !== undefined) return [{ base: '/v2/models/{name}/{modelId}', params: { name: t.name, modelId } }];
  return [
    { base: '/v2/models/{name}', params: { name: t.name } },
    ...(t.version ? [{ base: '/v2/models/{name}/versions/{version}', params: { name: t.name, version: t.version } }] : []),
    // A multiplexed deployment's prefix needs its model in a header: only the path form above runs as is.
    ...(t.routePrefix ? [{ base: t.routePrefix, params: {} }] : []),
  ];
}

/**
 * Adds each deployment's request, answer and metadata as named examples to
 * its model routes: `/v2/models/{name}` (a multiplexed deployment's
 * `/{modelId}` form), its version's and its route prefix's.
 */
export function withDeploymentExamples(spec: OpenApiDocument, targets: readonly InferenceTarget[]): OpenApiDocument {
  const paths = (spec.paths ?? {}) as Record<string, Record<string, any>>;
  for (const t of targets) {
    const { inputs, outputs } = t.metadata;
    if (inputs.length === 0) continue;
    const tensors = (list: readonly TensorSpec[]) => list.map((s) => `${s.name} ${OIP_DATATYPE[s.dtype]}[${s.shape.join(',')}]`).join(', ');
    const summary = `${t.name}: ${tensors(inputs)} → ${tensors(outputs)}`;
    const request = { inputs: inputs.map(zeros) };
    const answer = { model_name: t.name, ...(t.version ? { model_version: t.version } : {}), outputs: outputs.map(zeros) };
    for (const { base, params } of placesOf(t)) {
      const modelId = params.modelId;
      const metadata = metadataBody(t, modelId);
      const operations = [
        { op: paths[base]?.get, response: metadata, description: "The model's inputs and outputs" },
        { op: paths[`${base}/infer`]?.post, request, response: answer, description: 'The outputs' },
        // A route prefix answers inference on the prefix itself too.
        { op: base === t.routePrefix ? paths[base]?.post : undefined, request, response: answer, description: 'The outputs' },
        { op: paths[`${base}/ready`]?.get, response: { name: metadata.name, ready: true }, description: 'Ready (200), or not ready (503, `ready: false`)' },
      ];
      for (const { op, request: body, response, description } of operations) {
        if (!op) continue;
        exampleParams(op, t.name, params);
        if (body) {
          const json = ((op.requestBody ??= { content: {} }).content['application/json'] ??= {});
          (json.examples ??= {})[t.name] = { summary, value: body };
        }
        const ok = (op.responses['200'] ??= { description });
        ok.description = description;
        ok.content ??= { 'application/json': { schema: { type: 'object' } } };
        (ok.content['application/json'].examples ??= {})[t.name] = { summary, value: response };
      }
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
