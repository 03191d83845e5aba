/*
 * `npm run bench [-- seconds [ingressThreads]]`: every figure measured in this
 * one run, on this machine, with the servers in their own processes:
 *   - single-row requests: bare Fastify (one thread, and as many reusePort
 *     threads as Ferry's ingress) vs Ferry, JSON and binary tensors;
 *   - the latency Ferry adds at light load (one client, one request at a time);
 *   - 64-row requests, JSON and binary, in rows/s;
 *   - WebSocket throughput over 8 sockets, JSON messages and binary frames
 *     (64-row frames to bare Fastify too);
 *   - raw onnxruntime rows/s with 2 worker threads (the compute limit).
 * Load comes from Debian's wrk where installed (C, one thread: the servers keep
 * the other cores), else from autocannon in this process.
 * Ratios are the figures to compare: absolute numbers depend on the machine.
 */
import { defaultIngressThreads } from '../deployments/index.js';
import { reusePortUnavailable } from '../gateway/index.js';
import { modelPath } from '../models/index.js';
import { alternate, averageBatch, generator, line, poolStats, runLoad, startChild, stopChild, type Child, type HttpLoad } from './bench-kit.js';
import { computeLimit } from './compute-limit.js';
import { binaryHeaders, binaryMessage, binaryRequest, jsonRequest } from './payloads.js';
import { cpuPerRequest, threadCpu } from './thread-cpu.js';
import { wrkCleanup } from './wrk.js';
import { wsLoad } from './ws-load.js';

// `npm run bench -- <name>` runs one of the scenario benches instead.
const SCENARIOS = ['autoscale', 'batching', 'dashboard', 'distributed', 'handles', 'kill', 'overload', 'shutdown', 'slow-senders', 'threads', 'update'];
if (SCENARIOS.includes(process.argv[2])) {
  await import(`./${process.argv[2]}.js`);
  process.exit(0);
}
const SECONDS = Number(process.argv[2] ?? 12);
const ROUNDS = 3;
const JSON_HEADERS = { 'content-type': 'application/json' };

// Ferry's ingress threads: the default for this machine unless given; one where the runtime cannot share a port.
const THREADS = reusePortUnavailable() ? 1 : Number(process.argv[3] ?? defaultIngressThreads());
const bare = await startChild('bare-server');
const bareThreads = THREADS > 1 ? await startChild('bare-server', [String(THREADS)]) : null;
const ferry = await startChild('ferry-bench-server', [String(THREADS)]);
const one = binaryRequest(1, true);
const wide = binaryRequest(64, true);
const loads: Record<string, HttpLoad> = {
  bareJson: { url: `${bare.url}/infer`, body: jsonRequest(1), headers: JSON_HEADERS, connections: 64 },
  ferryJson: { url: `${ferry.url}/v2/models/mlp/infer`, body: jsonRequest(1), headers: JSON_HEADERS, connections: 64 },
  bareBinary: { url: `${bare.url}/binary`, body: one.body, headers: binaryHeaders(one.header.length), connections: 64 },
  bareThreadsJson: { url: `${(bareThreads ?? bare).url}/infer`, body: jsonRequest(1), headers: JSON_HEADERS, connections: 64 },
  bareThreadsBinary: { url: `${(bareThreads ?? bare).url}/binary`, body: one.body, headers: binaryHeaders(one.header.length), connections: 64 },
  ferryBinary: { url: `${ferry.url}/v2/models/mlp/infer`, body: one.body, headers: binaryHeaders(one.header.length), connections: 64 },
  wideJson: { url: `${ferry.url}/v2/models/mlp-wide/infer`, body: jsonRequest(64), headers: JSON_HEADERS, connections: 32 },
  wideBinary: { url: `${ferry.url}/v2/models/mlp-wide/infer`, body: wide.body, headers: binaryHeaders(wide.header.length), connections: 32 },
};

const [s0] = await poolStats(ferry);
const threaded = bareThreads ? [loads.bareThreadsJson, loads.bareThreadsBinary] : [];
const [bareJson, ferryJson, bareBinary, ferryBinary, ...bareThreaded] = await alternate(
  [loads.bareJson, loads.ferryJson, loads.bareBinary, loads.ferryBinary, ...threaded],
  SECONDS,
  ROUNDS,
);
const [s1] = await poolStats(ferry);
// Light load: one client, one request at a time; what Ferry adds to bare Fastify's answer.
const [bareLight, ferryLight] = await alternate(
  [{ ...loads.bareBinary, connections: 1 }, { ...loads.ferryBinary, connections: 1 }],
  SECONDS / 2,
  ROUNDS,
);

// Where the CPU goes: both servers at the same fixed rate of binary requests.
const FIXED_RATE = 3000;
async function cpuAtFixedRate(c: Child, load: HttpLoad) {
  const before = threadCpu(c.child.pid!);
  const r = await runLoad(load, SECONDS / 2, FIXED_RATE);
  return cpuPerRequest(c.child.pid!, before, threadCpu(c.child.pid!), r.requests.total);
}
const bareCpu = await cpuAtFixedRate(bare, loads.bareBinary);
const ferryCpu = await cpuAtFixedRate(ferry, loads.ferryBinary);
const [wideJson, wideBinary] = await alternate([loads.wideJson, loads.wideBinary], SECONDS, ROUNDS);

const wsUrl = `${ferry.url.replace('http', 'ws')}/v2/models/mlp-wide/stream`;
const wsJson = await wsLoad(wsUrl, jsonRequest(1), 8, 16, SECONDS / 2);
const wsBinary = await wsLoad(wsUrl, binaryMessage(1), 8, 16, SECONDS / 2);
const wsWide = await wsLoad(wsUrl, binaryMessage(64), 8, 4, SECONDS / 2);
// The same frames to bare Fastify's WebSocket, answered without a model: what receiving them costs here, client included.
const wsWideBare = await wsLoad(`${bare.url.replace('http', 'ws')}/stream`, binaryMessage(64), 8, 4, SECONDS / 2);
await Promise.all([stopChild(bare), stopChild(ferry), ...(bareThreads ? [stopChild(bareThreads)] : [])]);

const limit32 = await computeLimit(modelPath('mlp.onnx'), 2, 32, (SECONDS / 2) * 1000);
const limit64 = await computeLimit(modelPath('mlp.onnx'), 2, 64, (SECONDS / 2) * 1000);

const ratio = (a: number, b: number) => (a / b).toFixed(3);
wrkCleanup();
console.log(`\nFerry bench — MLP 784→512→512→10, ${SECONDS} s per load in ${ROUNDS} alternating rounds, one run; load from ${generator}` +
  (generator === 'wrk' ? '' : ' (install Debian\'s wrk to leave the cores to the servers)'));
const gateways = THREADS > 1 ? `${THREADS} ingress threads (reusePort)` : `one gateway${reusePortUnavailable() ? `: ${reusePortUnavailable()}` : ''}`;
console.log(`\nsingle-row requests, 64 connections; Ferry with ${gateways}`);
console.log(line('bare Fastify, 1 thread, JSON body', bareJson));
if (bareThreads) console.log(line(`bare Fastify, ${THREADS} reusePort threads, JSON`, bareThreaded[0]));
console.log(line('Ferry /v2/models/mlp/infer, JSON', ferryJson));
console.log(line('bare Fastify, 1 thread, binary body', bareBinary));
if (bareThreads) console.log(line(`bare Fastify, ${THREADS} reusePort threads, binary`, bareThreaded[1]));
console.log(line('Ferry /v2/models/mlp/infer, binary tensors', ferryBinary));
console.log(`  Ferry JSON / bare Fastify 1-thread JSON:      ${ratio(ferryJson.rps, bareJson.rps)}   (target >= 1.2)`);
console.log(`  Ferry binary / bare Fastify 1-thread binary:  ${ratio(ferryBinary.rps, bareBinary.rps)}   (target >= 0.8)`);
if (bareThreads) {
  console.log(`  Ferry JSON / bare Fastify ${THREADS}-thread JSON:      ${ratio(ferryJson.rps, bareThreaded[0].rps)}`);
  console.log(`  Ferry binary / bare Fastify ${THREADS}-thread binary:  ${ratio(ferryBinary.rps, bareThreaded[1].rps)}`);
}
console.log('\nlight load: one client, one binary single-row request at a time');
console.log(line('bare Fastify, 1 thread', bareLight));
console.log(line('Ferry', ferryLight));
// One request at a time: the mean latency is 1 / rate, finer than autocannon's whole-ms percentiles.
console.log(`  latency Ferry adds (mean, 1/rate):     ${(1000 / ferryLight.rps - 1000 / bareLight.rps).toFixed(3)} ms   (target <= 0.3)`);
if (generator === 'wrk') console.log(`  latency Ferry adds (p50):              ${(ferryLight.p50 - bareLight.p50).toFixed(3)} ms`);
console.log(`  Ferry binary / Ferry JSON:             ${ratio(ferryBinary.rps, ferryJson.rps)}`);
console.log(`  average batch (mlp, 1 replica):        ${averageBatch(s0, s1).toFixed(1)} rows`);
console.log(`  CPU per binary request at ${FIXED_RATE} req/s:  bare Fastify ${bareCpu.main.toFixed(0)} µs event loop + ${bareCpu.others.toFixed(0)} µs other threads;` +
  ` Ferry ${ferryCpu.main.toFixed(0)} µs event loop + ${ferryCpu.others.toFixed(0)} µs other threads (replica, GC)`);
console.log('\n64-row requests, 32 connections, mlp-wide (2 replicas, maxBatchSize 128)');
console.log(line('Ferry, JSON', wideJson, 64));
console.log(line('Ferry, binary tensors', wideBinary, 64));
console.log('\nWebSocket, 8 sockets, mlp-wide');
console.log(`${'JSON messages, 1 row, 16 in flight per socket'.padEnd(50)} ${wsJson.mps.toFixed(0).padStart(7)} msg/s${wsJson.errors ? ` (${wsJson.errors} errors)` : ''}`);
console.log(`${'binary frames, 1 row, 16 in flight per socket'.padEnd(50)} ${wsBinary.mps.toFixed(0).padStart(7)} msg/s${wsBinary.errors ? ` (${wsBinary.errors} errors)` : ''}`);
console.log(`${'binary frames, 64 rows, 4 in flight per socket'.padEnd(50)} ${(wsWide.mps * 64).toFixed(0).padStart(7)} rows/s${wsWide.errors ? ` (${wsWide.errors} errors)` : ''}`);
console.log(`${'the same frames to bare Fastify (no model)'.padEnd(50)} ${(wsWideBare.mps * 64).toFixed(0).padStart(7)} rows/s`);
console.log('\ncompute limit: raw onnxruntime, 2 worker threads, no HTTP');
console.log(`${'batch 32'.padEnd(50)} ${limit32.toFixed(0).padStart(7)} rows/s`);
console.log(`${'batch 64'.padEnd(50)} ${limit64.toFixed(0).padStart(7)} rows/s`);
console.log(`  64-row binary requests / compute limit:   ${ratio(wideBinary.rps * 64, limit64)}   (target >= 0.6)`);
console.log(`  64-row binary WS frames / compute limit:  ${ratio(wsWide.mps * 64, limit64)}   (target >= 0.6)`);
console.log(`  bare WS frames, no model / compute limit: ${ratio(wsWideBare.mps * 64, limit64)}`);
console.log(`  64-row JSON requests / compute limit:     ${ratio(wideJson.rps * 64, limit64)}`);
