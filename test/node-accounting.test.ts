import t from 'tap';
import { validateConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { NodeResources, ReplicaPool } from '../replicas/index.js';
import { waitFor } from './helpers/ferry.js';

t.test('two pools on one node: reservations stay exact through scale up, down, to zero, and deaths', async (t) => {
  const config = validateConfig(
    {
      node: { cpus: 3 },
      deployments: [
        { name: 'a', model: './mlp.onnx', resources: { cpus: 1 }, autoscaling: { minReplicas: 0, maxReplicas: 2, initialReplicas: 1 } },
        { name: 'b', model: './mnist-cnn.onnx', resources: { cpus: 1 }, replicaHost: 'process' },
      ],
    },
    modelPath('x.ts'),
  );
  const node = new NodeResources(3, 0);
  const [a, b] = config.deployments.map((d) => new ReplicaPool(d, undefined, undefined, node));
  t.teardown(() => Promise.all([a.stop(0), b.stop(0)]));
  let overbooked = 0;
  // Sampled all along: the bound must hold during every transition, not only at the end.
  const sampler = setInterval(() => {
    if (node.usage().usedCpus > node.cpus) overbooked++;
  }, 2);
  t.teardown(() => clearInterval(sampler));
  const used = () => node.usage().usedCpus;
  const live = (p: ReplicaPool) => p.stats().replicas.filter((r) => r.state === 'starting' || r.state === 'ready').length;

  a.reserveFirst();
  b.reserveFirst();
  await Promise.all([a.start(), b.start()]);
  t.equal(used(), 2, 'one replica each');

  a.scaleTo(2);
  t.ok(await waitFor(() => a.readyReplicas === 2), 'a grows to 2');
  t.equal(used(), 3, 'the node is full');
  a.scaleTo(3);
  t.equal(a.stats().pending, 1, 'a third replica of a waits for room');
  t.equal(used(), 3, 'and reserves nothing');

  a.killReplica(a.stats().replicas[0].id);
  t.ok(await waitFor(() => a.readyReplicas === 2 && a.stats().restarts === 1), 'a replaces its dead replica');
  t.equal(used(), 3, 'the dead replica gave back exactly what its replacement took');

  b.killReplica(b.stats().replicas[0].id);
  t.ok(await waitFor(() => b.readyReplicas === 1 && b.stats().restarts === 1), 'b (a process) is replaced after SIGKILL');
  t.equal(used(), 3);

  a.scaleTo(0);
  t.ok(await waitFor(() => a.stats().replicas.length === 0), 'a scales to zero');
  t.equal(used(), 1, "only b's replica holds the node");
  t.equal(a.readiness().ready, true, 'a at zero is still ready for the request that wakes it');

  a.scaleTo(1);
  t.ok(await waitFor(() => a.readyReplicas === 1), 'a comes back');
  t.equal(used(), 2);
  await Promise.all([a.stop(0), b.stop(0)]);
  t.equal(used(), 0, 'everything given back, once');
  t.equal(overbooked, 0, 'the node was never reserved past its cpus');
  t.same([live(a), live(b)], [0, 0]);
});
