import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { BufferPool } from '../replicas/index.js';

t.test('a shared pool hands out shared memory: a view crosses a channel without a copy', async (t) => {
  const pool = new BufferPool({ shared: true });
  const body = pool.takeBytes(100_000);
  t.ok(body.buffer instanceof SharedArrayBuffer, 'a Buffer over a SharedArrayBuffer');
  t.equal(body.length, 100_000, 'of exactly the bytes asked for');
  const { port1, port2 } = new MessageChannel();
  const arrived = new Promise<Float32Array>((resolve) => port2.once('message', resolve));
  port1.postMessage(new Float32Array(body.buffer, 4096, 4));
  const view = await arrived;
  port1.close();
  body.writeFloatLE(2.5, 4096);
  t.equal(view[0], 2.5, "what the sender writes afterwards, the receiver's view sees: the memory is one");
  t.ok(pool.takeBytes(100) instanceof Buffer && !(pool.takeBytes(100).buffer instanceof SharedArrayBuffer), 'small requests are plain Buffers, not pooled');
});

t.test('a pool keeps what it is given back, within its bounds, and only buffers of its kind', async (t) => {
  const pool = new BufferPool({ shared: true, keepPerClass: 2, maxBytes: 3 * 131072 });
  const taken = [0, 1, 2].map(() => pool.takeBytes(100_000).buffer);
  t.equal(taken[0].byteLength, 131072, 'a power-of-two size class');
  pool.give(new ArrayBuffer(131072));
  t.not(pool.takeBytes(100_000).buffer.constructor, ArrayBuffer, 'a plain ArrayBuffer is not taken into a shared pool');
  for (const b of taken) pool.give(b);
  const again = [0, 1, 2].map(() => pool.takeBytes(120_000).buffer);
  t.equal(again[0], taken[1], 'the last given is taken first');
  t.equal(again[1], taken[0]);
  t.not(again[2], taken[2], 'beyond keepPerClass, a given buffer was left to the GC');

  const bounded = new BufferPool({ maxBytes: 300_000 });
  const big = [0, 1, 2].map(() => bounded.take('float32', 30_000).buffer);
  for (const b of big) bounded.give(b);
  const reused = [0, 1, 2].map(() => bounded.take('float32', 30_000).buffer);
  t.equal(reused.filter((b) => big.includes(b)).length, 2, 'maxBytes bounds what is kept over every class (2 of 131072 bytes fit in 300000)');
  t.notOk(reused[0] instanceof SharedArrayBuffer, 'a default pool allocates ArrayBuffers');
});
