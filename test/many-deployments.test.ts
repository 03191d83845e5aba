import { availableParallelism } from 'node:os';
import t from 'tap';
import { validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { NodeResources, ReplicaPool, ReplicaStartFailedError } from '../replicas/index.js';
import { ferry, urlOf } from './helpers/cli.js';
import { postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';

const SIX = ['mlp', 'mnist-cnn', 'mixed-inputs', 'fixed-batch', 'batch-reduce', 'dynamic-image'];

t.test('six deployments with default settings start and serve on this machine', async (t) => {
  const deployments = SIX.map((m) => `{ name: '${m}', model: ${JSON.stringify(modelPath(`${m}.onnx`))} }`).join(',\n');
  const dir = t.testdir({ 'ferry.config.ts': `export default { http: { port: 0 }, deployments: [${deployments}] };` });
  const run = ferry(['serve', `${dir}/ferry.config.ts`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  for (const m of SIX) t.match(run.out(), new RegExp(`${m}: 1/1 replicas ready`), `${m} is ready`);
  t.match(run.out(), /fixed-batch: 1\/1 replicas ready \(thread, cpu, each request alone: input 'x' has a fixed dimension 0 of 1\)/);
  t.match(run.out(), /mlp: 1\/1 replicas ready \(thread, cpu, batching up to 32 rows\)/);
  const cpus = availableParallelism();
  if (cpus < 6) t.match(run.err(), /6 initial replicas of 6 deployments without resources\.cpus share/, 'the shared reservation is announced');
  const status = await (await fetch(`${url}/-/status`)).json();
  t.ok(status.node.usedCpus <= status.node.cpus + 1e-9, `the node is not oversubscribed (${status.node.usedCpus} of ${status.node.cpus})`);
  const answers = await Promise.all([
    postJson(`${url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }] }),
    postJson(`${url}/v2/models/mnist-cnn/infer`, { inputs: [{ name: 'image', shape: [1, 1, 28, 28], datatype: 'FP32', data: randomRow(2, 784) }] }),
    postJson(`${url}/v2/models/mixed-inputs/infer`, {
      inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }, { name: 'k', shape: [1, 1], datatype: 'INT64', data: [3] }],
    }),
    postJson(`${url}/v2/models/fixed-batch/infer`, { inputs: [{ name: 'x', shape: [1, 25, 96], datatype: 'FP32', data: randomRow(3, 2400) }] }),
    postJson(`${url}/v2/models/batch-reduce/infer`, { inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: randomRow(4, 8) }] }),
    postJson(`${url}/v2/models/dynamic-image/infer`, { inputs: [{ name: 'image', shape: [1, 3, 6, 5], datatype: 'FP32', data: randomRow(5, 90) }] }),
  ]);
  t.same(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200], 'every deployment answers');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
});

t.test('explicit reservations that cannot fit are refused before anything starts, naming what to change', async (t) => {
  const deployments = ['mlp', 'mnist-cnn', 'mixed-inputs']
    .map((m) => `{ name: '${m}', model: ${JSON.stringify(modelPath(`${m}.onnx`))}, resources: { cpus: 1 } }`)
    .join(',\n');
  const dir = t.testdir({ 'ferry.config.ts': `export default { http: { port: 0 }, node: { cpus: 2 }, deployments: [${deployments}] };` });
  const run = ferry(['serve', `${dir}/ferry.config.ts`]);
  t.equal(await run.exit, 1);
  t.match(
    run.err(),
    /deployments\[2\] \(mixed-inputs\) reserves resources\.cpus 1 for its first replica, but the node offers 2 cpus and the deployments before it already reserve 2: lower deployments\[2\]\.resources\.cpus \(or another deployment's\), or raise node\.cpus/,
  );
  t.notMatch(run.out(), /listening/, 'nothing was served');
});

t.test('a replica without resources.cpus reserves intraOpThreads cores while they fit, and a share when they do not', async (t) => {
  const config = (cpus: number, extra: object[] = []) =>
    validateConfig(
      {
        node: { cpus },
        deployments: [
          { name: 'a', model: modelPath('mlp.onnx'), intraOpThreads: 2 },
          { name: 'b', model: modelPath('mlp.onnx'), numReplicas: 2 },
          ...extra,
        ],
      },
      modelPath('ferry.config.ts'),
    );
  t.same(config(8).deployments.map((d) => d.resources.cpus), [2, 1], 'roomy node: intraOpThreads each');
  t.same(config(8).warnings, []);
  t.same(config(2).deployments.map((d) => d.resources.cpus), [2 / 3, 2 / 3], '3 initial replicas share 2 cpus');
  t.match(config(2).warnings.join('\n'), /3 initial replicas of 2 deployments without resources\.cpus share 2 cpus of the node: each reserves 0\.667 cpus/);
  const mixed = config(3, [{ name: 'c', model: modelPath('mlp.onnx'), resources: { cpus: 2 } }]);
  t.same(mixed.deployments.map((d) => d.resources.cpus), [1 / 3, 1 / 3, 2], 'explicit reservations first, the rest shared');
  t.throws(
    () => config(2, [{ name: 'c', model: modelPath('mlp.onnx'), resources: { cpus: 2 } }]),
    /deployments\[0\] \(a\) leaves resources\.cpus out, but the explicit reservations take all of the node's 2 cpus/,
  );
});

t.test('every first replica starts, whatever the order, before a deployment takes more of the node', async (t) => {
  // 'a' comes first and wants 3 replicas of 1 cpu on a 2-cpu node; fx's one replica must still get its share.
  const a = `{ name: 'a', model: ${JSON.stringify(modelPath('mlp.onnx'))}, resources: { cpus: 1 }, numReplicas: 3 }`;
  const fx = `{ name: 'fx', model: ${JSON.stringify(modelPath('fixed-batch.onnx'))} }`;
  const dir = t.testdir({ 'ferry.config.ts': `export default { http: { port: 0 }, node: { cpus: 2 }, deployments: [${a}, ${fx}] };` });
  const run = ferry(['serve', `${dir}/ferry.config.ts`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  t.match(run.out(), /a: 1\/3 replicas ready/);
  t.match(run.out(), /fx: 1\/1 replicas ready/);
  const status = await (await fetch(`${url}/-/status`)).json();
  t.same(status.node, { cpus: 2, gpus: 0, usedCpus: 2, usedGpus: 0 }, 'one cpu each, the node full');
  t.same(status.deployments.map((d: { pending: number }) => d.pending), [2, 0], "a's other two replicas wait as pending");
  const answers = await Promise.all([
    postJson(`${url}/v2/models/a/infer`, { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }] }),
    postJson(`${url}/v2/models/fx/infer`, { inputs: [{ name: 'x', shape: [1, 25, 96], datatype: 'FP32', data: randomRow(2, 2400) }] }),
  ]);
  t.same(answers.map((r) => r.status), [200, 200]);
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
});

t.test('the replica that reads a scaled-to-zero model gives its reservation back once', async (t) => {
  const server = await startFerry(
    t,
    [
      { name: 'z', model: modelPath('mlp.onnx'), resources: { cpus: 1 }, autoscaling: { minReplicas: 0, maxReplicas: 1 } },
      { name: 'b', model: modelPath('mlp.onnx'), resources: { cpus: 1 } },
    ],
    {},
    { node: { cpus: 2 } },
  );
  const status = await (await fetch(`${server.url}/-/status`)).json();
  t.same(status.deployments.map((d: { replicas: unknown[] }) => d.replicas.length), [0, 1]);
  t.equal(status.node.usedCpus, 1, "b's replica still counts; z's stopped one does not, and not twice");
});

t.test('a deployment at zero starts on a full node: the replica that reads its model reserves nothing', async (t) => {
  const deployments = [
    // b starts with the node's only core but may scale to zero, so z and zd can start one day.
    { name: 'b', model: modelPath('mlp.onnx'), resources: { cpus: 1 }, autoscaling: { minReplicas: 0, initialReplicas: 1, maxReplicas: 1 } },
    { name: 'z', model: modelPath('mnist-cnn.onnx'), resources: { cpus: 1 }, autoscaling: { minReplicas: 0, maxReplicas: 1 } },
    { name: 'zd', model: modelPath('mlp.onnx'), autoscaling: { minReplicas: 0, maxReplicas: 1 } },
  ];
  const config = validateConfig({ node: { cpus: 1 }, deployments }, modelPath('ferry.config.ts'));
  t.same(config.deployments.map((d) => d.resources.cpus), [1, 1, 1], 'zd keeps its intraOpThreads core: it holds nothing at start');
  const node = new NodeResources(1, 0);
  const pools = config.deployments.map((d, i) => new ReplicaPool(d, undefined, undefined, node, i));
  t.teardown(() => Promise.all(pools.map((p) => p.stop(0))));
  let overbooked = 0;
  const sampler = setInterval(() => {
    if (node.usage().usedCpus > node.cpus) overbooked++;
  }, 2);
  t.teardown(() => clearInterval(sampler));
  t.same(pools.map((p) => p.reserveFirst()), [true, true, true]);
  t.equal(node.usage().usedCpus, 1, "only b's first replica is reserved ahead");
  await Promise.all(pools.map((p) => p.start()));
  t.same(pools.map((p) => p.readyReplicas), [1, 0, 0]);
  t.same(pools[1].metadata.inputs.map((i) => i.name), ['image'], "z's model was read although the node was full");
  t.equal(node.usage().usedCpus, 1, 'the probes gave back nothing they had not taken');
  pools[1].scaleTo(1);
  t.equal(pools[1].stats().pending, 1, "z's replica waits for room");
  await pools[0].stop(0);
  t.ok(await waitFor(() => pools[1].readyReplicas === 1), "z starts once b's core is free");
  t.equal(overbooked, 0, 'the node was never reserved past its cpu');
});

t.test('a deployment that finds the node full says which setting to change', async (t) => {
  const config = validateConfig(
    { node: { cpus: 2 }, deployments: [{ name: 'a', model: modelPath('mlp.onnx') }, { name: 'fx', model: modelPath('fixed-batch.onnx'), resources: { cpus: 1 } }] },
    modelPath('ferry.config.ts'),
  );
  const node = new NodeResources(2, 0);
  t.ok(node.tryReserve({ cpus: 1.5, gpus: 0 }), 'something else holds most of the node');
  const pool = new ReplicaPool(config.deployments[1], undefined, undefined, node, 1);
  const err = await pool.start().then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, ReplicaStartFailedError);
  t.match(
    (err as Error).message,
    /^replica of fx failed to start: none of its 1 initial replicas fits on the node \(each reserves 1 cpus and 0 gpus; the node has 0\.5 of 2 cpus and 0 of 0 gpus free\): lower deployments\[1\]\.resources\.cpus or raise node\.cpus$/,
  );
  t.equal(node.usage().usedCpus, 1.5, 'nothing left reserved by the failed start');
});

t.test('reserved cpus read as a person would write them', async (t) => {
  // 0.1 + 0.1 + 0.1 is 0.30000000000000004 in floating point.
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), resources: { cpus: 0.1 }, numReplicas: 3 }], {}, { node: { cpus: 1 } });
  const status = await (await fetch(`${server.url}/-/status`)).json();
  t.equal(status.node.usedCpus, 0.3);
  const run = ferry(['status', '--url', server.url]);
  t.equal(await run.exit, 0, run.err());
  t.match(run.out(), /node: 0\.3\/1 cpus, 0\/0 gpus reserved/);
});
