import ort from 'onnxruntime-node';
import t, { type Test } from 'tap';
import { directRun, maxAbsDiff, postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';
import type { FerryServer } from '../index.js';
import type { ReplicaStats } from '../replicas/index.js';

const HOLDING = { batching: { maxBatchSize: 64, batchWaitTimeoutMs: 1500 }, maxOngoingRequests: 128 };

async function floodAndKill(t: Test, server: FerryServer, kill: (victim: ReplicaStats) => void): Promise<void> {
  const n = 120;
  const rows = Array.from({ length: n }, (_, i) => randomRow(1000 + i, 784));
  const pending = rows.map((row) =>
    postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: row }] }),
  );
  const pool = server.pools.get('mlp')!;
  // The batch wait window holds calls in the replicas' mailboxes, so the victim surely holds some.
  t.ok(await waitFor(() => pool.stats().replicas.some((r) => r.ongoing >= 20)), 'a replica holds calls');
  const victim = pool.stats().replicas.reduce((a, b) => (b.ongoing > a.ongoing ? b : a));
  kill(victim);
  const answers = await Promise.all(pending);
  t.same(answers.filter((a) => a.status !== 200).map((a) => a.body), [], 'every request answered 200');
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const want = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(rows[i]), [1, 784]) });
    worst = Math.max(worst, maxAbsDiff(answers[i].body.outputs?.[0].data ?? [], want.logits.data as Float32Array));
  }
  t.ok(worst < 1e-5, `every answer is the right one (max diff ${worst})`);
  const stats = pool.stats();
  t.equal(stats.restarts, 1, 'the dead replica was replaced');
  t.ok(stats.retried > 0, `calls held by the dead replica were retried (${stats.retried})`);
  t.ok(await waitFor(() => pool.stats().replicas.filter((r) => r.state === 'ready').length === 2), 'back to two ready replicas');
}

t.test('a terminated worker thread loses no request', async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 2, ...HOLDING },
  ]);
  await floodAndKill(t, server, (victim) => server.pools.get('mlp')!.killReplica(victim.id));
});

t.test('a SIGKILLed replica process loses no request', async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), replicaHost: 'process', numReplicas: 2, ...HOLDING },
  ]);
  const pool = server.pools.get('mlp')!;
  let killed = -1;
  await floodAndKill(t, server, (victim) => {
    t.equal(victim.host, 'process');
    killed = victim.hostId;
    process.kill(victim.hostId, 'SIGKILL');
  });
  t.notOk(pool.stats().replicas.some((r) => r.hostId === killed), 'the killed process is gone from the pool');
});

t.test('requests that arrive while the only replica is being replaced wait for the new one', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const pool = server.pools.get('mlp')!;
  const [only] = pool.stats().replicas;
  pool.killReplica(only.id);
  t.ok(await waitFor(() => pool.stats().restarts === 1), 'the death was seen');
  const row = randomRow(5, 784);
  const answers = await Promise.all(
    Array.from({ length: 20 }, () =>
      postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: row }] }),
    ),
  );
  t.same(answers.map((a) => a.status), Array(20).fill(200), 'all served by the replacement');
  const [replacement] = pool.stats().replicas;
  t.not(replacement.id, only.id, 'by a new replica');
  t.equal(replacement.rows, 20);
});
