/*
 * `npm run bench -- threads [seconds] [ingressThreads]`: where each request's
 * CPU goes, thread by thread. Bare Fastify and Ferry (with the given ingress
 * threads, default 2) each take single-row JSON, single-row binary and 64-row
 * binary requests at full load; for each, every thread's CPU time (from
 * /proc, Linux only) is divided by the requests answered. Worker threads are
 * Ferry's replicas and ingresses (replicas start first: the lower thread
 * ids); V8Worker threads are V8's garbage-collection and compiler helpers,
 * shared by every isolate.
 */
import { binaryHeaders, binaryRequest, jsonRequest } from './payloads.js';
import { generator, measure, startChild, stopChild, type Child, type HttpLoad } from './bench-kit.js';
import { threadCpuNamed } from './thread-cpu.js';
import { wrkCleanup } from './wrk.js';

const SECONDS = Number(process.argv[3] ?? 6);
const THREADS = Number(process.argv[4] ?? 2);
const JSON_HEADERS = { 'content-type': 'application/json' };
const one = binaryRequest(1, true);
const wide = binaryRequest(64, true);

/** CPU µs per request by thread, for one load against `c`. */
async function breakdown(c: Child, load: HttpLoad): Promise<{ rps: number; threads: [string, number][] }> {
  await measure(load, 1);
  const before = threadCpuNamed(c.child.pid!);
  const r = await measure(load, SECONDS);
  const after = threadCpuNamed(c.child.pid!);
  const byName = new Map<string, number>();
  for (const [tid, t] of after) {
    const used = t.ms - (before.get(tid)?.ms ?? 0);
    if (used <= 0) continue;
    const name = tid === c.child.pid ? 'main thread' : t.name === 'WorkerThread' ? `worker thread ${tid}` : `${t.name} (all)`;
    byName.set(name, (byName.get(name) ?? 0) + used);
  }
  const perRequest = (ms: number) => (ms * 1000) / r.requests;
  return { rps: r.requests / r.seconds, threads: [...byName].map(([n, ms]): [string, number] => [n, perRequest(ms)]).sort((a, b) => b[1] - a[1]) };
}

const cases: [string, (bare: boolean, url: string) => HttpLoad][] = [
  ['single-row JSON', (bare, url) => ({ url: `${url}${bare ? '/infer' : '/v2/models/mlp/infer'}`, body: jsonRequest(1), headers: JSON_HEADERS, connections: 64 })],
  ['single-row binary', (bare, url) => ({ url: `${url}${bare ? '/binary' : '/v2/models/mlp/infer'}`, body: one.body, headers: binaryHeaders(one.header.length), connections: 64 })],
  ['64-row binary', (bare, url) => ({ url: `${url}${bare ? '/binary' : '/v2/models/mlp-wide/infer'}`, body: wide.body, headers: binaryHeaders(wide.header.length), connections: 32 })],
];

console.log(`CPU per request by thread, ${SECONDS} s per load, load from ${generator}; bare Fastify and Ferry with ${THREADS} ingress thread(s)`);
for (const [what, loadFor] of cases) {
  for (const [who, script] of [['bare Fastify', 'bare-server'], ['Ferry', 'ferry-bench-server']] as const) {
    const c = await startChild(script, [String(THREADS)]);
    const { rps, threads } = await breakdown(c, loadFor(who === 'bare Fastify', c.url));
    await stopChild(c);
    const total = threads.reduce((n, [, us]) => n + us, 0);
    console.log(`\n${what}, ${who}: ${rps.toFixed(0)} req/s, ${total.toFixed(1)} µs CPU per request`);
    for (const [name, us] of threads) if (us >= 0.5) console.log(`  ${name.padEnd(26)} ${us.toFixed(1).padStart(7)} µs`);
  }
}
wrkCleanup();
