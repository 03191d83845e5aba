import { createHash } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { modelPath } from '../models/index.js';
import { startFerry } from './helpers/ferry.js';

/*
 * /docs: the OpenAPI 3 document @fastify/swagger builds from the routes'
 * schemas, checked by a maintained validator; each deployment's example,
 * sent as it stands, is answered 200.
 */

const KEY = 'key-for-the-api-docs';
const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const auth = { authorization: `Bearer ${KEY}` };

t.test('the OpenAPI document is valid, lists every route, and each deployment\'s infer example answers 200 as is', async (t) => {
  // Models with the quirks of real exports: a fixed batch dimension, dynamic spatial dimensions, several inputs of other types, state on axis 1.
  const names = ['mlp', 'fixed-batch', 'dynamic-image', 'mixed-inputs', 'identity-all', 'recurrent-state'];
  const server = await startFerry(
    t,
    names.map((name) => ({ name, model: modelPath(`${name}.onnx`), ...(name === 'mlp' ? { routePrefix: '/digits', version: '3' } : {}) })),
    {},
    { auth: { apiKeys: [{ name: 'all', sha256: sha(KEY), scopes: ['admin', 'infer'] }], public: ['health'] } },
  );
  t.equal((await fetch(`${server.url}/docs/json`)).status, 401, 'behind a key, like every route that is not public');
  const docsPage = await fetch(`${server.url}/docs`, { headers: auth, redirect: 'manual' });
  t.ok(docsPage.status === 200 || docsPage.status === 302, `Swagger UI served (${docsPage.status})`);
  const ui = await fetch(`${server.url}/docs/static/index.html`, { headers: auth });
  t.equal(ui.status, 200);
  t.match(await ui.text(), /swagger-ui/i);

  const res = await fetch(`${server.url}/docs/json`, { headers: auth });
  t.equal(res.status, 200);
  const spec = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
  const validation = await new Validator().validate(spec as Parameters<Validator['validate']>[0]);
  t.ok(validation.valid, `valid OpenAPI ${spec.openapi}: ${JSON.stringify(validation.errors ?? '')}`);
  t.match(spec.openapi, /^3\./);
  for (const path of ['/v2/health/live', '/v2/health/ready', '/v2', '/v2/models/{name}', '/v2/models/{name}/ready', '/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer', '/v2/models/{name}/stream', '/v2/repository/index', '/metrics', '/-/status', '/-/dashboard', '/-/dashboard/data']) {
    t.ok(spec.paths[path], `${path} described`);
  }
  t.ok(spec.paths['/v2/models/{name}/stream']!.get.responses['101'], 'a WebSocket route is a GET answered 101');
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) t.ok(op.summary, `${method.toUpperCase()} ${path} has a summary`);
  }

  const infer = spec.paths['/v2/models/{name}/infer']!.post;
  const bodies = infer.requestBody.content['application/json'].examples as Record<string, { summary: string; value: unknown }>;
  const pathExamples = (infer.parameters as { name: string; examples: Record<string, { value: string }> }[]).find((p) => p.name === 'name')!.examples;
  t.same(Object.keys(bodies).sort(), [...names].sort(), 'one example per deployment');
  for (const name of names) {
    const metadata = (await (await fetch(`${server.url}/v2/models/${name}`, { headers: auth })).json()) as { inputs: { name: string; datatype: string; shape: number[] }[] };
    const example = bodies[name]!.value as { inputs: { name: string; datatype: string; shape: number[] }[] };
    t.same(
      example.inputs.map((i) => [i.name, i.datatype, i.shape.length]),
      metadata.inputs.map((i) => [i.name, i.datatype, i.shape.length]),
      `${name}: the example's inputs are the model's (names, datatypes, ranks)`,
    );
    t.match(bodies[name]!.summary, new RegExp(`^${name}: `));
    const sent = await fetch(`${server.url}/v2/models/${pathExamples[name]!.value}/infer`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(example),
    });
    const answer = (await sent.json()) as { outputs?: { name: string; datatype: string }[] };
    t.equal(sent.status, 200, `${name}: its example, sent as is, answers 200 ${sent.status === 200 ? '' : JSON.stringify(answer)}`);
    const shown = infer.responses['200'].content['application/json'].examples[name].value as { outputs: { name: string; datatype: string }[] };
    t.same(
      shown.outputs.map((o) => [o.name, o.datatype]),
      (answer.outputs ?? []).map((o) => [o.name, o.datatype]),
      `${name}: the answer's example names the outputs the answer has`,
    );
  }
  // mlp's version and route prefix: their routes carry its example too, and it runs as is there.
  const post = async (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const versioned = spec.paths['/v2/models/{name}/versions/{version}/infer']!.post;
  const values = Object.fromEntries((versioned.parameters as { name: string; examples: Record<string, { value: string }> }[]).map((p) => [p.name, p.examples.mlp!.value]));
  t.same(values, { name: 'mlp', version: '3' });
  t.equal((await post(`/v2/models/mlp/versions/3/infer`, versioned.requestBody.content['application/json'].examples.mlp.value)).status, 200, "the version's route, its example as is");
  for (const path of ['/digits', '/digits/infer']) {
    const op = spec.paths[path]!.post;
    t.same(Object.keys(op.requestBody.content['application/json'].examples), ['mlp'], `${path}: mlp's example only`);
    t.equal((await post(path, op.requestBody.content['application/json'].examples.mlp.value)).status, 200, `${path}: its example as is`);
  }
  t.same(spec.paths['/v2/health/ready']!.get.security, [], 'health left public is said to need no key');
  t.same(spec.paths['/metrics']!.get.security, undefined, 'metrics not left public keeps the key');
  t.same(Object.keys(spec.paths['/-/config']!.put.requestBody.content['application/json'].schema.properties), ['deployments'], 'PUT /-/config says it takes a config');
  t.match(spec.paths['/v2/models/{name}/{modelId}/infer']!.post.summary, /multiplexed/, "a multiplexed model's routes say they are");
  t.same(spec.paths['/v2/models/{name}/ready']!.get.responses['200'].content['application/json'].examples.mlp.value, await (await fetch(`${server.url}/v2/models/mlp/ready`, { headers: auth })).json(), "the ready example is the route's answer");
  t.same(spec.paths['/-/status']!.get.security, undefined, 'an admin route takes the key as a Bearer token, as the document says of every route');
  t.same(spec.paths['/-/dashboard']!.get.security, [{ apiKey: [] }, { browser: [] }], 'the status page also takes a browser\'s Basic sign-in');
  // What the document says of a route's query is what it checks, in words that name the query.
  for (const [query, error] of [
    ['foo=1', 'querystring must NOT have additional properties'],
    ['since=abc', 'querystring.since must match pattern "^[0-9]{1,15}$"'],
  ]) {
    const refused = await fetch(`${server.url}/-/dashboard/data?${query}`, { headers: auth });
    t.equal(refused.status, 400);
    t.same(await refused.json(), { error, code: 'FERRY_ERR_BODY_INVALID' }, `?${query}`);
  }
  const meta = spec.paths['/v2/models/{name}']!.get.responses['200'].content['application/json'].examples.mlp.value;
  t.same(meta, await (await fetch(`${server.url}/v2/models/mlp`, { headers: auth })).json(), "the metadata example is the route's own answer");
});
