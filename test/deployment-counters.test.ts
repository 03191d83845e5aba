import { Worker } from 'node:worker_threads';
import t from 'tap';
import { DeploymentCounters, SlotState } from '../replicas/index.js';

t.test('a place is claimed only below the bound and only while the replica is ready', async (t) => {
  const c = new DeploymentCounters(2);
  c.reset(0, SlotState.STARTING);
  t.equal(c.tryClaim(0, 2), false, 'a starting replica takes nothing');
  t.equal(c.inFlight(0), 0, 'and the failed claim left no trace');
  c.setState(0, SlotState.READY);
  t.equal(c.tryClaim(0, 2), true);
  t.equal(c.tryClaim(0, 2), true);
  t.equal(c.tryClaim(0, 2), false, 'full at maxOngoing');
  t.equal(c.inFlight(0), 2);
  c.setState(0, SlotState.DRAINING);
  c.release(0, 1);
  t.equal(c.tryClaim(0, 2), false, 'a draining replica takes nothing, even with room');
  t.equal(c.inFlight(0), 1);
});

t.test('the queue admits up to its bound, and counts retries past it', async (t) => {
  const c = new DeploymentCounters(1);
  t.equal(c.tryQueue(2), true);
  t.equal(c.tryQueue(2), true);
  t.equal(c.tryQueue(2), false);
  t.equal(c.queued, 2, 'a refused call leaves no trace');
  c.forceQueue(3);
  t.equal(c.queued, 5);
  c.unqueue(5);
  t.equal(c.queued, 0);
});

t.test('a wake reaches a router waiting in another thread, and only when a call waits', async (t) => {
  const c = new DeploymentCounters(1);
  const before = c.wakeSeq;
  c.wake();
  t.equal(c.wakeSeq, before, 'no call queued: no wake');
  c.forceQueue(1);
  const waiter = new Worker(
    // A plain thread waiting on the wake cell (Int32 index 1 of the header), as a router's waitAsync does.
    `const { workerData, parentPort } = require('node:worker_threads');
     const ints = new Int32Array(workerData.buffer, 0, 4);
     parentPort.postMessage('waiting');
     parentPort.postMessage(Atomics.wait(ints, 1, workerData.seen, 5000));`,
    { eval: true, workerData: { buffer: c.buffer, seen: c.wakeSeq } },
  );
  const said: string[] = [];
  const done = new Promise<void>((resolve) => waiter.on('message', (m: string) => (said.push(m), said.length === 2 && resolve())));
  await new Promise((r) => setTimeout(r, 50));
  c.wake();
  await done;
  await waiter.terminate();
  // 'not-equal': the wake came between its message and its wait, and the wait saw it at once; either way, not a timeout.
  t.ok(['ok', 'not-equal'].includes(said[1]), `woken, not timed out (${said[1]})`);
  const seen = c.wakeSeq;
  c.wake();
  const began = performance.now();
  await c.waitForWake(seen, 5000);
  t.ok(performance.now() - began < 1000, 'a wake that came first is not waited for');
});

t.test('batch figures: the slowest batch, totals, and batches merged from several ingresses', async (t) => {
  const c = new DeploymentCounters(1);
  c.reset(0, SlotState.READY);
  c.batchStarted(0, 1000);
  t.equal(c.busySince(0), 1000);
  c.batchFinished(0, 3, 5, 2);
  c.batchFinished(0, 8, 2, 1);
  t.equal(c.busySince(0), 0, 'idle again');
  t.equal(c.slowestBatchMs(0), 5);
  t.same(c.batchTotals(0), { batches: 2, rows: 11, maxBatchRows: 8, mergedBatches: 1 });
  c.reset(0, SlotState.STARTING);
  t.same(c.batchTotals(0), { batches: 0, rows: 0, maxBatchRows: 0, mergedBatches: 0 }, 'a new replica in the slot starts from nothing');
});
