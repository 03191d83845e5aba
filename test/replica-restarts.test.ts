import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { captureLog, postJson, randomRow, waitFor } from './helpers/ferry.js';

t.test('a replica that dies is logged with its reason and counted in ferry_replica_restarts_total', async (t) => {
  const { lines, stream } = captureLog();
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 2 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), replicaHost: 'process' }] },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config, { logger: { level: 'info', stream } });
  t.teardown(() => server.close(2000));
  const pool = server.pools.get('mlp')!;
  const first = pool.stats().replicas[0].id;
  t.ok(pool.killReplica(first));
  t.ok(await waitFor(() => pool.stats().replicas.some((r) => r.state === 'ready' && r.id !== first), 15_000), 'a replacement is ready');
  const res = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(3, 784) }] });
  t.equal(res.status, 200, 'the replacement serves');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_replica_restarts_total\{deployment="mlp",reason="crashed"\} 1/);
  const warned = lines.filter((l) => l.level === 40 && l.cause === 'crashed');
  t.equal(warned.length, 1, 'one warning for the one death');
  t.match(warned[0]?.msg, new RegExp(`replica ${first.replace('#', '#')} crashed: process killed by SIGKILL; replacing it`));
});
