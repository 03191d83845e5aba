import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { threadsInsideOnnxruntime } from '../replicas/index.js';
import { modelPath, OnnxGraphBuilder, OnnxType } from '../models/index.js';
import { captureLog, postJson, waitFor } from './helpers/ferry.js';

/** total = sum(Z·Z) for Z zeros of shape `dims`: instant at [4,4], seconds at [8000,8000] on any CPU (a teraflop). */
function buildSlowMatmul(): Uint8Array {
  const g = new OnnxGraphBuilder('slow');
  const dims = g.input('dims', OnnxType.INT64, [2]);
  const z = g.node('ConstantOfShape', [dims]);
  g.node('ReduceSum', [g.node('MatMul', [z, z])], { keepdims: 0 }, { output: 'total' });
  g.output('total', OnnxType.FLOAT, []);
  return g.toBytes();
}

t.test('a batch that runs past batchTimeoutMs is taken as hung: its host is killed, its call retried once, the replica replaced and counted', async (t) => {
  const dir = t.testdir({ 'slow.onnx': Buffer.from(buildSlowMatmul()) });
  const { lines, stream } = captureLog();
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 2 }, deployments: [{ name: 'slow', model: `${dir}/slow.onnx`, replicaHost: 'process', batchTimeoutMs: 400 }] },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config, { logger: { level: 'info', stream } });
  t.teardown(() => server.close(1000));
  const url = `${server.url}/v2/models/slow/infer`;
  const ask = (n: number) => postJson(url, { inputs: [{ name: 'dims', shape: [2], datatype: 'INT64', data: [n, n] }] });

  t.equal((await ask(4)).status, 200, 'a quick batch is answered');
  const started = Date.now();
  const hung = await ask(8000);
  t.equal(hung.status, 500, 'the call that hangs every replica it reaches fails, after one retry');
  t.equal(hung.body.code, 'FERRY_ERR_REPLICA_CRASHED');
  t.match(hung.body.error, /a batch ran past 400 ms \(batchTimeoutMs\)/);
  t.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms, not after the run`);
  const pool = server.pools.get('slow')!;
  t.ok(await waitFor(() => pool.readiness().ready), 'a replacement is ready');
  t.equal((await ask(4)).status, 200, 'and serves');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_replica_restarts_total\{deployment="slow",reason="hung"\} 2/);
  t.equal(lines.filter((l) => l.cause === 'hung' && /hung and was killed/.test(l.msg)).length, 2, 'each kill is logged');
});

t.test('a hung batch on a thread replica: the pool moves on at once, and the thread ends when onnxruntime returns, never mid-run', async (t) => {
  const dir = t.testdir({ 'slow.onnx': Buffer.from(buildSlowMatmul()) });
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 2 }, deployments: [{ name: 'slow', model: `${dir}/slow.onnx`, batchTimeoutMs: 300 }] },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config);
  t.teardown(() => server.close(1000));
  const url = `${server.url}/v2/models/slow/infer`;
  const ask = (n: number) => postJson(url, { inputs: [{ name: 'dims', shape: [2], datatype: 'INT64', data: [n, n] }] });
  const hung = await ask(5000);
  t.equal(hung.status, 500, 'the call that hangs is answered after one retry');
  t.equal(hung.body.code, 'FERRY_ERR_REPLICA_CRASHED');
  t.ok(threadsInsideOnnxruntime() >= 1, 'its threads are still inside onnxruntime');
  // Terminating a thread there aborts the whole process when the run returns: this process must live on.
  t.ok(await waitFor(() => threadsInsideOnnxruntime() === 0, 60_000), 'each stuck thread ends once its run returns');
  const pool = server.pools.get('slow')!;
  t.ok(await waitFor(() => pool.readiness().ready), 'a replacement is ready');
  t.equal((await ask(4)).status, 200, 'and serves');
  t.equal(pool.stats().replicas.length, 1, 'the stuck threads are gone, not kept');
});
