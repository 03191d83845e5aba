/*
 * `npm run bench`: in one run, on this machine, measures
 *   1. bare Fastify parsing the 784-float JSON body and replying (the HTTP limit),
 *   2. Ferry's POST /v2/models/mlp/infer with the same body,
 *   3. raw onnxruntime rows/s, 2 worker threads at batch 32 (the compute limit),
 * and prints req/s, p50/p99, Ferry / bare Fastify, and Ferry's average batch.
 * Ratios are the figures to compare: absolute numbers depend on the machine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { modelPath } from '../models/index.js';
import type { PoolStats } from '../replicas/index.js';
import { computeLimit } from './compute-limit.js';

const CONNECTIONS = 64;
const DURATION_S = Number(process.argv[2] ?? 15);
const ROUNDS = 3;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

const body = JSON.stringify({
  inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: Array.from({ length: 784 }, (_, i) => Math.abs(Math.sin(i))) }],
});

function startChild(script: string): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(here(script + ext), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, url: (m as { url: string }).url }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

async function load(url: string, seconds: number): Promise<Result> {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
}

/** One target's figures over every round: requests/s over the summed time, median p50/p99. */
interface Figures {
  rps: number;
  p50: number;
  p99: number;
  failures: number;
}

function summarise(results: Result[]): Figures {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return {
    rps: results.reduce((n, r) => n + r.requests.total, 0) / results.reduce((n, r) => n + r.duration, 0),
    p50: median(results.map((r) => r.latency.p50)),
    p99: median(results.map((r) => r.latency.p99)),
    failures: results.reduce((n, r) => n + r.non2xx + r.errors, 0),
  };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.disconnect();
  });
}

function row(name: string, f: Figures): string {
  const failures = f.failures > 0 ? `   (${f.failures} failed)` : '';
  return `${name.padEnd(38)} ${f.rps.toFixed(0).padStart(8)} req/s   p50 ${String(f.p50).padStart(4)} ms   p99 ${String(f.p99).padStart(4)} ms${failures}`;
}

// Both servers run side by side; rounds alternate between them so that the
// machine's drift (other tenants, thermal) falls on both alike.
const bare = await startChild('bare-server');
const ferry = await startChild('ferry-bench-server');
const bareUrl = `${bare.url}/infer`;
const ferryUrl = `${ferry.url}/v2/models/mlp/infer`;
await load(bareUrl, 2);
await load(ferryUrl, 2);
const before = await poolStats(ferry.child);
const bareRuns: Result[] = [];
const ferryRuns: Result[] = [];
for (let round = 0; round < ROUNDS; round++) {
  bareRuns.push(await load(bareUrl, DURATION_S / ROUNDS));
  ferryRuns.push(await load(ferryUrl, DURATION_S / ROUNDS));
}
const after = await poolStats(ferry.child);
await Promise.all([stop(bare.child), stop(ferry.child)]);
const bareResult = summarise(bareRuns);
const ferryResult = summarise(ferryRuns);

const rowsPerSecond = await computeLimit(modelPath('mlp.onnx'), 2, 32, DURATION_S * 1000);

const sum = (s: PoolStats, k: 'batches' | 'rows') => s.replicas.reduce((n, r) => n + r[k], 0);
const batches = sum(after, 'batches') - sum(before, 'batches');
const rows = sum(after, 'rows') - sum(before, 'rows');

console.log(`\nFerry bench — MLP 784→512→512→10, ${CONNECTIONS} connections, ${DURATION_S} s per target in ${ROUNDS} alternating rounds`);
console.log(row('bare Fastify (HTTP limit)', bareResult));
console.log(row('Ferry /v2/models/mlp/infer', ferryResult));
console.log(`${'raw onnxruntime, 2 threads, batch 32'.padEnd(38)} ${rowsPerSecond.toFixed(0).padStart(8)} rows/s (compute limit)`);
console.log(`Ferry / bare Fastify:                  ${(ferryResult.rps / bareResult.rps).toFixed(3)}`);
console.log(`Ferry average batch size:              ${(rows / Math.max(1, batches)).toFixed(1)} rows (${batches} batches)`);

async function poolStats(child: ChildProcess): Promise<PoolStats> {
  child.send('stats');
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      const msg = m as { stats?: PoolStats[] };
      if (!msg.stats) return;
      child.off('message', on);
      resolve(msg.stats[0]);
    };
    child.on('message', on);
  });
}
