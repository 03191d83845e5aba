import t, { type Test } from 'tap';
import { RESTART_BACKOFF_MS } from '../constants.js';
import { validateConfig, type DeploymentConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { BufferPool } from '../replicas/buffer-pool.js';
import { DeploymentModel } from '../replicas/deployment-model.js';
import { NodeResources } from '../replicas/node-resources.js';
import { createCall, type PendingCall } from '../replicas/pending-call.js';
import { ReplicaStartFailedError } from '../replicas/pool-errors.js';
import { ReplicaSet } from '../replicas/replica-set.js';
import { fakeHosts, type StartBehaviour } from './helpers/fake-host.js';
import { waitFor } from './helpers/ferry.js';


/** A replica set over in-thread fake hosts, on a node of `cpus`, with what it told its pool. */
function setUp(t: Test, deployment: Partial<DeploymentConfig>, opts: { cpus?: number; start?: () => StartBehaviour; answerAtOnce?: boolean } = {}) {
  const cpus = opts.cpus ?? 2;
  const [config] = validateConfig(
    { node: { cpus }, deployments: [{ name: 'd', model: './mlp.onnx', resources: { cpus: 1 }, ...deployment }] },
    modelPath('x.ts'),
  ).deployments;
  const node = new NodeResources(cpus, 0);
  const { factory, hosts } = fakeHosts(opts.start, opts.answerAtOnce ?? true);
  const told = { capacity: 0, orphaned: [] as { orphans: PendingCall[]; reason: string }[], noReplica: [] as Error[] };
  const set = new ReplicaSet({
    config,
    hostFactory: factory,
    resources: node,
    model: new DeploymentModel(config.name, config.batching),
    buffers: new BufferPool(),
    events: {
      capacity: () => told.capacity++,
      orphaned: (orphans, reason) => told.orphaned.push({ orphans, reason }),
      noReplica: (err) => told.noReplica.push(err),
    },
    configIndex: 0,
  });
  t.teardown(() => set.stop(new Error('test over')));
  const used = () => node.usage().usedCpus;
  const states = () => set.replicas.map((r) => r.state);
  return { set, hosts, told, node, used, states };
}

const row = () => ({ x: { dtype: 'float32' as const, dims: [1, 2], data: Float32Array.from([1, 2]) } });

/** A call and how it ended. */
function call() {
  const outcome: { value?: unknown; error?: Error } = {};
  const c = createCall(row(), 1, 'k', (v) => (outcome.value = v), (e) => (outcome.error = e), () => {});
  return { c, outcome };
}

t.test('the initial replicas start within the node; the rest wait as pending and start when room frees', async (t) => {
  const { set, node, used, told } = setUp(t, { numReplicas: 3 }, { cpus: 3 });
  const other = node.lease({ cpus: 1, gpus: 0 })!;
  await set.start(3);
  t.equal(set.count('ready'), 2);
  t.equal(set.pending, 1);
  t.equal(used(), 3);
  t.equal(told.capacity, 2, 'each ready replica told the pool');
  set.scaleTo(2);
  t.equal(set.pending, 0, 'a target met needs nothing pending');
  set.scaleTo(3);
  t.equal(set.pending, 1);
  other.release();
  t.equal(set.pending, 0, 'the room another pool freed goes to the pending replica at once');
  t.ok(await waitFor(() => set.count('ready') === 3));
  t.equal(used(), 3);
  set.scaleTo(1);
  t.ok(await waitFor(() => set.replicas.length === 1), 'two ready replicas retired');
  t.equal(used(), 1);
});

t.test('a deployment at zero reads its model with a replica outside the budget, then stops it', async (t) => {
  const { set, hosts, used, node } = setUp(t, { autoscaling: { minReplicas: 0, maxReplicas: 1 } }, { cpus: 1 });
  t.ok(node.tryReserve({ cpus: 1, gpus: 0 }), 'the node is full');
  t.equal(set.reserveFirst(), true, 'a deployment at zero needs nothing reserved ahead');
  await set.start(0);
  t.equal(hosts.length, 1, 'one replica read the model');
  t.equal(hosts[0].terminated, true, 'and was stopped');
  t.same(set.replicas, []);
  t.equal(used(), 1, 'nothing taken, nothing given back');
  t.equal(set.active(), 0);
});

t.test('scaled up while the probe reads the model: the wanted replica starts within the budget', async (t) => {
  const { set, hosts, used } = setUp(t, { autoscaling: { minReplicas: 0, maxReplicas: 1 } }, { cpus: 1, start: () => 'hold' });
  const started = set.start(0);
  set.scaleTo(1);
  t.equal(set.active(), 1, 'the probe does not count toward the target');
  t.equal(hosts.length, 2, 'a real replica starts beside it');
  t.equal(used(), 1, 'and only it holds the node');
  hosts[0].finishStart(true);
  await started;
  t.ok(await waitFor(() => hosts[0].terminated), 'the probe stopped once it reported');
  hosts[1].finishStart(true);
  t.ok(await waitFor(() => set.count('ready') === 1));
  t.equal(used(), 1);
});

t.test('the probe is not stopped by a scale-down, and its death is not replaced with its budget', async (t) => {
  const { set, hosts, used, told } = setUp(t, { autoscaling: { minReplicas: 0, maxReplicas: 2 } }, { cpus: 1, start: () => 'hold' });
  const started = set.start(0);
  set.scaleTo(0);
  t.equal(hosts[0].terminated, false, 'a scale-down leaves the probe to finish');
  hosts[0].finishStart(true);
  await started;
  t.equal(used(), 0);
  t.same(told.orphaned, []);
});

t.test('scaling down stops replicas still starting first, then the ready ones holding fewest calls', async (t) => {
  const behaviours: StartBehaviour[] = ['ready', 'ready', 'hold', 'hold'];
  const { set, hosts, used } = setUp(t, { numReplicas: 2 }, { cpus: 4, start: () => behaviours.shift() ?? 'ready', answerAtOnce: false });
  await set.start(2);
  const [busy, idle] = set.replicas;
  busy.assign(call().c);
  set.scaleTo(4);
  t.same(
    set.replicas.map((r) => r.state),
    ['ready', 'ready', 'starting', 'starting'],
  );
  t.equal(used(), 4);
  set.scaleTo(1);
  t.ok(await waitFor(() => set.replicas.length === 1), 'three stopped');
  t.equal(set.replicas[0], busy, 'the replica holding a call kept serving');
  t.notOk(set.replicas.includes(idle));
  t.equal(set.failedStarts, 0, 'stopped starts are not failed starts');
  t.equal(hosts[2].terminated && hosts[3].terminated, true);
  t.equal(used(), 1, 'each stopped replica gave back its share, once');
});

t.test('a failed start is counted, said, and tried again after a back-off', async (t) => {
  const behaviours: StartBehaviour[] = ['fail', 'fail'];
  const { set, told, used } = setUp(t, { autoscaling: { minReplicas: 1, maxReplicas: 1 } }, { start: () => behaviours.shift() ?? 'ready' });
  const err = await set.start(1).then(
    () => null,
    (e: Error) => e,
  );
  t.type(err, ReplicaStartFailedError);
  t.match(err!.message, /^replica of d failed to start: fake host 1 cannot load the model$/);
  t.equal(set.failedStarts, 1);
  t.equal(set.lastStartError, 'replica of d failed to start: fake host 1 cannot load the model', 'what status shows');
  t.equal(told.noReplica.length, 1, 'the pool hears that no replica runs');
  t.equal(used(), 0, 'the failed replica gave its share back');
  const began = Date.now();
  set.scaleTo(1);
  t.ok(await waitFor(() => set.failedStarts === 2), 'the second start fails too');
  t.ok(await waitFor(() => set.count('ready') === 1), 'and the third, after a back-off, works');
  t.ok(Date.now() - began >= RESTART_BACKOFF_MS, `not before the back-off (${RESTART_BACKOFF_MS} ms)`);
  t.equal(set.failedStarts, 0, 'a start that works resets the count');
  t.equal(used(), 1);
});

t.test("a dead replica's calls go back to the pool, and its replacement takes over its share", async (t) => {
  const { set, hosts, told, used, node } = setUp(t, { numReplicas: 1 }, { cpus: 1, answerAtOnce: false });
  await set.start(1);
  let woken = 0;
  node.onRelease(() => woken++);
  const held = [call(), call()];
  for (const { c } of held) set.replicas[0].assign(c);
  set.kill(set.replicas[0].id);
  t.ok(await waitFor(() => set.count('ready') === 1 && hosts.length === 2), 'replaced');
  t.equal(set.restarts, 1);
  t.equal(told.orphaned.length, 1);
  t.same(told.orphaned[0].orphans, held.map((h) => h.c), 'every call it held is handed back, none answered');
  t.equal(told.orphaned[0].reason, 'killed');
  t.same(held.map((h) => h.outcome), [{}, {}]);
  t.equal(used(), 1);
  t.equal(woken, 0, 'the share went straight to the replacement, never back to the node');
  t.equal(set.kill('no-such-replica'), false);
});

t.test('a replica that dies while draining hands its calls back and gives its share back once, unreplaced', async (t) => {
  const { set, hosts, used, told } = setUp(t, { numReplicas: 2 }, { answerAtOnce: false });
  await set.start(2);
  const draining = set.replicas[0];
  const held = call();
  draining.assign(held.c);
  set.scaleTo(0);
  t.ok(await waitFor(() => set.replicas.length === 1), 'the idle replica stopped');
  t.equal(draining.state, 'stopping', 'the busy one drains its call');
  t.equal(used(), 1);
  draining.kill();
  t.ok(await waitFor(() => told.orphaned.length === 1));
  t.same(told.orphaned[0].orphans, [held.c], 'its call goes back for a retry');
  t.ok(await waitFor(() => set.replicas.length === 0));
  t.equal(used(), 0, 'its share came back once: the node is empty, not below');
  t.equal(hosts.length, 2, 'nothing replaced it: it was not wanted');
  t.ok(set.reserveFirst(), 'a full share is free again');
  t.equal(used(), 1);
});

t.test('the first replica is reserved ahead, once, and given back if the set closes unused', async (t) => {
  const { set, used } = setUp(t, { numReplicas: 1 }, { cpus: 1 });
  t.equal(set.reserveFirst(), true);
  t.equal(set.reserveFirst(), true, 'asking twice holds one share');
  t.equal(used(), 1);
  set.close();
  t.equal(used(), 0, 'close gives the share held ahead back');
  t.equal(set.reserveFirst(), false, 'a closed set reserves nothing');
  t.equal(used(), 0);
});

t.test('the share reserved ahead is the one the first replica uses', async (t) => {
  const { set, used, node } = setUp(t, { numReplicas: 1 }, { cpus: 1 });
  set.reserveFirst();
  await set.start(1);
  t.equal(set.count('ready'), 1);
  t.equal(used(), 1, 'not two');
  t.equal(node.lease({ cpus: 1, gpus: 0 }), null);
});

t.test('a start that finds no room names what each replica asks and the setting to change', async (t) => {
  const { set, node } = setUp(t, { numReplicas: 1, resources: { cpus: 1.5 } }, { cpus: 2 });
  node.tryReserve({ cpus: 1, gpus: 0 });
  const err = await set.start(1).then(
    () => null,
    (e: Error) => e,
  );
  t.equal(
    err?.message,
    'replica of d failed to start: none of its 1 initial replicas fits on the node (each reserves 1.5 cpus and 0 gpus; ' +
      'the node has 1 of 2 cpus and 0 of 0 gpus free): lower deployments[0].resources.cpus or raise node.cpus',
  );
  t.equal(set.pending, 1);
});

t.test('stop answers every held call with its error, stops every replica, and gives everything back', async (t) => {
  const { set, hosts, used, told } = setUp(t, { numReplicas: 2 }, { answerAtOnce: false });
  await set.start(2);
  const calls = [call(), call(), call()];
  set.replicas[0].assign(calls[0].c);
  set.replicas[0].assign(calls[1].c);
  set.replicas[1].assign(calls[2].c);
  const err = new Error('shutting down');
  await set.stop(err);
  t.same(calls.map((c) => c.outcome.error), [err, err, err]);
  t.equal(hosts.every((h) => h.terminated), true);
  t.equal(used(), 0);
  t.same(told.orphaned, [], 'nothing handed back for retry');
  set.scaleTo(2);
  t.equal(hosts.length, 2, 'a stopped set starts nothing');
});

t.test('a replica that dies after the set closed gives its share back and its calls to the pool', async (t) => {
  const { set, hosts, used, told } = setUp(t, { numReplicas: 1 }, { cpus: 1, answerAtOnce: false });
  await set.start(1);
  const held = call();
  set.replicas[0].assign(held.c);
  set.close();
  set.kill(set.replicas[0].id);
  t.ok(await waitFor(() => told.orphaned.length === 1));
  t.same(told.orphaned[0].orphans, [held.c]);
  t.equal(set.restarts, 0, 'not a restart');
  t.equal(hosts.length, 1, 'not replaced');
  t.equal(used(), 0);
});
