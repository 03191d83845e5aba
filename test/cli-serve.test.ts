import t from 'tap';
import { ferry, urlOf } from './helpers/cli.js';
import { postJson, randomRow } from './helpers/ferry.js';
import { modelPath, OnnxGraphBuilder, OnnxType } from '../models/index.js';

t.test('ferry serve loads a TypeScript config, serves, and drains in-flight requests on SIGTERM', async (t) => {
  const dir = t.testdir({
    'ferry.config.ts': `
      import { defineConfig } from 'ferry-serve';
      const holdMs: number = 400;
      export default defineConfig({
        deployments: [{
          name: 'slow-mlp',
          model: ${JSON.stringify(modelPath('mlp.onnx'))},
          routePrefix: '/slow',
          batching: { maxBatchSize: 64, batchWaitTimeoutMs: holdMs },
        }],
      });
    `,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`, '--port', '0']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  t.match(run.out(), /slow-mlp: 1\/1 replicas ready \(thread, cpu, batching up to 64 rows\)/, 'prints each deployment once ready');
  t.match(run.out(), /ferry: slow-mlp: starting replica slow-mlp#1\nferry: slow-mlp: replica slow-mlp#1 ready in \d+ ms\n[^]*listening on/, 'and, not on a terminal, a plain line for each replica as it starts and is ready');
  const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }] };
  // Held 400 ms by the batch window: still in flight when the signal comes.
  const inFlight = Promise.all([postJson(`${url}/slow/infer`, body), postJson(`${url}/v2/models/slow-mlp/infer`, body)]);
  await new Promise((r) => setTimeout(r, 100));
  run.child.kill('SIGTERM');
  const answers = await inFlight;
  t.same(answers.map((a) => a.status), [200, 200], 'in-flight requests finished');
  t.equal(await run.exit, 0, 'exits 0 after draining');
});

t.test('an invalid config exits non-zero before serving, listing every problem', async (t) => {
  const dir = t.testdir({
    'bad.config.ts': `export default { deployments: [{ name: 'x', model: './nope.onnx', batching: { maxBatchSize: 0 } }], extra: true };`,
  });
  const run = ferry(['serve', `${dir}/bad.config.ts`, '--port', '0']);
  t.equal(await run.exit, 1);
  t.match(run.err(), /^ferry: FERRY_ERR_CONFIG_INVALID: invalid Ferry config/, 'the error code leads the message');
  t.match(run.err(), /extra is not a known key/);
  t.match(run.err(), /maxBatchSize must be an integer >= 1 \(got 0\)/);
  t.notMatch(run.out(), /listening/);
});

t.test('--help documents every flag', async (t) => {
  const run = ferry(['serve', '--help']);
  t.equal(await run.exit, 0);
  for (const flag of ['--host', '--port', '--help', 'SIGTERM']) t.match(run.out(), flag);
  const top = ferry(['--help']);
  t.equal(await top.exit, 0);
  t.match(top.out(), /serve \[config\]/);
  const unknown = ferry(['launch']);
  t.equal(await unknown.exit, 1);
  t.match(unknown.err(), /unknown command 'launch'/);
});

t.test('ferry status prints a table of deployments and replicas, or the raw JSON', async (t) => {
  const { startFerry, waitFor } = await import('./helpers/ferry.js');
  const server = await startFerry(t, [
    { name: 'fixed-mlp', model: modelPath('mlp.onnx') },
    { name: 'scaled-cnn', model: modelPath('mnist-cnn.onnx'), autoscaling: { minReplicas: 1, maxReplicas: 2, metricsIntervalMs: 100 } },
  ]);
  let ticked = false;
  await waitFor(() => ticked, 10_000, async () => {
    const status = await (await fetch(`${server.url}/-/status`)).json();
    ticked = status.deployments[1].decisions?.latest != null;
  });
  const table = ferry(['status', '--url', server.url]);
  t.equal(await table.exit, 0, table.err());
  t.match(table.out(), /DEPLOYMENT\s+READY\/TARGET\s+PENDING\s+QUEUED\s+ONGOING\s+AUTOSCALING/);
  t.match(table.out(), /fixed-mlp\s+1\/1\s+0\s+0\s+0\s+fixed/);
  t.match(table.out(), /scaled-cnn\s+1\/1\s+0\s+0\s+0\s+1\.\.2, 2 per replica/);
  t.match(table.out(), /fixed-mlp#1\s+ready\s+thread/);
  t.match(table.out(), /fixed-mlp:\n  batches: every input and output has a dynamic dimension 0 \('batch'\)/);
  t.match(table.out(), /now \d\d:\d\d:\d\d: 0 requests over 1 running \(target 2 each\): ratio 0\.00 → 1; hold at 1/);
  const json = ferry(['status', '--url', server.url, '--json']);
  t.equal(await json.exit, 0);
  t.same(JSON.parse(json.out()).deployments.map((d: { deployment: string }) => d.deployment), ['fixed-mlp', 'scaled-cnn']);
  const nowhere = ferry(['status', '--url', 'http://127.0.0.1:1']);
  t.equal(await nowhere.exit, 1);
  t.match(nowhere.err(), /cannot reach Ferry at http:\/\/127\.0\.0\.1:1/);
});

t.test('ferry status sends an admin key to a Ferry with API keys: --key or FERRY_API_KEY', async (t) => {
  const { createHash } = await import('node:crypto');
  const { startFerry } = await import('./helpers/ferry.js');
  const key = 'ops-key-for-status';
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }], {}, {
    auth: { apiKeys: [{ name: 'ops', sha256: createHash('sha256').update(key).digest('hex'), scopes: ['admin'] }] },
  });
  const without = ferry(['status', '--url', server.url]);
  t.equal(await without.exit, 1);
  t.match(without.err(), /answered 401: .*; give an admin key with --key or FERRY_API_KEY/);
  const flag = ferry(['status', '--url', server.url, '--key', key]);
  t.equal(await flag.exit, 0, flag.err());
  t.match(flag.out(), /mlp\s+1\/1/);
  const env = ferry(['status', '--url', server.url, '--json'], { FERRY_API_KEY: key });
  t.equal(await env.exit, 0, env.err());
  t.same(JSON.parse(env.out()).deployments.map((d: { deployment: string }) => d.deployment), ['mlp']);
});

t.test('ferry serve drains and exits 0 on SIGTERM even when the reader of its output has gone away', async (t) => {
  const dir = t.testdir({
    'ferry.config.ts': `export default { deployments: [{ name: 'mlp', model: ${JSON.stringify(modelPath('mlp.onnx'))}, batching: { batchWaitTimeoutMs: 400 } }] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`, '--port', '0']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  run.child.stdout!.destroy(); // the pipe's reader is gone: every later write is EPIPE
  const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(6, 784) }] };
  const inFlight = postJson(`${url}/v2/models/mlp/infer`, body);
  await new Promise((r) => setTimeout(r, 150)); // held by the 400 ms batch window
  run.child.kill('SIGTERM');
  t.equal((await inFlight).status, 200, 'the request in flight is answered');
  t.equal(await run.exit, 0, 'exits 0, not on an EPIPE');
});

t.test('a SIGTERM while the replicas load lets the start finish, then shuts down and exits 0', async (t) => {
  // The old field name prints a warning just before the replicas start: the moment to send the signal.
  const dir = t.testdir({
    'ferry.config.ts': `export default { deployments: [{ name: 'cnn', model: ${JSON.stringify(modelPath('mnist-cnn.onnx'))}, host: 'thread', numReplicas: 2 }] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`, '--port', '0']);
  t.teardown(() => run.child.kill('SIGKILL'));
  while (!/host is the old name/.test(run.err())) await new Promise((r) => setTimeout(r, 2));
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exits 0, not killed by the signal');
  t.match(run.out(), /ferry: SIGTERM while starting; stopping once the replicas have loaded/);
  t.match(run.out(), /ferry: SIGTERM, finishing in-flight requests/);
});

t.test('a SIGTERM while a killed hung thread is still inside onnxruntime waits for it, then exits 0 (never aborts)', async (t) => {
  // total = sum(Z·Z) for zeros Z of shape `dims`: many seconds at [5000,5000].
  const g = new OnnxGraphBuilder('slow');
  const z = g.node('ConstantOfShape', [g.input('dims', OnnxType.INT64, [2])]);
  g.node('ReduceSum', [g.node('MatMul', [z, z])], { keepdims: 0 }, { output: 'total' });
  g.output('total', OnnxType.FLOAT, []);
  const dir = t.testdir({
    'slow.onnx': Buffer.from(g.toBytes()),
    'ferry.config.ts': `export default { node: { cpus: 2 }, deployments: [{ name: 'slow', model: './slow.onnx', batchTimeoutMs: 300 }] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`, '--port', '0']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  const hung = await postJson(`${url}/v2/models/slow/infer`, { inputs: [{ name: 'dims', shape: [2], datatype: 'INT64', data: [5000, 5000] }] });
  t.equal(hung.status, 500, 'the hung call is answered');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exits 0 once the stuck runs return, not 134 (aborted)');
  t.notMatch(run.err(), /Napi::Error|Aborted/);
});

t.test('ferry serve --watch applies a changed config without dropping a request, and refuses a broken one', async (t) => {
  const config = (maxBatchSize: number, extra = '') => `
      import { defineConfig } from 'ferry-serve';
      export default defineConfig({
        http: { ingressThreads: 1 },
        deployments: [
          { name: 'mlp', model: ${JSON.stringify(modelPath('mlp.onnx'))}, batching: { maxBatchSize: ${maxBatchSize} } },
          ${extra}
        ],
      });
    `;
  const dir = t.testdir({ 'ferry.config.ts': config(4) });
  const file = `${dir}/ferry.config.ts`;
  const run = ferry(['serve', file, '--port', '0', '--watch']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  t.match(run.out(), /watching .*ferry\.config\.ts for changes \(--watch\)/);
  const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }] };
  let running = true;
  const statuses: number[] = [];
  const load = (async () => {
    while (running) statuses.push((await postJson(`${url}/v2/models/mlp/infer`, body)).status);
  })();
  const { writeFileSync } = await import('node:fs');
  const updates = async () => ((await (await fetch(`${url}/-/status`)).json()) as { updates: { result: string; origin: string; reason: string }[] }).updates;
  const { waitFor } = await import('./helpers/ferry.js');
  let seen: Awaited<ReturnType<typeof updates>> = [];
  writeFileSync(file, config(16, `{ name: 'second', model: ${JSON.stringify(modelPath('mlp.onnx'))} },`));
  t.ok(await waitFor(() => seen.length === 1, 20_000, async () => void (seen = await updates())), 'the change is picked up');
  t.match(seen[0], { result: 'applied', origin: 'watch' });
  t.equal((await postJson(`${url}/v2/models/second/infer`, body)).status, 200, 'the added deployment serves');
  t.match(run.out(), /ferry\.config\.ts changed: applied in \d+ ms: mlp adjust \(batching\), second add/, 'the change is printed with what it did');
  writeFileSync(file, config(0));
  t.ok(await waitFor(() => seen.length === 2, 20_000, async () => void (seen = await updates())), 'the broken change is seen');
  t.match(seen[1], { result: 'refused', origin: 'watch', reason: /maxBatchSize must be an integer >= 1/ });
  t.match(run.err(), /ferry\.config\.ts changed, but the update was not applied/, 'the refusal is printed');
  running = false;
  await load;
  t.ok(statuses.length > 0 && statuses.every((s) => s === 200), `every request through both changes answered 200 (${statuses.length})`);
  const status = ferry(['status', '--url', url]);
  t.equal(await status.exit, 0);
  t.match(status.out(), /config updates \(latest 5\):\n.* watch: applied in \d+ ms: mlp adjust \(batching\), second add\n.* watch: refused in \d+ ms: .*maxBatchSize/);
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
});
