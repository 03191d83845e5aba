import t, { type Test } from 'tap';
import { validateConfig, type DeploymentConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { BackPressureError, InferenceError, PoolClosedError, ReplicaCrashedError, ReplicaPool, ReplicaStartFailedError, type CallControl, type TensorMap } from '../replicas/index.js';
import { fakeHosts, type StartBehaviour } from './helpers/fake-host.js';
import { waitFor } from './helpers/ferry.js';

/** A pool over in-thread fake hosts that hold every call until the test answers it. */
async function setUp(t: Test, deployment: Partial<DeploymentConfig>, start: () => StartBehaviour = () => 'ready') {
  const [config] = validateConfig({ node: { cpus: 8 }, deployments: [{ name: 'd', model: './mlp.onnx', ...deployment }] }, modelPath('x.ts')).deployments;
  const { factory, hosts } = fakeHosts(start, false);
  const answered: { batch?: { rows: number }; waits: number }[] = [];
  const pool = new ReplicaPool(config, factory, { answered: (_d, batch, waits) => answered.push({ batch, waits: waits.length }) });
  t.teardown(() => pool.stop(0));
  return { pool, hosts, answered };
}

const row = (v: number): TensorMap => ({ x: { dtype: 'float32', dims: [1, 2], data: Float32Array.from([v, v]) } });

/** Runs a call and keeps how it ended. */
function call(pool: ReplicaPool, v: number, control?: CallControl) {
  const outcome: { value?: TensorMap; error?: Error } = {};
  const done = pool.infer(row(v), 1, control).then(
    (value) => (outcome.value = value),
    (error: Error) => (outcome.error = error),
  );
  return { outcome, done };
}

const heldBy = (hosts: { calls: unknown[] }[]) => hosts.map((h) => h.calls.length);

t.test('each replica holds at most maxOngoingRequests; the rest queue in the deployment, the excess is refused 503', async (t) => {
  const { pool, hosts } = await setUp(t, { numReplicas: 2, maxOngoingRequests: 2, maxQueuedRequests: 3 });
  await pool.start();
  const calls = [1, 2, 3, 4, 5, 6, 7].map((v) => call(pool, v));
  const refused = call(pool, 8);
  await refused.done;
  t.type(refused.outcome.error, BackPressureError, 'the eighth call finds 4 held and 3 queued');
  t.equal((refused.outcome.error as BackPressureError).maxQueued, 3);
  t.ok(await waitFor(() => heldBy(hosts).join() === '2,2'), 'two calls at each replica: the counts are exact');
  t.equal(pool.ongoing, 4);
  t.equal(pool.queueDepth, 3);
  t.equal(pool.load(), 7, 'what the autoscaler reads');
  hosts[0].answer();
  t.ok(await waitFor(() => calls[0].outcome.value !== undefined || calls.some((c) => c.outcome.value)), 'an answer arrives');
  t.ok(await waitFor(() => pool.queueDepth === 2 && heldBy(hosts).join() === '2,2'), 'and its place goes to the head of the queue at once');
  while (hosts.some((h) => h.calls.length > 0)) {
    for (const h of hosts) h.answer();
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(calls.map((c) => c.done));
  t.same(
    calls.map((c) => c.outcome.value?.y.data[0]),
    [1, 2, 3, 4, 5, 6, 7],
    'every admitted call has its own answer',
  );
  t.equal(pool.load(), 0);
});

t.test('a call cancelled in the queue, before it leaves, and while its replica holds it', async (t) => {
  const { pool, hosts } = await setUp(t, { numReplicas: 1, maxOngoingRequests: 1 });
  await pool.start();
  const sent: CallControl = {};
  const first = call(pool, 1, sent);
  const queued: CallControl = {};
  const second = call(pool, 2, queued);
  queued.cancel!(new Error('client left'));
  await second.done;
  t.equal(second.outcome.error?.message, 'client left');
  t.equal(pool.queueDepth, 0, 'it left the queue');
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  sent.cancel!(new Error('timed out'));
  await first.done;
  t.equal(first.outcome.error?.message, 'timed out', 'the caller hears at once');
  t.equal(pool.ongoing, 1, 'its place is held until the replica confirms');
  t.ok(await waitFor(() => hosts[0].cancels.includes(1)), 'the replica is asked to drop it');
  hosts[0].answer();
  t.ok(await waitFor(() => pool.ongoing === 0), 'its answer gives the place back, and is dropped');

  const unsent: CallControl = {};
  const third = call(pool, 3, unsent);
  unsent.cancel!(new Error('gone before the turn ended'));
  await third.done;
  t.equal(pool.ongoing, 0, 'a call cancelled in the turn it was sent frees its place at once');
  await new Promise((r) => setTimeout(r, 20));
  t.equal(hosts[0].calls.length, 0, 'and never reaches the replica');
  t.equal(pool.stats().cancelled, 3);
});

t.test("a dead replica's calls are retried once elsewhere; a call that loses two replicas fails", async (t) => {
  const { pool, hosts } = await setUp(t, { numReplicas: 1 });
  await pool.start();
  const a = call(pool, 1);
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  pool.killReplica('d#1');
  t.ok(await waitFor(() => hosts.length === 2 && hosts[1].calls.length === 1), 'the call went to the replacement');
  t.equal(pool.stats().retried, 1);
  pool.killReplica('d#2');
  await a.done;
  t.type(a.outcome.error, ReplicaCrashedError, 'not retried twice');
  t.match(a.outcome.error!.message, /killed/);
  t.ok(await waitFor(() => pool.readyReplicas === 1));
  const b = call(pool, 2);
  t.ok(await waitFor(() => hosts[2].calls.length === 1));
  hosts[2].answer();
  await b.done;
  t.same([...(b.outcome.value!.y.data as Float32Array)], [2, 2], 'the pool serves on');
});

t.test('calls queued while no replica can start fail with the start error; at zero, a queued call asks for a replica', async (t) => {
  const { pool } = await setUp(t, { autoscaling: { minReplicas: 0, maxReplicas: 1 } }, () => 'ready');
  let demanded = 0;
  pool.onDemand(() => demanded++);
  await pool.start();
  t.equal(pool.targetReplicas, 0);
  const waiting = call(pool, 1);
  t.equal(demanded, 1, 'the control plane hears at once');
  t.equal(pool.queueDepth, 1);
  pool.scaleTo(1);
  t.ok(await waitFor(() => pool.ongoing === 1), 'the new replica takes the queued call');
  await pool.stop(0);
  await waiting.done;
  t.type(waiting.outcome.error, PoolClosedError, 'a stop past its grace answers what is held');

  const failing = await setUp(t, { autoscaling: { minReplicas: 0, maxReplicas: 1 } }, (() => {
    const starts: StartBehaviour[] = ['ready'];
    return () => starts.shift() ?? 'fail';
  })());
  await failing.pool.start();
  const doomed = call(failing.pool, 1);
  failing.pool.scaleTo(1);
  await doomed.done;
  t.type(doomed.outcome.error, ReplicaStartFailedError, 'the start error, not a timeout');
});

t.test('what the answers carry reaches the observer once per batch; an error answer fails only its call', async (t) => {
  const { pool, hosts, answered } = await setUp(t, { numReplicas: 1 });
  await pool.start();
  const a = call(pool, 1);
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  hosts[0].answer();
  await a.done;
  t.same(answered, [{ batch: { rows: 1, inferenceMs: 1 }, waits: 1 }]);
  // An error answer as a replica sends it when the model rejects a call run alone.
  const b = call(pool, 2);
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  const { call: wire, port } = hosts[0].calls.shift()!;
  port.postMessage({ type: 'answers', answers: [{ id: wire.id, error: 'index out of range' }], startedAt: performance.timeOrigin + performance.now() });
  await b.done;
  t.type(b.outcome.error, InferenceError);
  t.equal(b.outcome.error!.message, 'inference failed in d: index out of range');
  t.equal(pool.ongoing, 0);
});

t.test('the router hands the caller its inputs back only once no replica can read them', async (t) => {
  const { pool, hosts } = await setUp(t, { numReplicas: 1, maxOngoingRequests: 1, maxQueuedRequests: 1 });
  await pool.start();
  const released: number[] = [];
  const withRelease = (v: number): CallControl => ({ release: () => released.push(v) });

  const sent = withRelease(1);
  const first = call(pool, 1, sent);
  t.equal(sent.release, undefined, 'the router took the release: the caller no longer calls it');
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  sent.cancel!(new Error('timed out'));
  await first.done;
  t.same(released, [], 'a call cancelled while its replica holds it keeps its inputs: the replica may still read them');
  hosts[0].answer();
  t.ok(await waitFor(() => released.includes(1)), "released once the replica's answer comes back");

  const second = call(pool, 2, withRelease(2));
  const queuedControl = withRelease(3);
  const queued = call(pool, 3, queuedControl);
  const refusedControl = withRelease(4);
  const refused = call(pool, 4, refusedControl);
  await refused.done;
  t.type(refused.outcome.error, BackPressureError);
  t.ok(released.includes(4), 'a refused call is released at once');
  queuedControl.cancel!(new Error('client left'));
  await queued.done;
  t.ok(released.includes(3), 'so is a call cancelled in the queue');
  t.notOk(released.includes(2), 'not the call its replica holds');
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  hosts[0].answer();
  await second.done;
  t.ok(second.outcome.value, 'an answered call');
  t.ok(released.includes(2), 'is released as its answer arrives');

  const retried = withRelease(5);
  const third = call(pool, 5, retried);
  t.ok(await waitFor(() => hosts[0].calls.length === 1));
  pool.killReplica('d#1');
  t.ok(await waitFor(() => hosts.length === 2 && hosts[1].calls.length === 1), 'a dead replica\'s call goes to the replacement');
  t.notOk(released.includes(5), 'still held: the replacement reads its inputs');
  hosts[1].answer();
  await third.done;
  t.ok(released.includes(5));
  t.equal(new Set(released).size, released.length, 'each release runs once');

  const closed = withRelease(6);
  await pool.stop(0);
  await call(pool, 6, closed).done;
  t.type(closed.release, 'function', 'a call no router took leaves the release with the caller');
});
