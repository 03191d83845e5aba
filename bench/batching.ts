/*
 * `npm run bench -- batching [seconds per step]`: adaptive batching
 * (batching.targetLatencyMs: 50) against a fixed 10 ms window and no window,
 * under a load ramp. At each offered rate (requests/s, single-row JSON to the
 * MLP, sent evenly in an open loop), the three deployments take turns; each
 * line gives the throughput served, p50 and p99 as the client saw them, and
 * the average batch its replica ran. One run, one machine: compare the rows
 * of one step, not the absolute numbers.
 */
import { averageBatch, poolStats, startChild, stopChild } from './bench-kit.js';
import { jsonRequest } from './payloads.js';
import { steadyLoad } from './steady-load.js';

const SECONDS = Number(process.argv[3] ?? 5);
const RATES = [100, 500, 2000, 5000];
const NAMES = ['adaptive', 'fixed-10ms', 'no-window'];
const server = await startChild('batching-server');
const body = jsonRequest(1);
const headers = { 'content-type': 'application/json' };
const url = (name: string) => `${server.url}/v2/models/${name}/infer`;

// Warm-up: every deployment learns its batch cost before the ramp.
for (const name of NAMES) await steadyLoad(url(name), body, headers, 500, 2);
console.log(`\nFerry bench — batching under a load ramp, ${SECONDS} s per deployment and rate, single-row JSON to the MLP, one replica each`);
console.log(`${'offered'.padStart(8)}  ${'deployment'.padEnd(11)} ${'served'.padStart(9)}   ${'p50'.padStart(8)}   ${'p99'.padStart(8)}   avg batch`);
for (const rate of RATES) {
  for (const name of NAMES) {
    const i = NAMES.indexOf(name);
    const before = (await poolStats(server))[i];
    const r = await steadyLoad(url(name), body, headers, rate, SECONDS);
    const after = (await poolStats(server))[i];
    console.log(
      `${String(rate).padStart(8)}  ${name.padEnd(11)} ${r.rps.toFixed(0).padStart(5)} req/s   ${r.p50.toFixed(2).padStart(6)} ms   ${r.p99.toFixed(2).padStart(6)} ms   ${averageBatch(before, after)
        .toFixed(1)
        .padStart(5)}${r.failures ? `   (${r.failures} failed)` : ''}`,
    );
  }
}
await stopChild(server);
