import t from 'tap';
import type { FromActor, TensorMap } from '../replicas/index.js';
import { ReplicaMailbox } from '../replicas/replica-mailbox.js';

const row = (...v: number[]): TensorMap => ({ x: { dtype: 'float32', dims: [v.length / 2, 2], data: Float32Array.from(v) } });
const now = () => performance.timeOrigin + performance.now();
const turn = () => new Promise((r) => setImmediate(r));

/** A mailbox over a model that doubles its input, or fails as `fail` says; with what each ingress was sent. */
function setUp(fail: (inputs: TensorMap) => string | null = () => null, maxBatchSize = 8) {
  const sent: { source: number; msg: FromActor; transfer: ArrayBuffer[] }[] = [];
  const runs: number[][] = [];
  const gauges: string[] = [];
  const box = new ReplicaMailbox(
    { maxBatchSize, batchWaitTimeoutMs: 0 },
    async (inputs) => {
      const x = inputs.x.data as Float32Array;
      runs.push([...x]);
      const why = fail(inputs);
      if (why) throw new Error(why);
      return { outputs: { y: { dtype: 'float32', dims: [...inputs.x.dims], data: x.map((v) => 2 * v) } }, inferenceMs: 1 };
    },
    (source, msg, transfer) => sent.push({ source, msg, transfer }),
    { started: () => gauges.push('started'), finished: (rows) => gauges.push(`finished ${rows}`) },
  );
  return { box, sent, runs, gauges };
}

/** A mailbox over `model`, keeping every message sent and the rows of each run. */
function boxWith(model: (inputs: TensorMap, run: number) => Promise<TensorMap>) {
  const sent: FromActor[] = [];
  const runs: number[] = [];
  const box = new ReplicaMailbox(
    { maxBatchSize: 8, batchWaitTimeoutMs: 0 },
    async (inputs) => {
      runs.push(inputs.x.dims[0] as number);
      return { outputs: await model(inputs, runs.length), inferenceMs: 1 };
    },
    (_s, msg) => sent.push(msg),
    { started() {}, finished() {} },
  );
  return { box, sent, runs };
}

const callsOf = (...calls: [number, TensorMap][]) => ({ type: 'calls' as const, calls: calls.map(([id, inputs]) => ({ id, inputs, rows: (inputs.x.dims[0] as number), enqueuedAt: now() })) });

t.test('calls from two ingresses run in one batch; each ingress gets its own rows, in buffers of its own', async (t) => {
  const { box, sent, runs, gauges } = setUp();
  box.receive(1, callsOf([1, row(1, 1)]));
  box.receive(2, callsOf([1, row(2, 2, 3, 3)]));
  await turn();
  await turn();
  t.same(runs, [[1, 1, 2, 2, 3, 3]], 'one run of three rows');
  t.same(gauges, ['started', 'finished 3']);
  t.same(
    sent.map((s) => [s.source, s.msg.answers.map((a) => ('outputs' in a ? [a.id, [...(a.outputs.y.data as Float32Array)]] : a))]),
    [
      [1, [[1, [2, 2]]]],
      [2, [[1, [4, 4, 6, 6]]]],
    ],
  );
  t.same(sent[0].msg.batch, { rows: 3, inferenceMs: 1 }, "the batch's figures go to one ingress");
  t.equal(sent[1].msg.batch, undefined, 'and only one');
  const [a, b] = sent.map((s) => ('outputs' in s.msg.answers[0] ? s.msg.answers[0].outputs.y.data : null) as Float32Array);
  t.not(a.buffer, b.buffer, 'shared batch outputs are copied apart, so each can be handed over');
  t.same(sent[0].transfer, [a.buffer]);
});

t.test('what arrives while a batch runs goes into the next one', async (t) => {
  let release: () => void = () => {};
  const { box, runs } = boxWith(async (inputs, run) => {
    if (run === 1) await new Promise<void>((r) => (release = r));
    return { y: inputs.x };
  });
  box.receive(1, callsOf([1, row(1, 1)]));
  await turn();
  box.receive(1, callsOf([2, row(2, 2)]));
  box.receive(2, callsOf([1, row(3, 3)]));
  box.receive(1, callsOf([3, row(4, 4)]));
  await turn();
  t.same(runs, [1], 'the first batch still runs');
  release();
  await turn();
  await turn();
  t.same(runs, [1, 3], 'the three that came meanwhile ran together');
});

t.test('a cancelled call leaves the mailbox unrun and is confirmed; one already running is answered', async (t) => {
  const { box, sent, runs } = setUp();
  box.receive(1, callsOf([1, row(1, 1)], [2, row(2, 2)]));
  box.receive(1, { type: 'cancel', ids: [2, 9] });
  t.same(sent.map((s) => s.msg.answers), [[{ id: 2, cancelled: true }]], 'only the call still waiting is confirmed');
  await turn();
  await turn();
  t.same(runs, [[1, 1]]);
  box.receive(1, { type: 'cancel', ids: [1] });
  t.equal(sent.length, 2, 'a call that ran is not confirmed twice');
});

t.test('a batch onnxruntime rejects runs again call by call; only the call at fault fails', async (t) => {
  const { box, sent, runs } = setUp((inputs) => ([...(inputs.x.data as Float32Array)].includes(9) ? 'index 9 out of range' : null));
  box.receive(1, callsOf([1, row(1, 1)], [2, row(9, 9)], [3, row(3, 3)]));
  for (let i = 0; i < 8; i++) await turn();
  t.same(runs, [[1, 1, 9, 9, 3, 3], [1, 1], [9, 9], [3, 3]]);
  t.same(
    sent.flatMap((s) => s.msg.answers.map((a) => ('error' in a ? `${a.id}: ${a.error}` : `${a.id}: ok`))),
    ['1: ok', '2: index 9 out of range', '3: ok'],
  );
});

t.test('outputs that are not batch-major after all: each call runs again alone and gets its outputs whole', async (t) => {
  // A sum over the batch: one row whatever the batch.
  const { box, sent, runs } = boxWith(async (inputs) => ({ s: { dtype: 'float32', dims: [1], data: Float32Array.from([inputs.x.dims[0] as number]) } }));
  box.receive(1, callsOf([1, row(1, 1)], [2, row(2, 2)]));
  for (let i = 0; i < 6; i++) await turn();
  t.same(runs, [2, 1, 1]);
  t.same(
    sent.flatMap((m) => m.answers.map((a) => ('outputs' in a ? [...(a.outputs.s.data as Float32Array)] : a))),
    [[1], [1]],
  );
});

t.test('without batching every call runs alone, and a detached ingress loses its waiting calls', async (t) => {
  const { box, runs } = setUp();
  box.configure(false);
  box.receive(1, callsOf([1, row(1, 1)], [2, row(2, 2)]));
  box.receive(2, callsOf([1, row(3, 3)]));
  box.detach(2);
  for (let i = 0; i < 6; i++) await turn();
  t.same(runs, [[1, 1], [2, 2]]);
});

t.test('a batch whose answers cannot be sent fails its calls, and the mailbox goes on', async (t) => {
  const sent: FromActor[] = [];
  let refuse = true;
  const box = new ReplicaMailbox(
    { maxBatchSize: 8, batchWaitTimeoutMs: 0 },
    async (inputs) => ({ outputs: { y: inputs.x }, inferenceMs: 1 }),
    (_s, msg) => {
      // The first answers fail as a postMessage of something uncloneable would.
      if (refuse && msg.answers.some((a) => 'outputs' in a)) {
        refuse = false;
        throw new Error('could not be cloned');
      }
      sent.push(msg);
    },
    { started() {}, finished() {} },
  );
  box.receive(1, callsOf([1, row(1, 1)]));
  for (let i = 0; i < 4; i++) await turn();
  t.same(sent.map((m) => m.answers), [[{ id: 1, error: 'could not be cloned' }]], 'the call hears why');
  box.receive(1, callsOf([2, row(2, 2)]));
  for (let i = 0; i < 4; i++) await turn();
  t.same(sent[1].answers.map((a) => a.id), [2], 'the next call is served');
});

t.test('a new batch window (a config update) bounds the batches flushed from then on; a mailbox whose calls run alone stays so', async (t) => {
  const { box, runs } = setUp(() => null, 2);
  box.receive(1, { type: 'calls', calls: [1, 2, 3].map((id) => ({ id, inputs: row(id, id), rows: 1, enqueuedAt: now() })) });
  await turn();
  await turn();
  box.setWindow(4, 0);
  box.receive(1, { type: 'calls', calls: [4, 5, 6, 7, 8].map((id) => ({ id, inputs: row(id, id), rows: 1, enqueuedAt: now() })) });
  for (let i = 0; i < 10; i++) await turn();
  t.same(runs.map((r) => r.length / 2), [2, 1, 4, 1], 'two rows at most, then four');

  const alone = setUp(() => null, 8);
  alone.box.configure(false);
  alone.box.setWindow(8, 50);
  alone.box.receive(1, { type: 'calls', calls: [1, 2].map((id) => ({ id, inputs: row(id, id), rows: 1, enqueuedAt: now() })) });
  for (let i = 0; i < 10; i++) await turn();
  t.same(alone.runs.map((r) => r.length / 2), [1, 1], 'calls that run alone are not batched by a new window');
});
