/*
 * `npm run bench -- distributed [seconds]`: Ferry over Redis against Ferry on
 * one machine, on this one machine, with the same MLP load (single-row JSON):
 *   - throughput flat out (64 connections) and p50 at light load (one client,
 *     one request at a time): embedded vs Redis + gateway + one node, with
 *     the ratio and the p50 added;
 *   - the transport itself, without HTTP: a call's round trip from a
 *     gateway to a node and back, one at a time and 64 at once, over Ferry's
 *     direct connection (Redis for membership only) against a BullMQ job per
 *     batch (tensors base64 in the job's JSON, results back through Redis);
 *   - what a tensor costs to carry: base64 inside JSON against V8's bytes.
 * One run, one machine: compare the rows, not the absolute numbers.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { ClusterGateway } from '../cluster/cluster-gateway.js';
import { frame, FrameReader } from '../cluster/wire.js';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import type { TensorMap } from '../replicas/index.js';
import { measure, startChild, stopChild } from './bench-kit.js';
import { jsonRequest } from './payloads.js';

const SECONDS = Number(process.argv[3] ?? 8);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
redis.on('error', () => {
  console.error("bench distributed needs redis-server: install Debian's redis-server package (apt-get install redis-server)");
  process.exit(1);
});
await new Promise((r) => setTimeout(r, 300));
const redisUrl = `redis://127.0.0.1:${port}`;

const body = jsonRequest(1);
const headers = { 'content-type': 'application/json' };

/** p50 (ms) of `n` requests sent one at a time. */
async function lightP50(url: string, n = 400): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await (await fetch(url, { method: 'POST', headers, body })).arrayBuffer();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(n / 2)];
}

const percentile = (xs: number[], q: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** Sequential p50 and concurrent calls/s of `call`. */
async function transport(call: () => Promise<unknown>, seconds: number): Promise<{ p50: number; rps: number }> {
  for (let i = 0; i < 50; i++) await call();
  const one: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    await call();
    one.push(performance.now() - t0);
  }
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return { p50: percentile(one, 0.5), rps: done / seconds };
}

console.log(`\nFerry bench — distributed, ${SECONDS} s per measure, single-row JSON to the MLP, one replica, one machine`);

// 1. HTTP end to end: embedded against Redis + gateway + node.
const embedded = await startChild('distributed-server', ['embedded']);
const es = await measure({ url: `${embedded.url}/v2/models/mlp/infer`, body, headers, connections: 64 }, SECONDS);
const e = { rps: es.requests / es.seconds, p50: es.p50 };
const eP50 = await lightP50(`${embedded.url}/v2/models/mlp/infer`);
await stopChild(embedded);
const node = await startChild('distributed-server', ['node', redisUrl]);
const gateway = await startChild('distributed-server', ['gateway', redisUrl]);
const cs = await measure({ url: `${gateway.url}/v2/models/mlp/infer`, body, headers, connections: 64 }, SECONDS);
const c = { rps: cs.requests / cs.seconds, p50: cs.p50 };
const cP50 = await lightP50(`${gateway.url}/v2/models/mlp/infer`);
await stopChild(gateway);
console.log(`${'setup'.padEnd(34)} ${'req/s'.padStart(8)} ${'p50 at 64 conn'.padStart(15)} ${'p50 light'.padStart(10)}`);
console.log(`${'embedded (one process)'.padEnd(34)} ${e.rps.toFixed(0).padStart(8)} ${`${e.p50.toFixed(2)} ms`.padStart(15)} ${`${eP50.toFixed(2)} ms`.padStart(10)}`);
console.log(`${'Redis + gateway + node'.padEnd(34)} ${c.rps.toFixed(0).padStart(8)} ${`${c.p50.toFixed(2)} ms`.padStart(15)} ${`${cP50.toFixed(2)} ms`.padStart(10)}`);
console.log(`throughput ratio ${(c.rps / e.rps).toFixed(2)} (target ≥ 0.5); p50 added at light load ${(cP50 - eP50).toFixed(2)} ms (target ≤ 2 ms)`);

// 2. The transport without HTTP: a handle call through a gateway's remote pool, against a BullMQ job per batch.
const input = new Float32Array(784).fill(0.5);
const x: TensorMap = { input: { dtype: 'float32', dims: [1, 784], data: input } };
const direct = await FerryServer.start(validateConfig({ http: { port: 0 }, node: { cpus: 1 }, deployments: [{ name: 'mlp', model: './mlp.onnx', maxOngoingRequests: 256, maxQueuedRequests: 4096 }] }, modelPath('bench.config.ts')), {
  cluster: new ClusterGateway({ redisUrl }),
});
const handle = direct.handle('mlp');
const d = await transport(() => handle.infer(x), SECONDS);
await direct.close(1000);
await stopChild(node);

const worker = await startChild('distributed-server', ['bullmq-worker', redisUrl]);
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const queue = new Queue('bench-batches', { connection });
const events = new QueueEvents('bench-batches', { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }) });
await events.waitUntilReady();
// Each waiting job listens on the one QueueEvents: 64 at once is what this bench means to do.
events.setMaxListeners(256);
queue.setMaxListeners(256);
const b64 = Buffer.from(input.buffer).toString('base64');
const b = await transport(async () => {
  const job = await queue.add('batch', { rows: 1, input: b64 }, { removeOnComplete: { age: 30 }, removeOnFail: { age: 30 } });
  await job.waitUntilFinished(events);
}, SECONDS);
await stopChild(worker);
console.log(`\ntransport, gateway → node → gateway, no HTTP`);
console.log(`${'direct connection (Ferry\'s)'.padEnd(34)} p50 one at a time ${d.p50.toFixed(2)} ms, ${d.rps.toFixed(0)} calls/s with 64 in flight`);
console.log(`${'BullMQ job per batch'.padEnd(34)} p50 one at a time ${b.p50.toFixed(2)} ms, ${b.rps.toFixed(0)} calls/s with 64 in flight`);

// 3. Carrying a tensor: base64 inside JSON against V8's serialization (what the direct connection frames).
for (const rows of [1, 64]) {
  const t = new Float32Array(rows * 784).fill(0.25);
  const n = 2000;
  let t0 = performance.now();
  let jsonBytes = 0;
  for (let i = 0; i < n; i++) {
    const text = JSON.stringify({ rows, input: Buffer.from(t.buffer).toString('base64') });
    jsonBytes = text.length;
    const back = Buffer.from((JSON.parse(text) as { input: string }).input, 'base64');
    if (back.length !== t.byteLength) throw new Error('lost bytes');
  }
  const jsonUs = ((performance.now() - t0) / n) * 1000;
  const reader = new FrameReader();
  t0 = performance.now();
  let v8Bytes = 0;
  for (let i = 0; i < n; i++) {
    const f = frame({ rows, input: t });
    v8Bytes = f.length;
    const [back] = reader.push(f) as { input: Float32Array }[];
    if (back.input.length !== t.length) throw new Error('lost elements');
  }
  const v8Us = ((performance.now() - t0) / n) * 1000;
  console.log(`${`${rows}-row tensor (${t.byteLength} B)`.padEnd(34)} base64 in JSON ${jsonBytes} B, ${jsonUs.toFixed(1)} µs there and back; V8 bytes ${v8Bytes} B, ${v8Us.toFixed(1)} µs`);
}
await queue.close();
await events.close();
connection.disconnect();
redis.kill();
process.exit(0);
