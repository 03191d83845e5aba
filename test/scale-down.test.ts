import t from 'tap';
import { validateConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { NodeResources, ReplicaPool } from '../replicas/index.js';
import { waitFor } from './helpers/ferry.js';

t.test('scaling down stops replicas still starting before ready ones', async (t) => {
  const config = validateConfig(
    { node: { cpus: 4 }, deployments: [{ name: 'mlp', model: './mlp.onnx', resources: { cpus: 1 }, autoscaling: { minReplicas: 1, maxReplicas: 3 } }] },
    modelPath('x.ts'),
  );
  const node = new NodeResources(4, 0);
  const pool = new ReplicaPool(config.deployments[0], undefined, undefined, node);
  t.teardown(() => pool.stop(0));
  await pool.start();
  const serving = pool.stats().replicas[0].id;
  pool.scaleTo(3);
  t.equal(pool.stats().replicas.filter((r) => r.state === 'starting').length, 2, 'two replicas starting');
  pool.scaleTo(1);
  t.ok(await waitFor(() => pool.stats().replicas.length === 1), 'one replica left');
  const [left] = pool.stats().replicas;
  t.equal(left.id, serving, 'the replica that was serving kept serving; the starting ones were stopped');
  t.equal(left.state, 'ready');
  t.equal(node.usage().usedCpus, 1, 'the stopped starts gave their reservations back, once each');
  t.equal(pool.readiness().ready, true, 'a cancelled start is not a failed start');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(pool.stats().replicas.length, 1, 'and nothing started again');
});

t.test('a replica scaled away gives its reservation back, and a later scale-up can use it', async (t) => {
  const config = validateConfig(
    { node: { cpus: 2 }, deployments: [{ name: 'mlp', model: './mlp.onnx', resources: { cpus: 1 }, autoscaling: { minReplicas: 1, maxReplicas: 2 } }] },
    modelPath('x.ts'),
  );
  const node = new NodeResources(2, 0);
  const pool = new ReplicaPool(config.deployments[0], undefined, undefined, node);
  t.teardown(() => pool.stop(0));
  await pool.start();
  pool.scaleTo(2);
  t.ok(await waitFor(() => pool.readyReplicas === 2), 'two ready');
  t.equal(node.usage().usedCpus, 2);
  pool.scaleTo(1);
  t.ok(await waitFor(() => pool.stats().replicas.length === 1), 'one retired');
  t.equal(node.usage().usedCpus, 1, 'the retired replica gave its cpu back');
  pool.scaleTo(2);
  t.ok(await waitFor(() => pool.readyReplicas === 2), 'the freed cpu holds a new replica');
  t.equal(pool.stats().pending, 0, 'nothing waits for room');
  await pool.stop(0);
  t.equal(node.usage().usedCpus, 0, 'stopping the pool gives everything back, once');
});
