import t from 'tap';
import { NodeResources, UNBUDGETED } from '../replicas/node-resources.js';

t.test('a reservation fits exactly up to the node, and nothing is taken when it does not', async (t) => {
  const node = new NodeResources(2, 1);
  t.ok(node.tryReserve({ cpus: 1.5, gpus: 1 }));
  t.notOk(node.tryReserve({ cpus: 0.6, gpus: 0 }), 'past the cpus');
  t.notOk(node.tryReserve({ cpus: 0, gpus: 1 }), 'past the gpus');
  t.same(node.usage(), { cpus: 2, gpus: 1, usedCpus: 1.5, usedGpus: 1 }, 'the refusals reserved nothing');
  t.ok(node.tryReserve({ cpus: 0.5, gpus: 0 }), 'an exact fit');
  t.notOk(node.tryReserve({ cpus: 0.000001, gpus: 0 }), 'a full node takes nothing more');
});

t.test('sums of fractions fit exactly: ten tenths of a core fill one core', async (t) => {
  const node = new NodeResources(1, 0);
  for (let i = 0; i < 10; i++) t.ok(node.tryReserve({ cpus: 0.1, gpus: 0 }), `tenth ${i + 1}`);
  t.notOk(node.tryReserve({ cpus: 0.1, gpus: 0 }), 'an eleventh does not');
  t.equal(node.usage().usedCpus, 1, 'usage reads 1, not 0.9999999999999999');
  const thirds = new NodeResources(2, 0);
  for (let i = 0; i < 6; i++) thirds.tryReserve({ cpus: 1 / 3, gpus: 0 });
  t.equal(thirds.usage().usedCpus, 2);
});

t.test('a lease gives its reservation back once, however often it is released', async (t) => {
  const node = new NodeResources(2, 0);
  const a = node.lease({ cpus: 1, gpus: 0 });
  const b = node.lease({ cpus: 1, gpus: 0 });
  t.ok(a && b);
  t.equal(node.lease({ cpus: 1, gpus: 0 }), null, 'a third does not fit, and is not taken');
  a!.release();
  a!.release();
  t.equal(node.usage().usedCpus, 1, "b's share is still held after a's second release");
  const c = node.lease({ cpus: 1, gpus: 0 });
  t.ok(c, "a's room is free again");
  t.equal(node.lease({ cpus: 0.5, gpus: 0 }), null, 'and only that room');
});

t.test('releases tell every listener, until it stops listening', async (t) => {
  const node = new NodeResources(1, 1);
  const heard: string[] = [];
  const stopA = node.onRelease(() => heard.push('a'));
  node.onRelease(() => heard.push('b'));
  const lease = node.lease({ cpus: 1, gpus: 1 })!;
  t.same(heard, [], 'taking tells no one');
  lease.release();
  t.same(heard, ['a', 'b']);
  lease.release();
  t.same(heard, ['a', 'b'], 'a lease released twice tells no one twice');
  stopA();
  node.release({ cpus: 0, gpus: 0 });
  t.same(heard, ['a', 'b', 'b']);
  t.same(node.usage(), { cpus: 1, gpus: 1, usedCpus: 0, usedGpus: 0 });
});

t.test('a release past what is held cannot make room that is not there', async (t) => {
  const node = new NodeResources(1, 1);
  node.release({ cpus: 1, gpus: 1 });
  t.same(node.usage(), { cpus: 1, gpus: 1, usedCpus: 0, usedGpus: 0 }, 'usage never goes below zero');
  t.ok(node.tryReserve({ cpus: 1, gpus: 1 }));
  t.notOk(node.tryReserve({ cpus: 0.5, gpus: 0 }), 'the node holds no more than its size');
});

t.test('the unbudgeted hold takes and gives back nothing', async (t) => {
  const node = new NodeResources(1, 0);
  let told = 0;
  node.onRelease(() => told++);
  t.ok(node.tryReserve({ cpus: 1, gpus: 0 }));
  UNBUDGETED.release();
  t.equal(node.usage().usedCpus, 1);
  t.equal(told, 0);
  t.ok(Object.isFrozen(UNBUDGETED), 'no one can swap its release for a real one');
});

t.test('a config update borrows the room old replicas give back, and a lease shrinks to a new share', async (t) => {
  const node = new NodeResources(2, 0);
  const a = node.lease({ cpus: 1, gpus: 0 })!;
  const b = node.lease({ cpus: 1, gpus: 0 })!;
  t.equal(node.lease({ cpus: 1, gpus: 0 }), null, 'full');
  const giveBack = node.lend({ cpus: 1, gpus: 0 });
  const c = node.lease({ cpus: 1, gpus: 0 });
  t.ok(c, 'a new replica starts beside the one it replaces, on what is lent');
  a.release();
  giveBack();
  giveBack();
  t.same(node.usage(), { cpus: 2, gpus: 0, usedCpus: 2, usedGpus: 0 }, 'the old one drained: the node holds what it has, once');
  let released = 0;
  node.onRelease(() => released++);
  b.shrink({ cpus: 0.5, gpus: 0 });
  t.equal(node.usage().usedCpus, 1.5, 'a smaller share gives back the difference at once');
  t.equal(released, 1, 'and tells the pools');
  b.shrink({ cpus: 0.75, gpus: 0 });
  t.equal(node.usage().usedCpus, 1.5, 'a lease never grows');
  b.release();
  t.equal(node.usage().usedCpus, 1, 'and gives back what it holds now');
  b.shrink({ cpus: 0, gpus: 0 });
  t.equal(node.usage().usedCpus, 1, 'a released lease gives nothing more');
});
