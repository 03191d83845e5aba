import { fileURLToPath } from 'node:url';
import t from 'tap';
import { validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';

const handler = fileURLToPath(new URL('./fixtures/handlers/compute-parts.ts', import.meta.url));
const source = modelPath('ferry.config.ts');
const problems = (d: Record<string, unknown>): string => {
  try {
    validateConfig({ deployments: [{ name: 'd', ...d }] }, source);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

t.test('own routes: resolved with their defaults', async (t) => {
  const config = validateConfig(
    {
      deployments: [
        {
          name: 'd',
          handler: `${handler}#Half`,
          routePrefix: '/d',
          routes: [{ path: '/echo/:id', call: 'echo' }, { method: 'GET', path: '/bytes', call: 'bytes', response: 'bytes', body: 'bytes' }],
          websockets: [{ path: '/ws', call: 'echo' }],
        },
      ],
    },
    source,
  );
  const d = config.deployments[0];
  t.equal(d.handler, handler, 'the module path without the export');
  t.equal(d.handlerExport, 'Half');
  t.same(d.routes, [
    { method: 'POST', path: '/echo/:id', call: 'echo', body: 'json', response: 'json', contentType: 'application/json; charset=utf-8' },
    { method: 'GET', path: '/bytes', call: 'bytes', body: 'bytes', response: 'bytes', contentType: 'application/octet-stream' },
  ]);
  t.same(d.websockets, [{ path: '/ws', call: 'echo', messages: 'json' }]);
});

t.test('own routes: refused with a reason', async (t) => {
  const rules: [string, Record<string, unknown>, RegExp][] = [
    ['routes without a handler', { model: './mlp.onnx', routePrefix: '/d', routes: [{ path: '/a', call: 'a' }] }, /routes: own routes are served by a handler's methods/],
    ['routes without a prefix', { handler, routes: [{ path: '/a', call: 'a' }] }, /routes: own routes are served under the deployment's routePrefix/],
    ['a WebSocket without a prefix', { handler, websockets: [{ path: '/a', call: 'a' }] }, /websockets: own routes are served under the deployment's routePrefix/],
    ['an OIP route path', { handler, routePrefix: '/d', routes: [{ path: '/infer', call: 'a' }] }, /\/infer is one of the OIP routes Ferry serves under the prefix/],
    ['the same route twice', { handler, routePrefix: '/d', routes: [{ path: '/a', call: 'a' }, { path: '/a', call: 'b' }] }, /POST \/a is declared twice/],
    ['a WebSocket on a GET route', { handler, routePrefix: '/d', routes: [{ method: 'GET', path: '/a', call: 'a' }], websockets: [{ path: '/a', call: 'b' }] }, /WebSocket \/a is declared twice/],
    ['a path that is not one', { handler, routePrefix: '/d', routes: [{ path: 'a', call: 'a' }] }, /routes\[0\]\.path must match/],
    ['a method name that is not one', { handler, routePrefix: '/d', routes: [{ path: '/a', call: 'a-b' }] }, /routes\[0\]\.call must match/],
    ['a route to a lifecycle method', { handler, routePrefix: '/d', routes: [{ path: '/a', call: 'reconfigure' }] }, /routes: \/a calls 'reconfigure', which Ferry calls itself/],
    ['a WebSocket to a lifecycle method', { handler, routePrefix: '/d', websockets: [{ path: '/w', call: 'infer' }] }, /websockets: \/w calls 'infer', which Ferry calls itself/],
    ['an unknown HTTP method', { handler, routePrefix: '/d', routes: [{ method: 'TRACE', path: '/a', call: 'a' }] }, /routes\[0\]\.method must be one of/],
    ['a handler export that is not a name', { handler: `${handler}#1x` }, /handler must match/],
    ['a missing handler file, schema failing elsewhere', { handler: './nowhere.ts', numReplicas: 0 }, /handler: file not found/],
    ['a userConfig with a function', { handler, userConfig: { f: () => 1 } }, /userConfig\.f is a function/],
    ['a userConfig that refers to itself', { handler, userConfig: (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })() }, /userConfig\.self refers to itself/],
    ['a userConfig with NaN', { handler, userConfig: [NaN] }, /userConfig\[0\] is NaN/],
    ['a model path that is a folder', { handler, models: { m: '.' } }, /models\.m: not a file/],
  ];
  for (const [rule, d, why] of rules) t.match(problems(d), why, rule);
  t.equal(problems({ handler, userConfig: Object.assign(Object.create(null), { a: [1, 'b', true, null, { c: 2 }] }) }), '', 'plain JSON, even without a prototype, is fine');
});
