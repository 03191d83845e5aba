import t, { type Test } from 'tap';
import { RESTART_BACKOFF_MS } from '../constants.js';
import { validateConfig, type DeploymentConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { DeploymentCounters } from '../replicas/deployment-counters.js';
import { DeploymentModel } from '../replicas/deployment-model.js';
import { NodeResources } from '../replicas/node-resources.js';
import { ReplicaStartFailedError } from '../replicas/pool-errors.js';
import type { Replica } from '../replicas/replica.js';
import { ReplicaSet, restartBackoffMs } from '../replicas/replica-set.js';
import { fakeHosts, type StartBehaviour } from './helpers/fake-host.js';
import { waitFor } from './helpers/ferry.js';


/** A replica set over in-thread fake hosts, on a node of `cpus`, with what it told its pool. */
function setUp(
  t: Test,
  deployment: Partial<DeploymentConfig>,
  opts: { cpus?: number; gpus?: number; start?: () => StartBehaviour; answerAtOnce?: boolean; configIndex?: number | null } = {},
) {
  const cpus = opts.cpus ?? 2;
  const gpus = opts.gpus ?? 0;
  const [config] = validateConfig(
    { node: { cpus, gpus }, deployments: [{ name: 'd', model: './mlp.onnx', resources: { cpus: 1 }, ...deployment }] },
    modelPath('x.ts'),
  ).deployments;
  const node = new NodeResources(cpus, gpus);
  const { factory, hosts } = fakeHosts(opts.start, opts.answerAtOnce ?? true);
  const told = {
    ready: 0,
    gone: [] as { id: string; reason: string }[],
    noReplica: [] as Error[],
    lost: [] as string[],
  };
  const counters = new DeploymentCounters(8);
  const set = new ReplicaSet({
    observer: {
      replicaLost: (deployment, id, cause, reason) => told.lost.push(`${deployment} ${id} ${cause}: ${reason}`),
    },
    config,
    hostFactory: factory,
    resources: node,
    model: new DeploymentModel(config.name, config.batching),
    counters,
    events: {
      ready: () => told.ready++,
      // As the pool does once every ingress has let go of the replica.
      gone: (r, reason) => (told.gone.push({ id: r.id, reason }), set.releaseSlot(r.slot)),
      noReplica: (err) => told.noReplica.push(err),
    },
    configIndex: opts.configIndex === undefined ? 0 : opts.configIndex,
  });
  t.teardown(() => set.stop());
  const used = () => node.usage().usedCpus;
  const states = () => set.replicas.map((r) => r.state);
  /** An ingress's router sending the replica a call: one place taken in its slot, as the set reads it. */
  const hold = (r: Replica) => t.ok(counters.tryClaim(r.slot, 100), `a call sent to ${r.id}`);
  /** The answer reaching the ingress: the place given back. */
  const answer = (r: Replica) => counters.release(r.slot, 1);
  return { set, hosts, told, node, used, states, hold, answer, counters };
}

t.test('the initial replicas start within the node; the rest wait as pending and start when room frees', async (t) => {
  const { set, node, used, told } = setUp(t, { numReplicas: 3 }, { cpus: 3 });
  const other = node.lease({ cpus: 1, gpus: 0 })!;
  await set.start(3);
  t.equal(set.count('ready'), 2);
  t.equal(set.pending, 1);
  t.equal(used(), 3);
  t.equal(told.ready, 2, 'each ready replica told the pool');
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
  t.same(told.lost, [], 'the probe stopped as planned: nothing lost');
});

t.test('scaling down stops replicas still starting first, then the ready ones holding fewest calls', async (t) => {
  const behaviours: StartBehaviour[] = ['ready', 'ready', 'hold', 'hold'];
  const { set, hosts, used, hold } = setUp(t, { numReplicas: 2 }, { cpus: 4, start: () => behaviours.shift() ?? 'ready', answerAtOnce: false });
  await set.start(2);
  const [busy, idle] = set.replicas;
  hold(busy);
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

t.test('a dead replica is reported gone with its reason, and its replacement takes over its share', async (t) => {
  const { set, hosts, told, used, node, hold } = setUp(t, { numReplicas: 1 }, { cpus: 1, answerAtOnce: false });
  await set.start(1);
  let woken = 0;
  node.onRelease(() => woken++);
  const dead = set.replicas[0];
  hold(dead);
  hold(dead);
  set.kill(dead.id);
  t.ok(await waitFor(() => set.count('ready') === 1 && hosts.length === 2), 'replaced');
  t.equal(set.restarts, 1);
  t.same(told.gone, [{ id: 'd#1', reason: 'killed' }], 'the pool hears, so the ingresses retry what it held');
  t.equal(dead.ongoing, 0, 'a dead replica holds nothing: its calls are the ingresses\' to retry');
  t.equal(set.ongoing, 0);
  t.not(set.replicas[0].slot, undefined);
  t.equal(used(), 1);
  t.equal(woken, 0, 'the share went straight to the replacement, never back to the node');
  t.equal(set.kill('no-such-replica'), false);
});

t.test('a replica that dies while draining is reported gone and gives its share back once, unreplaced', async (t) => {
  const { set, hosts, used, told, hold } = setUp(t, { numReplicas: 2 }, { answerAtOnce: false });
  await set.start(2);
  const draining = set.replicas[0];
  hold(draining);
  set.scaleTo(0);
  t.ok(await waitFor(() => set.replicas.length === 1), 'the idle replica stopped');
  t.equal(draining.state, 'stopping', 'the busy one drains its call');
  t.equal(used(), 1);
  draining.kill();
  t.ok(await waitFor(() => told.gone.some((g) => g.reason === 'killed')));
  t.same(told.gone, [{ id: 'd#2', reason: 'stopped' }, { id: 'd#1', reason: 'killed' }], 'its call is the ingresses\' to retry');
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

t.test('stop ends every replica without waiting for calls still held, and gives everything back', async (t) => {
  const { set, hosts, used, told, hold } = setUp(t, { numReplicas: 2 }, { answerAtOnce: false });
  await set.start(2);
  hold(set.replicas[0]);
  hold(set.replicas[1]);
  await set.stop();
  t.equal(hosts.every((h) => h.terminated), true);
  t.equal(used(), 0);
  t.same(told.gone.map((g) => g.reason), ['stopped', 'stopped'], 'stopped, not dead: nothing to retry');
  t.same(told.lost, []);
  set.scaleTo(2);
  t.equal(hosts.length, 2, 'a stopped set starts nothing');
});

t.test('a replica that dies after the set closed gives its share back and is reported gone', async (t) => {
  const { set, hosts, used, told, hold } = setUp(t, { numReplicas: 1 }, { cpus: 1, answerAtOnce: false });
  await set.start(1);
  hold(set.replicas[0]);
  set.close();
  set.kill(set.replicas[0].id);
  t.ok(await waitFor(() => told.gone.length === 1));
  t.same(told.gone, [{ id: 'd#1', reason: 'killed' }]);
  t.equal(set.restarts, 0, 'not a restart');
  t.equal(hosts.length, 1, 'not replaced');
  t.equal(used(), 0);
});

t.test('the back-off after failed starts doubles from RESTART_BACKOFF_MS up to 30 s', async (t) => {
  t.equal(RESTART_BACKOFF_MS, 250, 'the default, unless FERRY_RESTART_BACKOFF_MS says otherwise');
  t.same([0, 1, 2, 3, 4, 8].map(restartBackoffMs), [250, 250, 500, 1000, 2000, 30_000]);
});

t.test('what the set says of itself: ids, target, calls held, states', async (t) => {
  const { set, told, hold } = setUp(t, { numReplicas: 2 }, { answerAtOnce: false });
  t.equal(set.lastStartError, '', 'no failure yet');
  await set.start(2);
  t.same(
    set.replicas.map((r) => r.id),
    ['d#1', 'd#2'],
  );
  t.equal(set.targetReplicas, 2);
  t.equal(set.count('starting'), 0);
  t.equal(set.count('ready'), 2);
  hold(set.replicas[0]);
  hold(set.replicas[1]);
  hold(set.replicas[1]);
  t.equal(set.ongoing, 3, 'the calls held over every replica');
  t.equal(set.kill('d#1'), true, 'a replica it has');
  t.ok(await waitFor(() => told.lost.length === 1));
  t.same(told.lost, ['d d#1 crashed: killed'], 'the death is reported with its cause');
  t.ok(await waitFor(() => set.count('ready') === 2));
  t.equal(set.replicas[1].id, 'd#3', 'its replacement has a new id');
});

t.test('a draining replica stops once every call it held is answered, and not before', async (t) => {
  const { set, hosts, hold, answer } = setUp(t, { numReplicas: 1 }, { cpus: 1, answerAtOnce: false });
  await set.start(1);
  const r = set.replicas[0];
  hold(r);
  hold(r);
  set.scaleTo(0);
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.equal(r.state, 'stopping', 'two calls held');
  answer(r);
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.equal(hosts[0].terminated, false, 'one still held');
  answer(r);
  t.ok(await waitFor(() => hosts[0].terminated), 'the last answer lets it stop');
  t.same(set.replicas, []);
});

t.test('a failed start while another replica serves is counted but does not say that none runs', async (t) => {
  const behaviours: StartBehaviour[] = ['ready', 'fail'];
  const { set, told } = setUp(t, { numReplicas: 1 }, { start: () => behaviours.shift() ?? 'hold' });
  await set.start(1);
  set.scaleTo(2);
  t.ok(await waitFor(() => set.failedStarts === 1));
  t.same(told.noReplica, [], 'one replica still serves');
  t.same(told.lost, ['d d#2 start_failed: fake host 2 cannot load the model (next try in 250 ms)'], 'the reason once, and the back-off');
});

t.test('a replacement that fails to start is tried again', async (t) => {
  const behaviours: StartBehaviour[] = ['ready', 'fail'];
  const { set, hosts, used } = setUp(t, { numReplicas: 1 }, { cpus: 1, start: () => behaviours.shift() ?? 'ready' });
  await set.start(1);
  set.kill('d#1');
  t.ok(await waitFor(() => set.failedStarts === 1), 'the replacement fails');
  t.ok(await waitFor(() => set.count('ready') === 1), 'and another, after the back-off, serves');
  t.equal(hosts.length, 3);
  t.equal(used(), 1);
});

t.test('closed during a back-off, or during a start, the set starts nothing more and keeps nothing', async (t) => {
  const { set, hosts, used } = setUp(t, { numReplicas: 2 }, { start: () => 'fail' });
  set.scaleTo(2);
  t.ok(await waitFor(() => set.failedStarts === 2), 'both starts fail: two retries would be due');
  set.close();
  await new Promise((r) => setTimeout(r, 3 * RESTART_BACKOFF_MS));
  t.equal(hosts.length, 2, 'no retry after close');
  t.equal(used(), 0);

  const held = setUp(t, { numReplicas: 1 }, { cpus: 1, start: () => 'hold' });
  held.set.scaleTo(1);
  held.set.close();
  held.hosts[0].finishStart(true);
  t.ok(await waitFor(() => held.hosts[0].terminated), 'a replica that loads after close is stopped');
  t.ok(await waitFor(() => held.set.replicas.length === 0));
  t.equal(held.used(), 0, 'and its share given back');
});

t.test('scaling down by fewer than are starting stops only as many as asked', async (t) => {
  const behaviours: StartBehaviour[] = ['ready'];
  const { set, hosts, used } = setUp(t, { numReplicas: 1 }, { cpus: 4, start: () => behaviours.shift() ?? 'hold' });
  await set.start(1);
  set.scaleTo(4);
  t.equal(set.count('starting'), 3);
  set.scaleTo(2);
  t.equal(set.count('starting'), 1, 'two of the three starts stopped');
  t.equal(set.count('ready'), 1, 'the ready replica kept');
  t.same(
    hosts.map((h) => h.terminated),
    [false, true, true, false],
    'the first starts stopped',
  );
  t.ok(await waitFor(() => used() === 2));
});

t.test('a second scale-down picks among the ready replicas, not the ones already draining', async (t) => {
  const { set, hold } = setUp(t, { numReplicas: 3 }, { cpus: 3, answerAtOnce: false });
  await set.start(3);
  const [a, b, c] = set.replicas;
  hold(a);
  hold(a);
  hold(b);
  set.scaleTo(2);
  t.equal(c.state, 'stopped', 'the idle replica goes first');
  t.ok(set.replicas.includes(c), 'and is still in the set while its host ends');
  set.scaleTo(1);
  t.equal(b.state, 'stopping', 'then the one holding fewer calls');
  t.equal(a.state, 'ready');
});

t.test('a draining replica that dies leaves the others in place', async (t) => {
  const { set, told, used, hold } = setUp(t, { numReplicas: 3 }, { cpus: 3, answerAtOnce: false });
  await set.start(3);
  const [a, b] = set.replicas;
  hold(a);
  hold(b);
  hold(b);
  set.scaleTo(1);
  t.equal(a.state, 'stopping');
  t.equal(set.active(), 1, 'a draining replica does not count toward the target');
  a.kill();
  t.ok(await waitFor(() => told.gone.some((g) => g.id === a.id && g.reason === 'killed') && set.replicas.length === 1));
  t.same(set.replicas, [b], 'the busiest replica still serves');
  t.equal(b.state, 'ready');
  t.equal(used(), 1);
});

t.test('a start that finds no gpu names the gpus, and a set outside a config names the deployment', async (t) => {
  const { set, node } = setUp(t, { numReplicas: 1, resources: { cpus: 0.5, gpus: 1 } }, { cpus: 2, gpus: 1, configIndex: null });
  node.tryReserve({ cpus: 0, gpus: 1 });
  const err = await set.start(1).then(
    () => null,
    (e: Error) => e,
  );
  t.equal(
    err?.message,
    'replica of d failed to start: none of its 1 initial replicas fits on the node (each reserves 0.5 cpus and 1 gpus; ' +
      "the node has 2 of 2 cpus and 0 of 1 gpus free): lower d's resources.gpus or raise node.gpus",
  );
});
