import { mock } from 'node:test';
import t from 'tap';
import { BatchQueue, type Batchable } from '../replicas/index.js';

interface Item extends Batchable {
  id: string;
}

let clock = 0;
const item = (id: string, rows = 1, batchKey = 'a'): Item => ({ id, rows, batchKey, enqueuedAt: clock });

function setup(maxBatchSize: number, batchWaitTimeoutMs: number) {
  const flushed: string[][] = [];
  const q = new BatchQueue<Item>({ maxBatchSize, batchWaitTimeoutMs, now: () => clock }, (batch) =>
    flushed.push(batch.map((i) => i.id)),
  );
  return { q, flushed };
}

t.beforeEach(() => {
  clock = 0;
  mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
});
t.afterEach(() => mock.timers.reset());

const tick = (ms = 0) => {
  clock += ms;
  mock.timers.tick(ms);
};

t.test('items put in the same turn go out together on the next turn', async (t) => {
  const { q, flushed } = setup(8, 0);
  q.put(item('a'));
  q.put(item('b'));
  q.put(item('c'));
  t.same(flushed, [], 'nothing flushed synchronously');
  tick();
  t.same(flushed, [['a', 'b', 'c']]);
});

t.test('while busy, items accumulate; markIdle flushes them as one batch', async (t) => {
  const { q, flushed } = setup(8, 0);
  q.put(item('a'));
  tick();
  q.put(item('b'));
  q.put(item('c'));
  tick(50);
  t.same(flushed, [['a']], 'busy replica gets nothing new');
  q.markIdle();
  t.same(flushed, [['a'], ['b', 'c']], 'what waited goes out at once when the replica is free');
});

t.test('a batch stops at maxBatchSize rows; an oversized item goes alone', async (t) => {
  const { q, flushed } = setup(4, 0);
  for (const [id, rows] of [['a', 2], ['b', 2], ['c', 1], ['big', 9], ['d', 1]] as const) q.put(item(id, rows));
  tick();
  q.markIdle();
  tick();
  q.markIdle();
  tick();
  t.same(flushed, [['a', 'b'], ['c', 'd'], ['big']]);
});

t.test('items with different shapes do not share a batch', async (t) => {
  const { q, flushed } = setup(8, 0);
  q.put(item('a1', 1, 'a'));
  q.put(item('b1', 1, 'b'));
  q.put(item('a2', 1, 'a'));
  tick();
  q.markIdle();
  tick();
  t.same(flushed, [['a1', 'a2'], ['b1']]);
});

t.test('a wait timeout holds a partial batch until the oldest item has waited that long', async (t) => {
  const { q, flushed } = setup(4, 10);
  q.put(item('a'));
  tick(4);
  q.put(item('b'));
  tick(5);
  t.same(flushed, [], 'held at 9 ms');
  tick(1);
  t.same(flushed, [['a', 'b']], 'flushed at 10 ms after the oldest arrived');
});

t.test('after a busy period the wait window still holds a partial batch, counted from its oldest item', async (t) => {
  const { q, flushed } = setup(4, 100);
  q.put(item('a'));
  tick(100);
  t.same(flushed, [['a']], 'the first item waited out its window');
  q.put(item('b')); // arrives at 100 ms, while the replica is busy
  tick(30);
  q.markIdle(); // free at 130 ms: b has waited 30 of its 100 ms
  t.same(flushed, [['a']], 'the partial batch is held, not sent at once');
  tick(69);
  t.same(flushed, [['a']], 'still held at 99 ms of waiting');
  tick(1);
  t.same(flushed, [['a'], ['b']], 'sent when the oldest item has waited the window');
});

t.test('after a busy period an item that already waited the window goes at once', async (t) => {
  const { q, flushed } = setup(4, 100);
  q.put(item('a'));
  tick(100);
  q.put(item('b'));
  tick(150);
  q.markIdle();
  t.same(flushed, [['a'], ['b']], 'b waited 150 ms while the replica was busy');
});

t.test('after a busy period a full batch goes at once, however short its wait', async (t) => {
  const { q, flushed } = setup(2, 100);
  q.put(item('a'));
  tick(100);
  q.put(item('b'));
  q.put(item('c'));
  tick(10);
  q.markIdle(); // b and c have waited 10 of 100 ms, but they fill the batch
  t.same(flushed, [['a'], ['b', 'c']]);
});

t.test('after a busy period an item that waited exactly the window goes at once', async (t) => {
  const { q, flushed } = setup(4, 100);
  q.put(item('a'));
  tick(100);
  q.put(item('b'));
  tick(100);
  q.markIdle();
  t.same(flushed, [['a'], ['b']], 'sent on the spot, not on a timer');
});

t.test('a wait timeout ends early when the batch fills', async (t) => {
  const { q, flushed } = setup(3, 1000);
  q.put(item('a'));
  q.put(item('b', 2));
  tick();
  t.same(flushed, [['a', 'b']]);
});

t.test('remove and drain take items out before they are flushed', async (t) => {
  const { q, flushed } = setup(8, 5);
  const a = item('a');
  q.put(a);
  q.put(item('b'));
  t.ok(q.remove(a));
  t.notOk(q.remove(a), 'gone already');
  t.same(q.drain().map((i) => i.id), ['b']);
  tick(10);
  t.same(flushed, [], 'nothing left to flush');
  t.equal(q.length, 0);
});

t.test("items put back go out first, each alone under a key of its own, and can still be removed", async (t) => {
  const { q, flushed } = setup(8, 0);
  q.put(item('a'));
  q.put(item('b'));
  tick();
  q.put(item('later'));
  // The batch [a, b] failed: each goes back alone, ahead of what arrived meanwhile.
  const [a, b] = [item('a', 1, 'alone#1'), item('b', 1, 'alone#2')];
  q.putBack([a, b]);
  t.ok(q.remove(b), 'a call put back can be cancelled');
  q.markIdle();
  q.markIdle();
  tick();
  t.same(flushed, [['a', 'b'], ['a'], ['later']]);
});
