import ort from 'onnxruntime-node';
import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath, OnnxGraphBuilder, OnnxType } from '../models/index.js';
import { ReplicaStartFailedError } from '../replicas/index.js';
import { OnnxSession } from '../replicas/onnx-session.js';
import type { FromReplica } from '../replicas/protocol.js';
import { NO_GATE, ReplicaActor } from '../replicas/replica-actor.js';
import { ferry, urlOf } from './helpers/cli.js';
import { postJson, randomRow } from './helpers/ferry.js';

/**
 * Like a skl2onnx classifier with ZipMap: a tensor output beside outputs
 * that are sequences. x float32 ['batch', 3] → y = Relu(x) ['batch', 3];
 * `parts` and `pairs` are sequences of tensors (SequenceConstruct).
 */
function buildWithSequences(tensorOutput: boolean): Uint8Array {
  const g = new OnnxGraphBuilder('with_sequences');
  const x = g.input('x', OnnxType.FLOAT, ['batch', 3]);
  if (tensorOutput) {
    g.node('Relu', [x], {}, { output: 'y' });
    g.output('y', OnnxType.FLOAT, ['batch', 3]);
  }
  g.node('SequenceConstruct', [x], {}, { output: 'parts' });
  g.output('parts', OnnxType.FLOAT, ['batch', 3], 'sequence');
  g.node('SequenceConstruct', [x, x], {}, { output: 'pairs' });
  g.output('pairs', OnnxType.FLOAT, ['batch', 3], 'sequence');
  return g.toBytes();
}

/** xs: a sequence of float32 ['batch', 3] tensors → first = xs[0]. */
function buildSequenceInput(): Uint8Array {
  const g = new OnnxGraphBuilder('sequence_input');
  const xs = g.input('xs', OnnxType.FLOAT, ['batch', 3], 'sequence');
  g.node('SequenceAt', [xs, g.int64s('zero', [], [0])], {}, { output: 'first' });
  g.output('first', OnnxType.FLOAT, ['batch', 3]);
  return g.toBytes();
}

const WHY = /a sequence or map, not a tensor: onnxruntime-node passes only tensors to and from JavaScript/;

t.test('outputs that are sequences are left out of metadata and answers, with one warning naming them', async (t) => {
  const deployments = `{ name: 'plain', model: ${JSON.stringify(modelPath('mlp.onnx'))} }, { name: 'seq', model: './seq.onnx' }`;
  const dir = t.testdir({
    'seq.onnx': Buffer.from(buildWithSequences(true)),
    'ferry.config.ts': `export default { http: { port: 0 }, node: { cpus: 2 }, deployments: [${deployments}] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const url = await urlOf(run);
  const warnings = run.err().split('\n').filter((l) => l.startsWith('ferry: warning:'));
  t.equal(warnings.length, 1, `one warning line, for the one deployment: ${run.err()}`);
  t.match(warnings[0], /^ferry: warning: deployments\[1\] \(seq\) answers with its tensor outputs only; left out 'parts', 'pairs' \((.*)\)$/);
  t.match(warnings[0], WHY);

  const meta = await (await fetch(`${url}/v2/models/seq`)).json();
  t.same(meta.outputs, [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }], 'only the tensor output is advertised');
  const rows = [randomRow(800, 3), randomRow(801, 6)];
  const answers = await Promise.all(
    rows.map((x) => postJson(`${url}/v2/models/seq/infer`, { inputs: [{ name: 'x', shape: [x.length / 3, 3], datatype: 'FP32', data: x }] })),
  );
  const session = await ort.InferenceSession.create(`${dir}/seq.onnx`);
  for (const [i, x] of rows.entries()) {
    t.equal(answers[i].status, 200, JSON.stringify(answers[i].body).slice(0, 200));
    t.same(answers[i].body.outputs.map((o: { name: string }) => o.name), ['y']);
    const want = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x), [x.length / 3, 3]) }, ['y']);
    t.same(answers[i].body.outputs[0].data, [...(want.y.data as Float32Array)], `request ${i} equals a direct run`);
  }
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
});

t.test('a model with a sequence input does not start, and says which input and why', async (t) => {
  const dir = t.testdir({
    'seq-in.onnx': Buffer.from(buildSequenceInput()),
    'ferry.config.ts': `export default { http: { port: 0 }, deployments: [{ name: 'seqin', model: './seq-in.onnx' }] };`,
  });
  const run = ferry(['serve', `${dir}/ferry.config.ts`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  // Served by mistake, it would listen and never exit.
  t.equal(await Promise.race([run.exit, urlOf(run).then(() => 'listening')]), 1);
  t.match(run.err(), /^ferry: FERRY_ERR_REPLICA_START: replica of seqin failed to start: input 'xs' is a sequence or map, not a tensor: .*, so Ferry cannot feed this model$/m);
  t.notMatch(run.out(), /listening/);
});

t.test('a model whose outputs are all sequences does not start, and says so', async (t) => {
  const dir = t.testdir({ 'only-seq.onnx': Buffer.from(buildWithSequences(false)) });
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 1 }, deployments: [{ name: 'only', model: `${dir}/only-seq.onnx` }] }, modelPath('ferry.config.ts'));
  const err = await FerryServer.start(config).then(
    (s) => (s.close(0), null),
    (e: unknown) => e,
  );
  t.type(err, ReplicaStartFailedError, 'a replica start failure (FERRY_ERR_REPLICA_START)');
  t.match((err as Error).message, /^replica of only failed to start: the model has no tensor output to answer with: outputs 'parts', 'pairs' are a sequence or map/);
});

t.test('in this thread, as a replica runs it: the session serves the tensors, leaves the sequences out, and refuses what it cannot feed or answer', async (t) => {
  const dir = t.testdir({ 'seq.onnx': Buffer.from(buildWithSequences(true)), 'only-seq.onnx': Buffer.from(buildWithSequences(false)), 'seqin.onnx': Buffer.from(buildSequenceInput()) });
  const options = { device: 'cpu' as const, intraOpThreads: 1 };
  const session = await OnnxSession.open(`${dir}/seq.onnx`, options, NO_GATE);
  t.same(session.metadata.outputs.map((o) => o.name), ['y']);
  t.same(session.omittedOutputs.map((o) => o.name), ['parts', 'pairs']);
  const { outputs } = await session.run({ x: { dtype: 'float32', dims: [1, 3], data: Float32Array.of(-1, 0, 2) } });
  t.same([...(outputs.y.data as Float32Array)], [0, 0, 2]);
  await session.release();
  await t.rejects(OnnxSession.open(`${dir}/seqin.onnx`, options, NO_GATE), { name: 'Error', message: /input 'xs' is a sequence or map/ });
  await t.rejects(OnnxSession.open(`${dir}/only-seq.onnx`, options, NO_GATE), /no tensor output to answer with/);

  const sent: FromReplica[] = [];
  const actor = new ReplicaActor((msg) => sent.push(msg));
  const spec = { deployment: 'd', replicaId: 'd#1', models: {}, handlerPath: null, handlerExport: 'default', userConfig: undefined, routeMethods: [], multiplex: null, intraOpThreads: 1, batching: { maxBatchSize: 1, batchWaitTimeoutMs: 0, targetLatencyMs: null, mode: 'auto' as const }, counters: null };
  await t.rejects(actor.run({}), /no loaded model/);
  t.equal(await actor.init({ ...spec, modelPath: `${dir}/seqin.onnx`, device: 'cpu' }), null);
  t.match(sent.pop(), { type: 'init-failed', message: /input 'xs' is a sequence or map/ });
  t.equal(await actor.init({ ...spec, modelPath: `${dir}/seq.onnx`, device: 'cuda' }), null);
  t.match(sent.pop(), { type: 'init-failed', code: 'FERRY_ERR_DEVICE_UNAVAILABLE' });
  t.same((await actor.init({ ...spec, modelPath: `${dir}/seq.onnx`, device: 'cpu' }))?.outputs.map((o) => o.name), ['y']);
  t.match(sent.pop(), { type: 'ready', omittedOutputs: [{ name: 'parts' }, { name: 'pairs' }] });
  t.same([...((await actor.run({ x: { dtype: 'float32', dims: [1, 3], data: Float32Array.of(1, -1, 1) } })).outputs.y.data as Float32Array)], [1, 0, 1]);
});
