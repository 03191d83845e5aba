/*
 * `npm run bench -- autoscale`: a step from light load to saturation on an
 * autoscaling MLP deployment (1..2 replicas). Prints the time from the step
 * to the new replica serving, p99 latency before, during and after, and the
 * replica cold start (thread + MLP session ready).
 */
import { jsonRequest } from './payloads.js';
import { poolStats, runLoad, startChild, stopChild, type HttpLoad } from './bench-kit.js';

const server = await startChild('autoscale-server');
const url = `${server.url}/v2/models/mlp/infer`;
const load = (connections: number): HttpLoad => ({ url, body: jsonRequest(1), headers: { 'content-type': 'application/json' }, connections });

await runLoad(load(2), 2); // warm-up
const before = await runLoad(load(2), 5);

// Step: saturate, and watch for the second replica from another timer.
const stepAt = performance.now();
let servingAt: number | null = null;
const watcher = setInterval(async () => {
  if (servingAt !== null) return;
  const [pool] = await poolStats(server);
  if (pool.replicas.some((r) => r.id !== 'mlp#1' && r.state === 'ready' && r.batches > 0)) servingAt = performance.now();
}, 20);
const during = await runLoad(load(64), 4);
const after = await runLoad(load(64), 6);
clearInterval(watcher);
const [pool] = await poolStats(server);
await stopChild(server);

const second = pool.replicas.find((r) => r.id !== 'mlp#1');
const p = (r: { latency: { p50: number; p99: number }; requests: { average: number } }) =>
  `p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   ${r.requests.average.toFixed(0).padStart(6)} req/s`;
console.log('\nFerry autoscale bench — MLP, 1..2 replicas, targetOngoingRequests 16, upscaleDelayMs 500, one run');
console.log(`before the step (2 connections)            ${p(before)}`);
console.log(`first 4 s of saturation (64 connections)   ${p(during)}`);
console.log(`next 6 s, scaled (64 connections)          ${p(after)}`);
console.log(`step → second replica serving:             ${servingAt === null ? 'never' : `${((servingAt - stepAt) / 1000).toFixed(2)} s`} (includes the 0.5 s upscale delay and the look-back)`);
console.log(`replica cold start (thread + MLP session):  first ${pool.replicas.find((r) => r.id === 'mlp#1')?.startMs ?? '?'} ms, scaled-up ${second?.startMs ?? '?'} ms (target < 250 ms)`);
console.log(`replicas at the end: ${pool.replicas.map((r) => `${r.id} ${r.state} (${r.batches} batches)`).join(', ')}`);
