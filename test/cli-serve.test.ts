import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { postJson, randomRow } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

function ferry(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function urlOf(run: ReturnType<typeof ferry>): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const m = run.out().match(/listening on (http:\/\/\S+)/);
    if (m) return m[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`ferry did not start: ${run.out()} ${run.err()}`);
}

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
  t.match(run.out(), /slow-mlp: 1\/1 replicas ready \(thread, cpu\)/, 'prints each deployment once ready');
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
