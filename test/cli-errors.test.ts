import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import { ferry, type FerryRun } from './helpers/cli.js';
import { modelPath } from '../models/index.js';

// docs/api.md promises Ferry and system errors as `ferry: <CODE>: <message>` on stderr, exit 1.

t.test('a model file onnxruntime cannot parse is reported with FERRY_ERR_REPLICA_START', async (t) => {
  const dir = t.testdir({
    // Passes validation (the file exists); only loading it in the replica fails.
    'x.onnx': Buffer.alloc(64, 0xff),
    'ferry.config.ts': `export default { deployments: [{ name: 'garbage', model: './x.onnx' }] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`, '--port', '0']);
  t.teardown(() => run.child.kill('SIGKILL'));
  t.equal(await run.exit, 1);
  t.match(run.err(), /^ferry: FERRY_ERR_REPLICA_START: replica of garbage failed to start: Load model from .*x\.onnx failed/);
  t.notMatch(run.out(), /listening/);
});

t.test('a port already in use is reported with the system error code, and the process still exits', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const { port } = blocker.address() as AddressInfo;
  const dir = t.testdir({
    'ferry.config.ts': `export default { deployments: [{ name: 'mlp', model: ${JSON.stringify(modelPath('mlp.onnx'))} }] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`, '--host', '127.0.0.1', '--port', String(port)]);
  t.teardown(() => run.child.kill('SIGKILL'));
  // The replicas have started by the time Ferry listens: a clean exit 1 (not a hang
  // or a SIGKILL) shows they were stopped rather than left holding the process.
  t.equal(await run.exit, 1);
  t.equal(run.err(), `ferry: EADDRINUSE: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
});

t.test('an invalid FERRY_* variable is one coded line, not a stack trace from module loading', async (t) => {
  const dir = t.testdir({
    'ferry.config.ts': `export default { deployments: [{ name: 'mlp', model: ${JSON.stringify(modelPath('mlp.onnx'))} }] };`,
  });
  // The child inherits this process's environment; spawn has copied it by the time ferry() returns.
  const before = process.env.FERRY_SHUTDOWN_GRACE_MS;
  process.env.FERRY_SHUTDOWN_GRACE_MS = 'abc';
  let run: FerryRun;
  try {
    run = ferry(['serve', `${dir}/ferry.config.ts`, '--port', '0']);
  } finally {
    if (before === undefined) delete process.env.FERRY_SHUTDOWN_GRACE_MS;
    else process.env.FERRY_SHUTDOWN_GRACE_MS = before;
  }
  t.teardown(() => run.child.kill('SIGKILL'));
  t.equal(await run.exit, 1);
  t.equal(run.err(), 'ferry: FERRY_ERR_CONFIG_INVALID: FERRY_SHUTDOWN_GRACE_MS must be an integer from 0 to 2147483647 (got "abc")\n');
  t.equal(run.out(), '');
});

t.test('ferry node: a missing or malformed --redis, or a bad --cpus or --port, is one line and exit 1', async (t) => {
  const cases: [string[], RegExp][] = [
    [['node'], /^ferry: ferry node needs --redis <url>: the cluster it joins\n$/],
    [['node', '--redis', 'localhost:6379'], /^ferry: --redis takes a redis:\/\/ or rediss:\/\/ URL \(got localhost:6379\)\n$/],
    [['node', '--redis', 'redis://127.0.0.1:1', '--cpus', 'many'], /^ferry: --cpus must be a number ≥ 0 \(got many\)\n$/],
    [['node', '--redis', 'redis://127.0.0.1:1', '--port', '1.5'], /^ferry: --port must be a whole number ≥ 0 \(got 1\.5\)\n$/],
    [['node', '--redis', 'redis://127.0.0.1:1', '--port', '70000'], /^ferry: --port must be at most 65535 \(got 70000\)\n$/],
  ];
  for (const [args, want] of cases) {
    const run = ferry(args);
    t.teardown(() => void run.child.kill('SIGKILL'));
    t.equal(await run.exit, 1, args.join(' '));
    t.match(run.err(), want);
  }
});

t.test('a cluster timing of 0 (or under 100 ms) is refused: a heartbeat that lapses at once would never show the node', async (t) => {
  const run = ferry(['node', '--redis', 'redis://127.0.0.1:1'], { FERRY_HEARTBEAT_TTL_MS: '0' });
  t.teardown(() => void run.child.kill('SIGKILL'));
  t.equal(await run.exit, 1);
  t.equal(run.err(), 'ferry: FERRY_ERR_CONFIG_INVALID: FERRY_HEARTBEAT_TTL_MS must be an integer from 100 to 2147483647 (got "0")\n');
});

t.test('ferry node offering no cpus and no gpus says what that means before it tries to join', async (t) => {
  const run = ferry(['node', '--redis', 'redis://127.0.0.1:1', '--cpus', '0']);
  t.teardown(() => void run.child.kill('SIGKILL'));
  t.equal(await run.exit, 1, 'no Redis there: it cannot join');
  t.match(run.err(), /^ferry: warning: this node offers 0 cpus and 0 gpus: only deployments that reserve no resources can be placed here\n/);
  // This machine has no CUDA provider installed (the device tests say so too).
  const gpus = ferry(['node', '--redis', 'redis://127.0.0.1:1', '--gpus', '1']);
  t.teardown(() => void gpus.child.kill('SIGKILL'));
  t.equal(await gpus.exit, 1);
  t.match(gpus.err(), /^ferry: warning: this node offers 1 gpus, but 'cuda' needs onnxruntime-node's CUDA provider .*: replicas placed here on 'cuda' will fail to start\n/);
  t.match(run.err(), /cannot join the cluster at redis:\/\/127\.0\.0\.1:1/);
});
